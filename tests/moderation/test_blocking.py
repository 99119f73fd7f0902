"""A participant barred for a while: proposals, comments, supports and ballots are refused
everywhere (pages and API) with the end date and the reason, until the block ends; sign-in, the
account page, the data export and erasure still work. Taking back a support on a proposal that
moderation hid after it was given still works (its page stays closed)."""

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.consultations.policy import participation_block
from app.moderation import service
from app.proposals.models import Proposal
from app.territory.models import Axis
from app.voting.models import Participation, SupportVote
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.participation import csrf, post, sign_in
from tests.support import PASSWORD, assert_page, cheap_password_hashing, make_resident, problem

UNTIL = NOW + timedelta(days=13, hours=11)  # 2027-03-14 23:00 UTC: the 15th at midnight, Paris time
MESSAGE = "Votre participation est suspendue par la modération jusqu’au 14 mars 2027 inclus. Raison : Insultes."


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def an_admin(session: Session) -> User:
    admin = make_user(session)
    accounts.grant_role(session, admin, Role.admin, now=NOW)
    return admin


def blocked(session: Session, user: User) -> User:
    service.block(session, accounts.load_principal(session, an_admin(session)), user.id or 0, until=UNTIL,
                  reason="Insultes.", now=NOW)
    return user


def test_a_blocked_person_is_refused_everywhere_through_the_api(session: Session, client: TestClient) -> None:
    user = blocked(session, make_user(session))
    proposing = make_consultation(session, phase="proposals")
    voting = make_consultation(session, phase="voting")
    judging = make_consultation(session, phase="voting", voting_method="majority_judgment")
    proposal = make_proposal(session, voting, make_user(session))
    graded = make_proposal(session, judging, make_user(session))
    headers = bearer(session, user)
    session.commit()

    refused = problem(client.post(f"/api/v1/consultations/{proposing.id}/proposals", headers=headers,
                                  json={"title": "Une proposition bloquée",
                                        "body": "Un texte assez long pour passer."}),
                      403, "/problems/not-eligible")
    assert refused["detail"] == MESSAGE
    assert problem(client.post(f"/api/v1/proposals/{proposal.id}/comments", headers=headers,
                               json={"body": "Un commentaire."}), 409, "/problems/cannot-comment")["detail"] == MESSAGE
    assert problem(client.put(f"/api/v1/proposals/{proposal.id}/support", headers=headers), 403,
                   "/problems/not-eligible")["detail"] == MESSAGE
    assert problem(client.put(f"/api/v1/consultations/{judging.id}/ballot", headers=headers,
                              json={"grades": {str(graded.id): "bien"}}), 403,
                   "/problems/not-eligible")["detail"] == MESSAGE
    assert session.exec(select(Proposal).where(Proposal.author_id == user.id)).all() == []
    assert session.exec(select(SupportVote).where(SupportVote.voter_id == user.id)).all() == []

    # The block ends (at its date, or lifted earlier): everything works again.
    assert participation_block(user, UNTIL - timedelta(seconds=1)).reason == MESSAGE
    assert participation_block(user, UNTIL)
    service.unblock(session, accounts.load_principal(session, an_admin(session)), user.id or 0, now=NOW)
    session.commit()
    assert client.put(f"/api/v1/proposals/{proposal.id}/support", headers=headers).status_code == 200


def test_the_pages_say_why_and_until_when(session: Session, client: TestClient, app: FastAPI) -> None:
    user = blocked(session, make_user(session))
    proposing = make_consultation(session, phase="proposals")
    voting = make_consultation(session, phase="voting")
    proposal = make_proposal(session, voting, make_user(session))
    session.commit()
    sign_in(client, app, user)
    assert MESSAGE in assert_page(client.get(f"/consultations/{proposing.slug}/proposer"), 403)
    page = assert_page(client.get(f"/propositions/{proposal.id}"))
    assert MESSAGE in page  # beside the comment form's place and the support button
    refused = post(client, f"/propositions/{proposal.id}/commentaires", {"body": "Un commentaire."})
    assert MESSAGE in assert_page(refused, 409)
    refused = post(client, f"/propositions/{proposal.id}/soutien", {"action": "add"})
    assert MESSAGE in assert_page(refused, 403)
    own = make_proposal(session, proposing, user, title="Ma proposition d’avant le blocage")
    session.commit()
    assert MESSAGE in assert_page(client.get(f"/propositions/{own.id}/modifier"), 403)
    refused = post(client, f"/propositions/{own.id}/modifier", {"title": "Un nouveau titre bien long",
                                                                 "body": "Un nouveau texte assez long."})
    assert MESSAGE in assert_page(refused, 403)
    session.refresh(own)
    assert own.title == "Ma proposition d’avant le blocage"


