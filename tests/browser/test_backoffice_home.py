"""The back office in a real browser: an admin follows the header's "Gestion" link to the back
office's home, opens the audit log, filters it (a wrong date first), reads an entry's before/after
and finds the CSV export; a resident has no "Gestion" link. Every state passes axe-core."""

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.audit import service as audit
from app.core.clock import utcnow
from app.core.db import make_engine
from tests.browser.checks import check_accessibility
from tests.browser.conftest import Resident
from tests.browser.test_accounts import nav, sign_in, submit

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def make_admin(live_database_url: str, create_resident: Callable[..., Resident]) -> Iterator[Callable[[], Resident]]:
    """An admin who signs in with a password on the live server, with two acts of theirs in the
    log (one with a before and an after, one with a hostile label)."""
    engine = make_engine(live_database_url)

    def make() -> Resident:
        person = create_resident(name="Alix, administratrice")
        with Session(engine) as session:
            user = accounts.find_by_email(session, person.email)
            assert user is not None
            now = utcnow()
            accounts.grant_role(session, user, Role.admin, now=now)
            audit.record(session, actor_id=user.id, actor_label=user.display_name or "", action="consultation.updated",
                         target_type="consultation", target_id=1, now=now - timedelta(minutes=2),
                         before={"title": "Ancien titre", "status": "draft"},
                         after={"title": "Nouveau titre", "status": "draft"})
            audit.record(session, actor_id=user.id, actor_label="=HYPERLINK(\"http://x\")", action="content.hidden",
                         target_type="proposal", target_id=1, now=now - timedelta(minutes=1),
                         before={"state": "published"}, after={"state": "hidden", "reason": "Hors sujet"})
            session.commit()
        return person

    try:
        yield make
    finally:
        engine.dispose()


def test_an_admin_opens_the_back_office_and_the_audit_log(page: Page, make_admin: Callable[[], Resident]) -> None:
    admin = make_admin()
    sign_in(page, admin, next_path="/")
    nav(page).get_by_role("link", name="Gestion").click()
    expect(page).to_have_url(re.compile(r"/gestion$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Gestion")
    expect(page.get_by_text("Administration : toute la plateforme")).to_be_visible()
    cards = page.locator(".cr-card__title a")
    expect(cards).to_have_text(["Consultations", "Modération", "Actions", "Guichet", "Évaluation", "Exports",
                                "Journal des actes"])
    expect(nav(page).get_by_role("link", name="Gestion")).to_have_attribute("aria-current", "page")
    check_accessibility(page)

    page.get_by_role("link", name="Journal des actes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Journal des actes")
    table = page.get_by_role("table", name="Actes, du plus récent au plus ancien")
    expect(table).to_be_visible()
    check_accessibility(page)

    # A wrong date: the page says which field, keeps what was typed, and passes axe.
    page.get_by_label("Auteur de l’acte").fill(admin.name)
    page.get_by_label("Depuis le").fill("2027-03-02")
    page.get_by_label("Jusqu’au").fill("2027-03-01")
    submit(page, page.get_by_role("button", name="Filtrer"))
    expect(page.locator("#error-summary")).to_contain_text("La fin doit venir après le début.")
    expect(page.get_by_label("Auteur de l’acte")).to_have_value(admin.name)
    expect(page.get_by_label("Jusqu’au")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page)

    # Their acts, by their account's name; the before/after of the title change.
    page.get_by_label("Depuis le").fill("")
    page.get_by_label("Jusqu’au").fill("")
    page.get_by_label("Acte", exact=True).fill("consultation")
    submit(page, page.get_by_role("button", name="Filtrer"))
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Consultation modifiée")
    expect(rows.first.locator("del")).to_have_text("avant : Ancien titre")
    expect(rows.first.locator("ins")).to_have_text("après : Nouveau titre")
    expect(rows.first).not_to_contain_text("status")  # unchanged
    export = page.get_by_role("link", name="Télécharger ces actes en CSV")
    expect(export).to_have_attribute("href", re.compile(r"^/gestion/journal\.csv\?actor=.+&action=consultation$"))
    check_accessibility(page)

    with page.expect_download() as download:
        export.click()
    content = download.value.path().read_bytes().decode("utf-8")
    assert content.startswith("id,at,actor_id,actor,action,target_type,target_id,channel,before,after\r\n")
    assert "consultation.updated" in content


def test_a_resident_has_no_back_office(page: Page, create_resident: Callable[..., Resident]) -> None:
    resident = create_resident(name="Camille")
    sign_in(page, resident, next_path="/")
    expect(nav(page).get_by_role("link", name="Mon compte")).to_be_visible()
    expect(nav(page).get_by_role("link", name="Gestion")).to_have_count(0)
    response = page.goto("/gestion")
    assert response is not None
    assert response.status == 403
