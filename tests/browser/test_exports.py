"""An evaluator opens the export pages and downloads the anonymised ballots of a vote as CSV;
both pages pass axe-core and the basics."""

import csv
import io
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.consultations.models import Consultation
from app.core.clock import utcnow
from app.core.db import make_engine
from tests.browser.checks import check_accessibility
from tests.browser.test_accounts import sign_in

pytestmark = pytest.mark.browser


def _grant(database_url: str, email: str, role: Role) -> None:
    engine = make_engine(database_url)
    with Session(engine) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        accounts.grant_role(session, user, role, now=utcnow())
        session.commit()
    engine.dispose()


def _id_of(database_url: str, slug: str) -> int:
    engine = make_engine(database_url)
    with Session(engine) as session:
        found = session.exec(select(Consultation.id).where(Consultation.slug == slug)).one()
    engine.dispose()
    return found or 0


def test_an_evaluator_downloads_the_ballots_as_csv(page: Page, live_database_url: str,
                                                   create_resident: Callable, create_consultation: Callable) -> None:
    consultation = create_consultation(method="support", phase="results",
                                       titles=["Des jardins partagés", "=1+1 une piscine"],
                                       votes=[[0], [0, 1], [1], [0], [0, 1], [1], [0]])
    evaluator = create_resident(name="Eva Luatrice")
    _grant(live_database_url, evaluator.email, Role.evaluator)
    sign_in(page, evaluator)

    page.goto("/gestion/exports")
    expect(page.get_by_role("heading", level=1)).to_have_text("Exports des consultations")
    check_accessibility(page)
    page.locator(f"a[href='/gestion/exports/{_id_of(live_database_url, consultation.slug)}']").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Exporter")
    check_accessibility(page)

    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger les bulletins anonymisés en CSV").click()
    download = info.value
    assert download.suggested_filename.endswith("-bulletins.csv")
    text = download.path().read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 9  # 7 voters, 9 supports
    assert len({row["pseudonyme"] for row in rows}) == 7
    assert "Rémi" not in text
