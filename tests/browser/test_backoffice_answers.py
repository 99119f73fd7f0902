"""Official answers, actions and merging in a real browser: a moderator of one consultation opens a
proposal, gives the official answer "Retenue" (first with a text too short: the form says so and
keeps what was typed), which creates the action; adds a progress update; a visitor then finds the
action in the list and on its page (status, progress bar, the update, the link back to the
proposal), and the answer on the proposal page. Without JavaScript, the moderator merges a
duplicate, whose page then says where it went. Every state passes axe-core."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.core.clock import utcnow
from app.core.db import make_engine
from app.voting import service as voting
from tests.browser.checks import check_accessibility
from tests.browser.conftest import Resident
from tests.browser.test_accounts import assert_error_summary, assert_field_error, flash, sign_in, submit
from tests.factories import make_consultation, make_proposal, make_user

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Scene:
    moderator: Resident
    proposal_id: int
    title: str
    twin_id: int
    twin_title: str
    consultation_id: int


@pytest.fixture(scope="session")
def make_scene(live_database_url: str, create_resident: Callable[..., Resident]) -> Iterator[Callable[[], Scene]]:
    """A consultation in its results phase with a proposal and its duplicate (both supported by one
    resident), and a moderator of that consultation only."""
    engine = make_engine(live_database_url)

    def make() -> Scene:
        person = create_resident(name="Morgane, modératrice")
        now = utcnow()
        with Session(engine) as session:
            consultation = make_consultation(session, phase="results", axis_number=5, now=now)
            consultation.title = "Des bancs dans nos rues"
            author = make_user(session, name="Yannick Auteur", now=now)
            title = f"Des bancs le long de la rue Émile-Zola ({consultation.id})"
            twin_title = f"Installer des bancs rue Zola ({consultation.id})"
            proposal = make_proposal(session, consultation, author, title=title, estimated_cost=6000,
                                     now=consultation.proposals_starts_at + timedelta(hours=1))
            twin = make_proposal(session, consultation, author, title=twin_title,
                                 now=consultation.proposals_starts_at + timedelta(hours=2))
            voter = accounts.load_principal(session, make_user(session, now=now))
            for supported in (proposal, twin):
                voting.add_support(session, voter, supported, now=consultation.voting_starts_at + timedelta(hours=1))
            user = accounts.find_by_email(session, person.email)
            assert user is not None
            accounts.grant_role(session, user, Role.moderator, now=now, consultation_id=consultation.id)
            session.commit()
            return Scene(person, proposal.id or 0, title, twin.id or 0, twin_title, consultation.id or 0)

    try:
        yield make
    finally:
        engine.dispose()


def test_a_moderator_answers_a_proposal(page: Page, browser: Browser, live_server: str,
                                        make_scene: Callable[[], Scene]) -> None:
    scene = make_scene()
    sign_in(page, scene.moderator, next_path=f"/propositions/{scene.proposal_id}")
    expect(page).to_have_url(re.compile(rf"/propositions/{scene.proposal_id}$"))
    submit(page, page.get_by_role("link", name="Donner la réponse officielle"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Donner la réponse officielle")
    check_accessibility(page)

    # A text too short: the form comes back with the error beside the field and what was typed.
    page.get_by_label("Retenue", exact=True).check()
    page.get_by_label("Le texte de la réponse").fill("Oui.")
    page.get_by_label("Service ou organisme responsable").fill("Ville de Lens, service voirie")
    submit(page, page.get_by_role("button", name="Publier la réponse"))
    assert_error_summary(page, "La réponse doit compter entre 10 et 10 000 caractères.")
    assert_field_error(page.get_by_label("Le texte de la réponse"), "La réponse doit compter entre 10")
    expect(page.get_by_label("Service ou organisme responsable")).to_have_value("Ville de Lens, service voirie")
    expect(page.get_by_label("Retenue", exact=True)).to_be_checked()
    check_accessibility(page)

    page.get_by_label("Le texte de la réponse").fill(
        "Retenue : la ville installera **six bancs** le long de la rue au printemps.")
    page.get_by_label("Budget, en euros (facultatif)").fill("7500")
    page.get_by_label("Début prévu (facultatif)").fill("2027-04-01")
    page.get_by_label("Fin prévue (facultatif)").fill("2027-06-30")
    submit(page, page.get_by_role("button", name="Publier la réponse"))
    expect(page).to_have_url(re.compile(r"/actions/\d+$"))
    action_url = page.url
    expect(flash(page)).to_contain_text("est créée")
    expect(page.get_by_role("heading", level=1)).to_have_text(scene.title)
    expect(page.get_by_role("progressbar", name="Avancement")).to_have_attribute("value", "0")
    expect(page.locator(".cr-details")).to_contain_text("7 500 €")
    check_accessibility(page)

    # A progress update.
    submit(page, page.get_by_role("link", name="Ajouter un point d’étape"))
    check_accessibility(page)
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    page.get_by_label("Date de l’étape").fill(yesterday)
    page.get_by_label("Ce qui a été fait").fill("Les bancs sont commandés auprès du fabricant.")
    page.get_by_label("État de l’action après cette étape").select_option("in_progress")
    page.get_by_label("Avancement après cette étape, en pour cent").fill("40")
    submit(page, page.get_by_role("button", name="Publier le point d’étape"))
    expect(flash(page)).to_contain_text("Le point d’étape est publié")
    expect(page.get_by_role("progressbar", name="Avancement")).to_have_attribute("value", "40")
    check_accessibility(page)

    # Editing the action; then the form for an action of the consultation that comes from no proposal.
    submit(page, page.get_by_role("link", name="Modifier l’action"))
    check_accessibility(page)
    page.get_by_label("Description (facultatif)").fill("Six bancs, dont deux à l’ombre des tilleuls.")
    submit(page, page.get_by_role("button", name="Enregistrer l’action"))
    expect(flash(page)).to_contain_text("L’action est modifiée.")
    expect(page.get_by_text("dont deux à l’ombre des tilleuls")).to_be_visible()
    page.goto(f"/gestion/actions/nouvelle?consultation={scene.consultation_id}")
    expect(page.get_by_label(scene.title)).to_be_visible()  # the accepted proposal, to link it to
    check_accessibility(page)

    # What a visitor sees.
    context = browser.new_context(locale="fr-FR", base_url=live_server)
    visitor = context.new_page()
    try:
        visitor.goto(action_url)
        expect(visitor.get_by_text("Les bancs sont commandés auprès du fabricant.")).to_be_visible()
        expect(visitor.get_by_text("En cours", exact=True).first).to_be_visible()
        expect(visitor.get_by_role("link", name="Ajouter un point d’étape")).to_have_count(0)
        check_accessibility(visitor)
        submit(visitor, visitor.get_by_role("link", name=scene.title))
        answer = visitor.get_by_role("region", name="La réponse officielle")
        expect(answer.locator("strong")).to_have_text("six bancs")
        expect(visitor.get_by_role("link", name=re.compile("Suivre l’action"))).to_have_attribute(
            "href", action_url.removeprefix(live_server))
        check_accessibility(visitor)
        visitor.goto("/actions?axe=5&etat=in_progress")
        expect(visitor.get_by_role("link", name=scene.title)).to_be_visible()
        check_accessibility(visitor)
    finally:
        context.close()


def test_a_moderator_merges_a_duplicate_without_javascript(page_without_js: Page,
                                                           make_scene: Callable[[], Scene]) -> None:
    page = page_without_js
    scene = make_scene()
    sign_in(page, scene.moderator, next_path=f"/propositions/{scene.proposal_id}")
    submit(page, page.get_by_role("link", name="Fusionner des doublons dans cette proposition"))
    check_accessibility(page)
    submit(page, page.get_by_role("button", name="Fusionner"))
    assert_error_summary(page, "Choisissez au moins une proposition à fusionner.")
    check_accessibility(page)
    page.get_by_label(re.compile(re.escape(scene.twin_title))).check()
    submit(page, page.get_by_role("button", name="Fusionner"))
    expect(page).to_have_url(re.compile(rf"/propositions/{scene.proposal_id}$"))
    expect(flash(page)).to_contain_text("1 proposition(s) fusionnée(s)")
    check_accessibility(page)
    page.goto(f"/propositions/{scene.twin_id}")
    expect(page.get_by_text("Proposition fusionnée")).to_be_visible()
    expect(page.get_by_role("link", name=scene.title)).to_have_attribute("href", f"/propositions/{scene.proposal_id}")
    check_accessibility(page)
