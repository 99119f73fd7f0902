"""The moderation pages under /gestion/moderation: the queue's two lists, hiding with a reason (a
refused form comes back with what was typed), restoring, approving, bulk decisions with checkboxes
(plain forms, no JavaScript), and the page that bars a participant for a while."""

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.audit import service as audit
from app.consultations.models import Consultation
from app.moderation import service
from app.moderation.models import ReportReason
from app.proposals import service as proposals
from app.proposals.models import Proposal
from app.proposals.schemas import CommentDraft
from app.territory.models import Axis
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.participation import csrf, post, sign_in
from tests.support import assert_page


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def moderator_of(session: Session, axis_number: int = 1) -> User:
    user = make_user(session, name=f"Modératrice {axis_number}")
    axis = session.exec(select(Axis).where(Axis.number == axis_number)).one()
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis.id)
    return user


def reported(session: Session, proposal: Proposal, text: str = "C’est insultant") -> None:
    service.report(session, accounts.load_principal(session, make_user(session)), target_type="proposal",
                   target_id=proposal.id or 0, reason=ReportReason.offensive, text=text, now=NOW, threshold=99)


@pytest.fixture
def items(session: Session) -> dict[str, Proposal]:
    consultation = make_consultation(session, phase="proposals", is_premoderated=True)
    consultation.title = "Parcs et jardins"
    author = make_user(session, name="Sacha Auteur")
    bad = make_proposal(session, consultation, author, title="Une proposition grossière")
    reported(session, bad)
    pending = make_proposal(session, consultation, make_user(session), state="pending", title="Des bancs au parc")
    elsewhere = make_proposal(session, make_consultation(session, axis_number=2), make_user(session),
                              title="Une proposition d’un autre axe")
    reported(session, elsewhere)
    session.commit()
    return {"bad": bad, "pending": pending, "elsewhere": elsewhere}


def test_the_queue_shows_reported_items_with_their_reports_within_the_scope(
        client: TestClient, app: FastAPI, session: Session, items: dict[str, Proposal]) -> None:
    sign_in(client, app, moderator_of(session))
    page = assert_page(client.get("/gestion/moderation"))
    assert "Une proposition grossière" in page
    assert "Sacha Auteur" in page
    assert "Parcs et jardins" in page
    assert "Propos injurieux, haineux ou choquants" in page
    assert "« C’est insultant »" in page
    assert "Une proposition d’un autre axe" not in page
    assert f'name="items" value="proposal:{items["bad"].id}"' in page
    assert 'aria-current="page">Contenus signalés (1)' in page
    waiting = assert_page(client.get("/gestion/moderation?onglet=attente"))
    assert "Des bancs au parc" in waiting
    assert "Approuver et publier" in waiting
    assert "Une proposition grossière" not in waiting


