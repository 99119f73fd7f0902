"""Residents' evaluation of an action in Chromium: a resident rates an action of the demonstration's
follow-up consultation with htmx (a refused form first, which keeps the comment) and without
JavaScript (post, redirect, the rating pre-filled); the action page and the evaluators'
satisfaction page pass axe."""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from app import demo
from app.accounts import service as accounts
from app.accounts.models import Role
from app.actions.models import PublicAction
from app.consultations.models import Consultation
from app.core.clock import utcnow
from app.core.db import make_engine
from tests.browser.checks import check_accessibility
from tests.browser.conftest import Resident
from tests.browser.test_accounts import flash, sign_in, submit
from tests.browser.test_participation import assert_same_document, expected_refusal, htmx_exchange, mark_document

pytestmark = pytest.mark.browser


@pytest.fixture
def action_path(live_database_url: str) -> str:
    """The page of an action of the demonstration's consultation in its follow-up phase."""
    engine = make_engine(live_database_url)
    try:
        with Session(engine) as session:
            consultation = session.exec(select(Consultation).where(Consultation.slug == demo.NATURE.slug)).one()
            action = session.exec(select(PublicAction).where(PublicAction.consultation_id == consultation.id)
                                  .order_by(col(PublicAction.ratings_count).desc())).first()
            assert action is not None
            return f"/actions/{action.id}"
    finally:
        engine.dispose()


@pytest.fixture
def evaluator(create_resident, live_database_url: str) -> Resident:
    resident = create_resident(name="Évaluateur")
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


def evaluation(page: Page):
    return page.locator("#evaluation")


def test_a_resident_rates_an_action_with_htmx(request: pytest.FixtureRequest, page: Page, create_resident,
                                              action_path: str) -> None:
    page.goto(action_path)
    expect(evaluation(page).get_by_role("heading", name="L’avis des habitants")).to_be_visible()
    expect(evaluation(page)).to_contain_text("sur 5")
    expect(evaluation(page).get_by_role("link", name="Connectez-vous pour évaluer cette action")).to_be_visible()
    check_accessibility(page)

    sign_in(page, create_resident(name="Noémie"), next_path=action_path)
    expect(page).to_have_url(re.compile(re.escape(action_path)))
    form = evaluation(page).locator("form.cr-evaluation-form")
    group = form.get_by_role("group", name="Êtes-vous satisfait de cette action ?")
    expect(group.get_by_role("radio")).to_have_count(5)
    check_accessibility(page)
    mark_document(page)

    # Refused: no rating chosen; the comment stays as typed.
    form.get_by_label("Votre commentaire (facultatif)").fill("Les arbres ont bien pris.")
    with htmx_exchange(page, action_path + "/evaluation", "POST") as exchange:
        form.get_by_role("button", name="Envoyer mon évaluation").click()
    assert exchange.response.status == 422
    expected_refusal(request, exchange.response)
    expect(evaluation(page)).to_contain_text("Choisissez une note de 1 à 5.")
    expect(evaluation(page).get_by_label("Votre commentaire (facultatif)")).to_have_value("Les arbres ont bien pris.")

    evaluation(page).get_by_label("4 – satisfait").check()
    with htmx_exchange(page, action_path + "/evaluation", "POST") as exchange:
        evaluation(page).get_by_role("button", name="Envoyer mon évaluation").click()
    assert exchange.response.status == 200
    assert_same_document(page)
    expect(evaluation(page).get_by_role("status")).to_contain_text("votre évaluation est enregistrée")
    expect(evaluation(page).get_by_label("4 – satisfait")).to_be_checked()
    expect(evaluation(page)).to_contain_text("Les arbres ont bien pris.")
    expect(evaluation(page).get_by_role("button", name="Modifier mon évaluation")).to_be_visible()
    check_accessibility(page)


def test_a_resident_rates_an_action_without_javascript(page_without_js: Page, create_resident,
                                                       action_path: str) -> None:
    page = page_without_js
    sign_in(page, create_resident(name="Octave"), next_path=action_path)
    evaluation(page).get_by_label("2 – insatisfait").check()
    evaluation(page).get_by_label("Votre commentaire (facultatif)").fill("Trop lent à mon goût.")
    response = submit(page, evaluation(page).get_by_role("button", name="Envoyer mon évaluation"))
    assert response.status == 200
    expect(page).to_have_url(re.compile(re.escape(action_path) + "#evaluation$"))
    expect(flash(page)).to_contain_text("votre évaluation est enregistrée")
    expect(evaluation(page).get_by_label("2 – insatisfait")).to_be_checked()
    expect(evaluation(page).get_by_label("Votre commentaire (facultatif)")).to_have_value("Trop lent à mon goût.")
    check_accessibility(page)


def test_the_satisfaction_page_passes_axe(page: Page, evaluator: Resident) -> None:
    sign_in(page, evaluator, next_path="/evaluation/satisfaction")
    expect(page).to_have_url(re.compile(r"/evaluation/satisfaction$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Satisfaction des habitants")
    expect(page.locator("svg.cr-graph").first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Télécharger ces chiffres")).first).to_be_visible()
    check_accessibility(page)
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Télécharger ces chiffres")).last.click()
    assert download.value.suggested_filename == "satisfaction-par-epci.csv"
