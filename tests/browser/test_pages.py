"""Every public page passes axe-core (WCAG 2.1 A/AA) and the basics, in French and in English."""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.checks import assert_page_basics, check_accessibility

pytestmark = pytest.mark.browser

AXIS_COUNT = 16
PAGES = [
    "/",
    "/territoire",
    "/territoire?q=Lievin",
    "/mentions-legales",
    "/donnees-personnelles",
    "/accessibilite",
]


def axis_links(page: Page) -> list[str]:
    links = page.locator('main a[href^="/axes/"]')
    hrefs = links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    return list(dict.fromkeys(hrefs))


@pytest.mark.parametrize("path", PAGES)
def test_page_is_accessible(page: Page, path: str) -> None:
    response = page.goto(path)
    assert response is not None
    assert response.status == 200, f"{path} answered {response.status}"
    check_accessibility(page)


def test_home_lists_the_sixteen_axes(page: Page) -> None:
    page.goto("/")
    assert len(axis_links(page)) == AXIS_COUNT


def test_axis_page_is_accessible(page: Page) -> None:
    page.goto("/")
    first_axis = page.locator('main a[href^="/axes/"]').first
    href = first_axis.get_attribute("href")
    first_axis.click()
    expect(page).to_have_url(re.compile(re.escape(href or "/axes/") + "$"))
    check_accessibility(page)


def test_not_found_page_is_accessible(page: Page) -> None:
    response = page.goto("/page-qui-n-existe-pas")
    assert response is not None
    assert response.status == 404
    check_accessibility(page)


def test_titles_are_unique(page: Page) -> None:
    page.goto("/")
    axes = axis_links(page)[:2]
    titles: dict[str, str] = {}
    for path in [*(p for p in PAGES if "?" not in p), *axes, "/page-qui-n-existe-pas"]:
        page.goto(path)
        title = assert_page_basics(page, skip_link=False)
        assert title not in titles, f"{path} has the same <title> as {titles[title]}: {title!r}"
        titles[title] = path


def test_language_switch_to_english(page: Page) -> None:
    page.goto("/")
    page.locator('a[hreflang="en"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert urlsplit(page.url).path == "/", f"the switch should come back to the home page, not {page.url}"
    check_accessibility(page, lang="en")
    # The choice is kept: another page is English too, and switching back works.
    page.goto("/territoire")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator('a[hreflang="fr"]').click()
    expect(page).to_have_url(re.compile(r"/territoire$"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")


def test_pages_reflow_at_320_css_pixels(page: Page) -> None:
    """WCAG 1.4.10: at 320 px wide (400 % zoom) nothing needs horizontal scrolling but data tables."""
    page.set_viewport_size({"width": 320, "height": 640})
    too_wide = {}
    for path in [*PAGES, "/page-qui-n-existe-pas"]:
        page.goto(path)
        width = page.evaluate("() => document.scrollingElement.scrollWidth")
        if width > 320:
            too_wide[path] = width
    assert not too_wide, f"pages wider than 320 px (scrollWidth): {too_wide}"