def test_sign_in_account_export_and_erasure_still_work(session: Session, client: TestClient, app: FastAPI,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_password_hashing(monkeypatch)
    user = make_resident(session, "bloque@example.fr", "Bloqué Dupont")
    blocked(session, user)
    session.commit()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/connexion").text)
    assert token
    signed_in = client.post("/connexion", data={"email": "bloque@example.fr", "password": PASSWORD,
                                                "csrf_token": token.group(1)}, follow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text[:300]
    account = assert_page(client.get("/compte"))
    assert "suspendu votre participation jusqu’au 14 mars 2027 inclus" in account
    assert "Raison : Insultes." in account
    export = client.get("/compte/donnees.json")
    assert export.status_code == 200
    assert "bloque@example.fr" in export.text
    headers = bearer(session, user)
    session.commit()
    assert client.get("/api/v1/me/export", headers=headers).status_code == 200
    erased = client.post("/compte/supprimer", data={"confirmation": "SUPPRIMER", "csrf_token": csrf(client)},
                         follow_redirects=False)
    assert erased.status_code == 303
    session.refresh(user)
    assert user.is_erased


def test_who_may_block_whom(session: Session) -> None:
    axis_one = session.exec(select(Axis).where(Axis.number == 1)).one()
    moderator = make_user(session)
    accounts.grant_role(session, moderator, Role.moderator, now=NOW, axis_id=axis_one.id)
    principal = accounts.load_principal(session, moderator)
    author_here = make_user(session)
    make_proposal(session, make_consultation(session, axis_number=1), author_here, state="hidden")
    author_there = make_user(session)
    make_proposal(session, make_consultation(session, axis_number=2), author_there)

    service.block(session, principal, author_here.id or 0, until=UNTIL, reason="Insultes.", now=NOW)
    assert author_here.is_blocked(NOW)
    with pytest.raises(service.NotModerator):
        service.block(session, principal, author_there.id or 0, until=UNTIL, reason="Insultes.", now=NOW)
    with pytest.raises(service.InvalidBlock):
        service.block(session, principal, moderator.id or 0, until=UNTIL, reason="x", now=NOW)
    for until, reason in ((NOW - timedelta(days=1), "x"), (NOW + timedelta(days=400), "x"), (UNTIL, "  ")):
        with pytest.raises(service.InvalidBlock):
            service.block(session, principal, author_here.id or 0, until=until, reason=reason, now=NOW)
    service.unblock(session, principal, author_here.id or 0, now=NOW)
    assert not author_here.is_blocked(NOW)
    with pytest.raises(service.CannotModerate):
        service.unblock(session, principal, author_here.id or 0, now=NOW)


def test_block_through_the_api(session: Session, client: TestClient) -> None:
    admin = an_admin(session)
    target = make_user(session)
    headers = bearer(session, admin)
    session.commit()
    url = f"/api/v1/moderation/users/{target.id}"
    response = client.post(f"{url}/block", headers=headers, json={"until": UNTIL.isoformat(), "reason": "Spam."})
    assert response.status_code == 200, response.text
    assert response.json()["reason"] == "Spam."
    problem(client.post(f"{url}/block", headers=headers, json={"until": "2026-01-01T00:00:00+00:00", "reason": "x"}),
            422, "/problems/invalid-block")
    problem(client.post(f"{url}/block", headers=bearer(session, make_user(session)),
                        json={"until": UNTIL.isoformat(), "reason": "x"}), 403, "/problems/not-moderator")
    assert client.post(f"{url}/unblock", headers=headers).json()["blocked_until"] is None
    problem(client.post("/api/v1/moderation/users/999999/block", headers=headers,
                        json={"until": UNTIL.isoformat(), "reason": "x"}), 404)


def test_a_supporter_takes_back_a_support_on_a_proposal_hidden_since(session: Session, client: TestClient,
                                                                     app: FastAPI) -> None:
    consultation = make_consultation(session, phase="voting", max_supports=2)
    proposal = make_proposal(session, consultation, make_user(session))
    supporter = make_user(session)
    headers = bearer(session, supporter)
    session.commit()
    assert client.put(f"/api/v1/proposals/{proposal.id}/support", headers=headers).json()["remaining"] == 1
    admin = an_admin(session)
    service.hide(session, accounts.load_principal(session, admin), "proposal", proposal.id or 0, reason="Spam.",
                 now=NOW)
    session.commit()
    assert client.get(f"/api/v1/proposals/{proposal.id}", headers=headers).status_code == 404
    assert client.put(f"/api/v1/proposals/{proposal.id}/support", headers=headers).status_code == 404
    stranger = bearer(session, make_user(session))
    session.commit()
    assert client.delete(f"/api/v1/proposals/{proposal.id}/support", headers=stranger).status_code == 404
    taken_back = client.delete(f"/api/v1/proposals/{proposal.id}/support", headers=headers)
    assert taken_back.status_code == 200, taken_back.text
    assert taken_back.json() == {"supported": False, "supports": 0, "remaining": 2}
    participation = session.exec(select(Participation).where(Participation.voter_id == supporter.id)).one()
    session.refresh(participation)
    assert participation.supports_used == 0

    # The same through the page's form: back to the consultation, the hidden page stays closed.
    client.put(f"/api/v1/proposals/{proposal.id}/support", headers=headers)  # refused (hidden): nothing to undo
    other = make_proposal(session, consultation, make_user(session))
    session.commit()
    client.put(f"/api/v1/proposals/{other.id}/support", headers=headers)
    service.hide(session, accounts.load_principal(session, admin), "proposal", other.id or 0, reason="Spam.", now=NOW)
    session.commit()
    sign_in(client, app, supporter)
    page = assert_page(client.get(f"/propositions/{other.id}"))
    assert "Reprendre mon soutien" in page
    assert other.title not in page
    response = post(client, f"/propositions/{other.id}/soutien", {"action": "remove"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/consultations/{consultation.slug}"
    assert session.exec(select(SupportVote).where(SupportVote.voter_id == supporter.id)).all() == []
    assert_page(client.get(f"/propositions/{other.id}"), 404)  # nothing of theirs left there
