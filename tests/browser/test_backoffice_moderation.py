"""The moderation queue in a real browser: a moderator of one consultation opens the queue from
the back office's home, hides a reported comment (a missing reason first: the form says so and
keeps its place), finds it among the hidden contents and marked "Masqué" on the proposal page,
approves a proposal awaiting approval, and bars the comment's author for a while; without
JavaScript, two reported proposals are hidden at once with the checkboxes; a supporter takes back
their support from a proposal hidden since (its content not shown). Every state passes axe-core."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.core.clock import utcnow
from app.core.db import make_engine
from app.moderation import service as moderation
from app.moderation.models import ReportReason
from app.proposals import service as proposals
from app.proposals.schemas import CommentDraft
from app.voting import service as supports
from tests.browser.checks import check_accessibility
from tests.browser.conftest import Resident
from tests.browser.test_accounts import nav, sign_in, submit
from tests.factories import make_consultation, make_proposal, make_user

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Scene:
    moderator: Resident
    proposal_id: int  # reported, with a reported comment under it
    other_id: int  # reported too
    comment_id: int
    pending_id: int
    commenter_id: int


@pytest.fixture(scope="session")
def make_scene(live_database_url: str, create_resident: Callable[..., Resident]) -> Iterator[Callable[[], Scene]]:
    """A pre-moderated consultation in its proposals phase, with reported items and a proposal
    awaiting approval, and a moderator of that consultation only (other tests' reports stay out)."""
    engine = make_engine(live_database_url)

    def make() -> Scene:
        person = create_resident(name="Morgane, modératrice")
        now = utcnow()
        with Session(engine) as session:
            consultation = make_consultation(session, phase="proposals", is_premoderated=True, now=now)
            consultation.title = "Jardins partagés du quartier"
            author = make_user(session, name="Yannick Auteur", now=now)
            commenter = make_user(session, name="Léo Commentateur", now=now)
            reported = make_proposal(session, consultation, author, title="Un potager sur la place de la mairie",
                                     now=now - timedelta(hours=3))
            other = make_proposal(session, consultation, author, title="Des bacs à compost dans chaque rue",
                                  now=now - timedelta(hours=3))
            comment = proposals.add_comment(session, accounts.load_principal(session, commenter), reported,
                                            CommentDraft(body="Un commentaire franchement grossier."), now=now)
            pending = make_proposal(session, consultation, author, title="Une grainothèque à la médiathèque",
                                    state="pending", now=now - timedelta(hours=1))
            for target_type, target_id in (("comment", comment.id), ("proposal", reported.id),
                                           ("proposal", other.id)):
                moderation.report(session, accounts.load_principal(session, make_user(session, now=now)),
                                  target_type=target_type, target_id=target_id or 0, reason=ReportReason.offensive,
                                  text="Insultant pour les voisins", now=now - timedelta(minutes=30), threshold=99)
            user = accounts.find_by_email(session, person.email)
            assert user is not None
            accounts.grant_role(session, user, Role.moderator, now=now, consultation_id=consultation.id)
            session.commit()
            return Scene(person, reported.id or 0, other.id or 0, comment.id or 0, pending.id or 0,
                         commenter.id or 0)

    try:
        yield make
    finally:
        engine.dispose()


def test_a_moderator_moderates_a_report(page: Page, make_scene: Callable[[], Scene]) -> None:
    scene = make_scene()
    sign_in(page, scene.moderator, next_path="/gestion")
    page.get_by_role("link", name="Modération").click()
    expect(page).to_have_url(re.compile(r"/gestion/moderation$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Modération")
    expect(page.get_by_role("link", name="Contenus signalés (3)")).to_have_attribute("aria-current", "page")
    item = page.locator(f"#comment-{scene.comment_id}")
    expect(item).to_contain_text("Un commentaire franchement grossier.")
    expect(item).to_contain_text("Léo Commentateur")
    expect(item).to_contain_text("Jardins partagés du quartier")
    expect(item).to_contain_text("« Insultant pour les voisins »")
    check_accessibility(page)

    # Hide the comment: without a reason first.
    item.locator("summary").first.click()
    submit(page, item.get_by_role("button", name=re.compile("^Masquer")))
    item = page.locator(f"#comment-{scene.comment_id}")
    expect(item.get_by_text("Indiquez la raison du masquage")).to_be_visible()
    expect(item.get_by_label("Raison du masquage")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page)
    item.get_by_label("Raison du masquage").fill("Propos grossiers envers un voisin.")
    submit(page, item.get_by_role("button", name=re.compile("^Masquer")))
    expect(page.locator("#flash")).to_contain_text("Le commentaire est masqué.")
    expect(page.locator(f"#comment-{scene.comment_id}")).to_have_count(0)
    check_accessibility(page)

    # It waits among the hidden contents, to restore if need be.
    page.get_by_role("link", name=re.compile("^Contenus masqués")).click()
    hidden_item = page.locator(f"#comment-{scene.comment_id}")
    expect(hidden_item).to_contain_text("Propos grossiers envers un voisin.")
    expect(hidden_item.get_by_role("button", name=re.compile("^Rétablir"))).to_be_visible()
    check_accessibility(page)

    # The moderator still sees it on the proposal page, marked.
    page.goto(f"/propositions/{scene.proposal_id}")
    hidden = page.locator(f"#comment-{scene.comment_id}")
    expect(hidden).to_contain_text("Masqué")
    expect(hidden).to_contain_text("Propos grossiers envers un voisin.")
    check_accessibility(page)

    # Approve the proposal awaiting approval.
    page.goto("/gestion/moderation")
    page.get_by_role("link", name=re.compile("^En attente d’approbation")).click()
    waiting = page.locator(f"#proposal-{scene.pending_id}")
    expect(waiting).to_contain_text("Une grainothèque à la médiathèque")
    check_accessibility(page)
    submit(page, waiting.get_by_role("button", name=re.compile("^Approuver et publier")))
    expect(page.locator("#flash")).to_contain_text("La proposition est publiée")
    expect(page.get_by_text("Aucune proposition n’attend d’approbation.")).to_be_visible()
    check_accessibility(page)

    # Bar the comment's author for a while.
    page.goto(f"/gestion/moderation/personnes/{scene.commenter_id}/blocage")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bloquer la participation de Léo Commentateur")
    check_accessibility(page)
    page.get_by_label("Raison").fill("Propos grossiers répétés.")
    submit(page, page.get_by_role("button", name="Bloquer", exact=True))
    expect(page.locator("#error-summary")).to_contain_text("Indiquez la date de fin du blocage")
    expect(page.get_by_label("Raison")).to_have_value("Propos grossiers répétés.")
    check_accessibility(page)
    until = (utcnow() + timedelta(days=7)).date().isoformat()
    page.get_by_label("Bloquée jusqu’au (inclus)").fill(until)
    submit(page, page.get_by_role("button", name="Bloquer", exact=True))
    expect(page.locator("#flash")).to_contain_text("La participation de cette personne est suspendue")
    expect(page.get_by_text("Participation suspendue")).to_be_visible()
    check_accessibility(page)
    expect(nav(page).get_by_role("link", name="Gestion")).to_have_attribute("aria-current", "page")


def test_bulk_hiding_without_javascript(page_without_js: Page, make_scene: Callable[[], Scene]) -> None:
    page = page_without_js
    scene = make_scene()
    sign_in(page, scene.moderator, next_path="/gestion/moderation")
    for proposal_id in (scene.proposal_id, scene.other_id):
        page.locator(f"#proposal-{proposal_id}").get_by_label(re.compile("^Sélectionner")).check()
    page.get_by_label("Décision").select_option("hide")
    page.get_by_label("Raison du masquage").first.fill("Doublons publicitaires.")
    submit(page, page.get_by_role("button", name="Appliquer aux contenus cochés"))
    expect(page.locator("#flash")).to_contain_text("2 contenus traités.")
    for proposal_id in (scene.proposal_id, scene.other_id):  # decided: out of the queue
        expect(page.locator(f"#proposal-{proposal_id}")).to_have_count(0)
    check_accessibility(page)
    page.goto(f"/propositions/{scene.other_id}")  # the moderator still sees it, marked
    expect(page.get_by_text("Proposition masquée")).to_be_visible()
    expect(page.get_by_text("Doublons publicitaires.")).to_be_visible()
    check_accessibility(page)


def test_a_supporter_takes_back_a_support_from_a_proposal_hidden_since(
        page: Page, live_database_url: str, create_resident: Callable[..., Resident]) -> None:
    supporter = create_resident(name="Sam, soutien")
    engine = make_engine(live_database_url)
    try:
        with Session(engine) as session:
            now = utcnow()
            consultation = make_consultation(session, phase="voting", max_supports=3, now=now)
            proposal = make_proposal(session, consultation, make_user(session, now=now),
                                     title="Une proposition bientôt masquée", now=now - timedelta(days=9))
            user = accounts.find_by_email(session, supporter.email)
            assert user is not None
            supports.add_support(session, accounts.load_principal(session, user), proposal, now=now)
            admin = make_user(session, now=now)
            accounts.grant_role(session, admin, Role.admin, now=now)
            moderation.hide(session, accounts.load_principal(session, admin), "proposal", proposal.id or 0,
                            reason="Publicité.", now=now)
            session.commit()
            proposal_id, slug = proposal.id, consultation.slug
    finally:
        engine.dispose()
    sign_in(page, supporter, next_path=f"/propositions/{proposal_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Proposition masquée par la modération")
    expect(page.get_by_text("Une proposition bientôt masquée")).to_have_count(0)
    check_accessibility(page)
    submit(page, page.get_by_role("button", name="Reprendre mon soutien"))
    expect(page).to_have_url(re.compile(rf"/consultations/{slug}$"))
    expect(page.locator("#flash")).to_contain_text("Votre soutien à la proposition masquée par la modération")
