"""Keyboard use: the skip link comes first and works, and focus is always visible."""

import pytest
from playwright.sync_api import Page

from tests.browser.checks import focus_indicator

pytestmark = pytest.mark.browser

MAX_TAB_STOPS = 80

ACTIVE_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  return {
    tag: el.tagName.toLowerCase(),
    href: el.getAttribute('href'),
    html: el.outerHTML.slice(0, 160),
    inMain: !!el.closest('main, [role="main"]'),
  };
}"""

# Marks the focused element; answers whether it had been focused before (Tab went round).
SEEN_BEFORE_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return true;
  if (el.dataset.tabSeen) return true;
  el.dataset.tabSeen = '1';
  return false;
}"""


def test_skip_link_is_the_first_tab_stop_and_leads_to_main(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    active = page.evaluate(ACTIVE_JS)
    assert active, "the first Tab stop is not on the page"
    assert active["tag"] == "a", f"the first Tab stop is not a skip link: {active}"
    assert (active["href"] or "").startswith("#"), f"the first Tab stop is not a skip link: {active}"
    indicator = focus_indicator(page)
    assert indicator["visible"], f"the skip link has no visible focus indicator: {indicator}"
    assert page.locator(active["href"]).first.evaluate("el => !!el.closest('main, [role=\"main\"]')")

    page.keyboard.press("Enter")
    landed = page.evaluate(ACTIVE_JS)
    assert landed, "activating the skip link left the focus on the body (give the target tabindex=-1)"
    assert landed["inMain"], f"activating the skip link left the focus on {landed}"
    page.keyboard.press("Tab")
    following = page.evaluate(ACTIVE_JS)
    assert following, "the Tab after the skip link left the page"
    assert following["inMain"], f"the Tab after the skip link went to {following}"


@pytest.mark.parametrize("path", ["/", "/territoire"])
def test_focus_is_visible_on_every_tab_stop(page: Page, path: str) -> None:
    page.goto(path)
    invisible = []
    stops = 0
    for _ in range(MAX_TAB_STOPS):
        page.keyboard.press("Tab")
        if page.evaluate(SEEN_BEFORE_JS):
            break
        stops += 1
        indicator = focus_indicator(page)
        if not indicator["visible"]:
            invisible.append(indicator)
    assert stops > 1, f"only {stops} Tab stop(s) on {path}"
    assert not invisible, f"no visible focus indicator on {path} for:\n" + "\n".join(map(str, invisible))
