"""The evaluation dashboards in Chromium: every page passes axe, and the map's communes take the
keyboard focus, visibly, and say their name and figure."""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.core.clock import utcnow
from app.core.db import make_engine
from tests.browser.checks import check_accessibility, focus_indicator
from tests.browser.conftest import Resident
from tests.browser.test_accounts import sign_in

pytestmark = pytest.mark.browser

PAGES = ["/evaluation", "/evaluation/dans-le-temps", "/evaluation/axes", "/evaluation/territoire",
         "/evaluation/publics", "/evaluation/representativite"]


@pytest.fixture
def evaluator(create_resident, live_database_url: str) -> Resident:
    """A resident made evaluator of the whole platform on the live server (one per test: sign-ins
    are limited per account)."""
    resident = create_resident(name="Évaluatrice")
    engine = make_engine(live_database_url)
    try:
        with Session(engine) as session:
            user = accounts.find_by_email(session, resident.email)
            assert user is not None
            accounts.grant_role(session, user, Role.evaluator, now=utcnow())
            session.commit()
    finally:
        engine.dispose()
    return resident


def test_each_dashboard_passes_axe(page: Page, evaluator: Resident) -> None:
    sign_in(page, evaluator, next_path=PAGES[0])  # once: sign-ins are limited per address too
    for path in PAGES:
        page.goto(path)
        expect(page).to_have_url(re.compile(re.escape(path) + r"$"))
        expect(page.locator("h1")).to_have_count(1)
        if path != "/evaluation":
            expect(page.locator("svg.cr-graph, svg.cr-map").first).to_be_visible()
        check_accessibility(page)


def test_filters_work_without_javascript(page_without_js: Page, evaluator: Resident) -> None:
    page = page_without_js
    sign_in(page, evaluator, next_path="/evaluation/axes")
    page.get_by_label("Axe", exact=True).select_option(index=1)
    with page.expect_navigation():
        page.get_by_role("button", name="Filtrer").click()
    expect(page).to_have_url(re.compile(r"/evaluation/axes\?(.*&)?axe=\d+"))
    expect(page.get_by_role("link", name=re.compile("Télécharger ces chiffres")).first).to_have_attribute(
        "href", re.compile(r"axe=\d+"))
    check_accessibility(page)


def test_a_commune_of_the_map_takes_the_keyboard_focus(page: Page, evaluator: Resident) -> None:
    sign_in(page, evaluator, next_path="/evaluation/representativite")
    skip = page.get_by_role("link", name="Passer la carte et aller au tableau par commune")
    skip.focus()
    page.keyboard.press("Shift+Tab")  # back to whatever precedes: then forward twice, onto the map
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_attribute("tabindex", "0")
    expect(focused).to_have_attribute("role", "img")
    label = focused.get_attribute("aria-label") or ""
    assert re.match(r".+ : .+", label), label  # its name and its figure
    assert focused.evaluate("el => el.closest('svg').classList.contains('cr-map')")
    assert focus_indicator(page)["visible"], focus_indicator(page)
    # The next Tab goes to the next commune; the skip link leads past all of them.
    page.keyboard.press("Tab")
    assert (page.locator(":focus").get_attribute("aria-label") or "") != label
    skip.focus()
    skip.press("Enter")
    expect(page).to_have_url(re.compile(r"#table-communes$"))
    check_accessibility(page, skip_link=False)