def test_who_may_open_the_queue(client: TestClient, app: FastAPI, session: Session,
                                items: dict[str, Proposal]) -> None:
    response = client.get("/gestion/moderation", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/connexion")
    evaluator = make_user(session)
    accounts.grant_role(session, evaluator, Role.evaluator, now=NOW)
    session.commit()
    for user in (make_user(session), evaluator):
        session.commit()
        sign_in(client, app, user)
        assert_page(client.get("/gestion/moderation"), 403)
        assert post(client, f"/gestion/moderation/propositions/{items['bad'].id}/masquer",
                    {"reason": "Non."}).status_code == 403
    session.refresh(items["bad"])
    assert items["bad"].state == "published"


def test_hide_with_a_reason_then_restore(client: TestClient, app: FastAPI, session: Session,
                                         items: dict[str, Proposal]) -> None:
    moderator = moderator_of(session)
    session.commit()
    sign_in(client, app, moderator)
    bad = items["bad"]
    refused = post(client, f"/gestion/moderation/propositions/{bad.id}/masquer", {"reason": "  ", "onglet": "signales"})
    page = assert_page(refused, 422)
    assert "Indiquez la raison du masquage" in page
    assert 'aria-invalid="true"' in page
    response = post(client, f"/gestion/moderation/propositions/{bad.id}/masquer",
                    {"reason": "Propos grossiers.", "onglet": "signales"})
    assert response.status_code == 303
    assert response.headers["location"] == "/gestion/moderation?onglet=signales"
    assert "La proposition est masquée." in assert_page(client.get(response.headers["location"]))
    session.refresh(bad)
    assert (bad.state, bad.moderation_reason) == ("hidden", "Propos grossiers.")
    # The moderator still sees it, marked.
    shown = assert_page(client.get(f"/propositions/{bad.id}"))
    assert "Proposition masquée" in shown
    assert "Propos grossiers." in shown
    assert post(client, f"/gestion/moderation/propositions/{bad.id}/retablir", {}).status_code == 303
    session.refresh(bad)
    assert bad.state == "published"
    # Out of scope: refused.
    other = items["elsewhere"]
    assert post(client, f"/gestion/moderation/propositions/{other.id}/masquer", {"reason": "x"}).status_code == 403
    assert post(client, "/gestion/moderation/votes/1/masquer", {"reason": "x"}).status_code == 404


def test_approve_and_bulk_decisions(client: TestClient, app: FastAPI, session: Session,
                                    items: dict[str, Proposal]) -> None:
    moderator = moderator_of(session)
    consultation = session.get(Consultation, items["pending"].consultation_id)
    assert consultation is not None
    more = [make_proposal(session, consultation, make_user(session), state="pending") for _ in range(2)]
    session.commit()
    sign_in(client, app, moderator)
    response = post(client, f"/gestion/moderation/propositions/{items['pending'].id}/approuver", {"onglet": "attente"})
    assert response.status_code == 303
    session.refresh(items["pending"])
    assert items["pending"].state == "published"

    nothing = assert_page(post(client, "/gestion/moderation/lot", {"action": "approve", "onglet": "attente"}), 422)
    assert "Cochez au moins un contenu." in nothing
    no_reason = client.post("/gestion/moderation/lot", data={
        "action": "hide", "reason": "", "onglet": "attente", "items": [f"proposal:{more[0].id}"],
        "csrf_token": _token(client)}, follow_redirects=False)
    page = assert_page(no_reason, 422)
    assert "Indiquez la raison du masquage" in page
    assert f'value="proposal:{more[0].id}" id="proposal-{more[0].id}-select" checked' in page
    done = client.post("/gestion/moderation/lot", data={
        "action": "approve", "onglet": "attente", "items": [f"proposal:{p.id}" for p in more] +
        [f"proposal:{items['elsewhere'].id}"], "csrf_token": _token(client)}, follow_redirects=False)
    assert done.status_code == 303
    flash = assert_page(client.get(done.headers["location"]))
    assert f"2 contenus traités. 1 refusé : proposition n° {items['elsewhere'].id} — Seuls les modérateurs" in flash
    for proposal in more:
        session.refresh(proposal)
        assert proposal.state == "published"
        assert [e.action for e in audit.entries_for(session, target_type="proposal", target_id=proposal.id)] == [
            "content.approved"]


def _token(client: TestClient) -> str:
    return csrf(client)


def test_block_and_unblock_a_participant(client: TestClient, app: FastAPI, session: Session,
                                         items: dict[str, Proposal]) -> None:
    moderator = moderator_of(session)
    stranger = make_user(session, name="Personne d’ailleurs")
    session.commit()
    sign_in(client, app, moderator)
    author_id = items["bad"].author_id
    url = f"/gestion/moderation/personnes/{author_id}/blocage"
    form = assert_page(client.get(url))
    assert "Bloquer la participation de Sacha Auteur" in form
    refused = assert_page(post(client, url, {"until": "demain", "reason": "Insultes répétées."}), 422)
    assert "Indiquez la date de fin du blocage" in refused
    assert "Insultes répétées." in refused  # what was typed comes back
    assert "Un blocage dure au plus 365 jours." in assert_page(
        post(client, url, {"until": (NOW + timedelta(days=400)).date().isoformat(), "reason": "x"}), 422)
    response = post(client, url, {"until": "2027-03-14", "reason": "Insultes répétées."})
    assert response.status_code == 303
    assert "suspendue jusqu’au 14 mars 2027 inclus" in assert_page(client.get(url))
    author = session.get(User, author_id)
    assert author is not None
    session.refresh(author)
    assert author.is_blocked(NOW)
    assert author.participation_block_reason == "Insultes répétées."
    assert post(client, f"/gestion/moderation/personnes/{author_id}/deblocage", {}).status_code == 303
    session.refresh(author)
    assert not author.is_blocked(NOW)
    assert [e.action for e in audit.entries_for(session, target_type="user", target_id=author_id)] == [
        "user.blocked", "user.unblocked"]
    # Someone who never wrote in this moderator's consultations: not theirs to block.
    assert_page(client.get(f"/gestion/moderation/personnes/{stranger.id}/blocage"), 403)
    assert post(client, f"/gestion/moderation/personnes/{stranger.id}/blocage",
                {"until": "2027-03-14", "reason": "x"}).status_code == 403


def test_moderators_hide_and_restore_from_the_proposal_page(client: TestClient, app: FastAPI, session: Session,
                                                            items: dict[str, Proposal]) -> None:
    bad = items["bad"]
    commenter = make_user(session)
    comment = proposals.add_comment(session, accounts.load_principal(session, commenter), bad,
                                    CommentDraft(body="Un commentaire à masquer."), now=NOW)
    moderator = moderator_of(session)
    session.commit()
    sign_in(client, app, make_user(session))
    session.commit()
    assert "Masquer cette proposition" not in assert_page(client.get(f"/propositions/{bad.id}"))
    sign_in(client, app, moderator)
    page = assert_page(client.get(f"/propositions/{bad.id}"))
    assert "Masquer cette proposition" in page
    assert f'action="/gestion/moderation/commentaires/{comment.id}/masquer"' in page

    back = f"/propositions/{bad.id}#comment-{comment.id}"
    response = post(client, f"/gestion/moderation/commentaires/{comment.id}/masquer",
                    {"reason": "Hors sujet.", "retour": back})
    assert (response.status_code, response.headers["location"]) == (303, back)
    page = assert_page(client.get(f"/propositions/{bad.id}"))
    assert "Le commentaire est masqué." in page
    assert f'action="/gestion/moderation/commentaires/{comment.id}/retablir"' in page
    refused = post(client, f"/gestion/moderation/propositions/{bad.id}/masquer",
                   {"reason": "", "retour": f"/propositions/{bad.id}"})
    assert refused.headers["location"] == f"/propositions/{bad.id}"
    assert "Indiquez la raison du masquage" in assert_page(client.get(refused.headers["location"]))
    elsewhere = post(client, f"/gestion/moderation/propositions/{bad.id}/masquer",
                     {"reason": "Injurieux.", "retour": "https://ailleurs.example/propositions/1"})
    assert elsewhere.headers["location"] == "/gestion/moderation?onglet=signales"  # only our own pages
    session.refresh(bad)
    assert bad.state == "hidden"
    response = post(client, f"/gestion/moderation/propositions/{bad.id}/retablir",
                    {"retour": f"/propositions/{bad.id}"})
    assert response.headers["location"] == f"/propositions/{bad.id}"
    session.refresh(bad)
    assert bad.state == "published"


def test_the_hidden_tab_lists_what_to_restore(client: TestClient, app: FastAPI, session: Session,
                                              items: dict[str, Proposal]) -> None:
    moderator = moderator_of(session)
    service.hide(session, accounts.load_principal(session, moderator), "proposal", items["bad"].id or 0,
                 reason="Propos grossiers.", now=NOW)
    session.commit()
    sign_in(client, app, moderator)
    page = assert_page(client.get("/gestion/moderation?onglet=masques"))
    assert 'aria-current="page">Contenus masqués (1)' in page
    assert "Une proposition grossière" in page
    assert "Propos grossiers." in page
    assert "Une proposition d’un autre axe" not in page
    response = post(client, f"/gestion/moderation/propositions/{items['bad'].id}/retablir", {"onglet": "masques"})
    assert response.headers["location"] == "/gestion/moderation?onglet=masques"
    assert "Aucun contenu masqué." in assert_page(client.get(response.headers["location"]))
