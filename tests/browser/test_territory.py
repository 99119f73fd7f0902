"""The commune search on /territoire: filtered as you type with htmx, a plain GET form without JavaScript."""

import re

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from tests.browser.checks import assert_skip_link_first, check_accessibility

pytestmark = pytest.mark.browser

SEARCH_LABEL = "Nom ou code postal"


def search_field(page: Page) -> Locator:
    field = page.get_by_label(SEARCH_LABEL)
    expect(field).to_have_attribute("name", "q")
    return field


def results_region(page: Page, field: Locator) -> Locator:
    """The element the search form swaps its results into."""
    target = field.locator("xpath=ancestor::form").get_attribute("hx-target")
    assert target, "the search form has no hx-target"
    return page.locator(target)


def test_search_filters_as_you_type(page: Page) -> None:
    page.goto("/territoire")
    field = search_field(page)
    results = results_region(page, field)
    page.evaluate("() => { window.__sameDocument = true; }")  # gone if the page is reloaded
    status = results.get_by_role("status")
    expect(status).to_have_count(1)
    status.evaluate("el => { el.__liveRegionKept = true; }")  # a property: morphing syncs attributes
    count_before = status.inner_text()

    def is_htmx_search(response: Response) -> bool:
        htmx = response.request.headers.get("hx-request") == "true"
        return htmx and "/territoire?" in response.url and "q=Lievin" in response.url

    with page.expect_response(is_htmx_search) as fragment:
        field.press_sequentially("Lievin", delay=20)
    assert fragment.value.status == 200
    assert "<html" not in fragment.value.text().lower(), "htmx received a whole page instead of the fragment"

    expect(results).to_contain_text("Liévin")
    # Screen readers announce a change inside a live region that stays, not a region swapped in anew.
    expect(status).not_to_have_text(count_before)
    assert status.evaluate("el => el.__liveRegionKept === true"), "the role=status region was replaced, not updated"
    expect(page).to_have_url(re.compile(r"/territoire\?(.*&)?q=Lievin"))
    assert page.evaluate("() => window.__sameDocument === true"), "the search reloaded the whole page"
    expect(field).to_be_focused()  # typing goes on where it was
    expect(field).to_have_value("Lievin")
    check_accessibility(page, skip_link=False)  # the focus is in the field now
    assert_skip_link_first(page)


def test_search_history_restores_a_whole_page(page: Page) -> None:
    page.goto("/territoire")
    field = search_field(page)
    results = results_region(page, field)
    field.press_sequentially("62800", delay=20)
    expect(results).to_contain_text("Liévin")
    expect(page).to_have_url(re.compile(r"q=62800"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/territoire(#communes)?$"))
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("main")).to_have_count(1)


@pytest.mark.parametrize(("query", "submit"), [("Lievin", "Enter"), ("62800", "button")])
def test_search_works_without_javascript(page_without_js: Page, query: str, submit: str) -> None:
    page = page_without_js
    page.goto("/territoire")
    field = search_field(page)
    field.fill(query)
    with page.expect_navigation():
        if submit == "Enter":
            field.press("Enter")
        else:
            field.locator("xpath=ancestor::form").get_by_role("button", name="Rechercher").click()
    expect(page).to_have_url(re.compile(rf"/territoire\?(.*&)?q={query}(&|#|$)"))
    expect(page.locator("main")).to_contain_text("Liévin")
    expect(search_field(page)).to_have_value(query)
