"""The checks themselves: a page with known faults must fail them, so a green run means something."""

import pytest
from playwright.sync_api import Page

from tests.browser.checks import assert_no_axe_violations, assert_page_basics, focus_indicator

pytestmark = pytest.mark.browser

FAULTY_PAGE = """<!doctype html>
<html><head><title>Faulty</title></head>
<body>
  <a href="/elsewhere" style="outline: none">First link, no skip link before it</a>
  <main id="content"><h1>One</h1><h1>Two</h1>
    <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
    <button></button>
  </main>
</body></html>"""


def test_axe_reports_serious_violations_with_their_selectors(page: Page) -> None:
    page.set_content(FAULTY_PAGE)
    with pytest.raises(AssertionError) as failure:
        assert_no_axe_violations(page)
    message = str(failure.value)
    for rule in ("image-alt", "button-name", "html-has-lang"):
        assert rule in message
    assert "img" in message  # the target selector is listed


def test_basics_report_a_missing_lang_two_h1_and_no_skip_link(page: Page) -> None:
    page.set_content(FAULTY_PAGE)
    with pytest.raises(AssertionError, match="no lang attribute"):
        assert_page_basics(page)
    page.evaluate("() => document.documentElement.setAttribute('lang', 'fr')")
    with pytest.raises(AssertionError, match="2 <h1> elements"):
        assert_page_basics(page)
    page.evaluate("() => document.querySelectorAll('h1')[1].remove()")
    with pytest.raises(AssertionError, match="not lead to the main content"):
        assert_page_basics(page)


def test_focus_indicator_sees_a_removed_outline(page: Page) -> None:
    page.set_content(FAULTY_PAGE)
    page.keyboard.press("Tab")
    assert not focus_indicator(page)["visible"]
