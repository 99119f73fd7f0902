"""The counter's API: the same rules as the pages (mediators only, for residents of their
communes), each act audited with the channel `assisted`, errors as problem documents."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.audit.models import AuditEntry
from app.proposals.models import Proposal
from app.voting.models import SupportVote
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.support import problem

LIEVIN = "62510"
HENIN_BEAUMONT = "62427"
RESIDENT = {"display_name": "Jeanne D.", "given_name": "Jeanne", "family_name": "Dumont", "commune": LIEVIN,
            "birth_year": 1950, "terms_accepted": True}


@pytest.fixture(autouse=True)
def _frozen_clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture
def mediator(session: Session) -> tuple[User, dict[str, str]]:
    user = make_user(session, name="Malik S., médiateur")
    accounts.grant_role(session, user, Role.mediator, now=NOW, commune_insee=LIEVIN)
    headers = bearer(session, user)
    session.commit()
    return user, headers


def actions_of(session: Session, actor: User) -> list[tuple[str, str]]:
    rows = session.exec(select(AuditEntry).where(AuditEntry.actor_id == actor.id, AuditEntry.action != "role.granted"))
    return [(entry.action, entry.channel) for entry in rows]


def test_the_counter_api_is_for_mediators(client: TestClient, session: Session) -> None:
    evaluator = make_user(session)
    accounts.grant_role(session, evaluator, Role.evaluator, now=NOW)
    for headers in (bearer(session, make_user(session)), bearer(session, evaluator)):
        session.commit()
        problem(client.get("/api/v1/assisted/residents", params={"name": "Jeanne"}, headers=headers), 403,
                "/problems/not-a-mediator")
        problem(client.post("/api/v1/assisted/residents", json=RESIDENT, headers=headers), 403,
                "/problems/not-a-mediator")
    assert client.get("/api/v1/assisted/residents", params={"name": "Jeanne"}).status_code == 401


def test_a_mediator_cannot_act_for_another_commune(client: TestClient, session: Session,
                                                   mediator: tuple[User, dict[str, str]]) -> None:
    _user, headers = mediator
    elsewhere = make_user(session, name="Paul Martin", commune=HENIN_BEAUMONT)
    proposal = make_proposal(session, make_consultation(session, phase="voting"), make_user(session))
    session.commit()
    problem(client.post("/api/v1/assisted/residents", json={**RESIDENT, "commune": HENIN_BEAUMONT}, headers=headers),
            403, "/problems/outside-communes")
    problem(client.get("/api/v1/assisted/residents", params={"name": "Paul", "commune": HENIN_BEAUMONT},
                       headers=headers), 403, "/problems/outside-communes")
    assert client.get("/api/v1/assisted/residents", params={"name": "Paul Martin"}, headers=headers).json() == []
    base = f"/api/v1/assisted/residents/{elsewhere.id}"
    problem(client.get(base, headers=headers), 403, "/problems/outside-communes")
    problem(client.post(f"{base}/verify", headers=headers), 403, "/problems/outside-communes")
    problem(client.put(f"{base}/supports/{proposal.id}", headers=headers), 403, "/problems/outside-communes")
    problem(client.post(f"{base}/claim-code", headers=headers), 403, "/problems/outside-communes")
    assert session.exec(select(SupportVote)).all() == []


def test_a_mediator_at_work(client: TestClient, session: Session, mediator: tuple[User, dict[str, str]]) -> None:
    user, headers = mediator
    proposing = make_consultation(session, phase="proposals")
    voting = make_consultation(session, phase="voting", max_supports=3)
    judging = make_consultation(session, phase="voting", voting_method="majority_judgment")
    author = make_user(session)
    supported = make_proposal(session, voting, author)
    graded = make_proposal(session, judging, author)
    online = make_user(session, name="Hélène Lefèvre", commune=LIEVIN, birth_year=1948)
    session.commit()

    problem(client.post("/api/v1/assisted/residents", json={**RESIDENT, "terms_accepted": False}, headers=headers),
            422)
    created = client.post("/api/v1/assisted/residents", json=RESIDENT, headers=headers)
    assert created.status_code == 201, created.text
    twin = client.post("/api/v1/assisted/residents", json=RESIDENT, headers=headers)
    problem(twin, 409, "/problems/possible-duplicate")
    resident = created.json()
    assert resident["verification_level"] == "verified"
    assert resident["registered_at_counter"] is True
    assert resident["has_online_account"] is False
    base = f"/api/v1/assisted/residents/{resident['id']}"

    found = client.get("/api/v1/assisted/residents", params={"name": "helene", "birth_year": 1948}, headers=headers)
    assert [r["id"] for r in found.json()] == [online.id]
    assert found.json()[0]["has_online_account"] is True
    verified = client.post(f"/api/v1/assisted/residents/{online.id}/verify", headers=headers)
    assert verified.json()["verification_level"] == "verified"

    proposal = client.post(f"{base}/proposals", headers=headers, json={
        "consultation_id": proposing.id, "title": "Des bancs sur la place", "body": "Pour que les anciens s’assoient."})
    assert proposal.status_code == 201, proposal.text
    assert proposal.json()["channel"] == "assisted"
    assert session.get(Proposal, proposal.json()["id"]).author_id == resident["id"]  # type: ignore[union-attr]
    problem(client.post(f"{base}/proposals", headers=headers, json={
        "consultation_id": voting.id, "title": "Des bancs sur la place", "body": "Pour que les anciens s’assoient."}),
        409, "/problems/phase-closed")

    support = client.put(f"{base}/supports/{supported.id}", headers=headers)
    assert support.json() == {"supported": True, "supports": 1, "remaining": 2}
    assert client.delete(f"{base}/supports/{supported.id}", headers=headers).json()["supported"] is False
    ballot = client.put(f"{base}/ballots/{judging.id}", headers=headers, json={"grades": {str(graded.id): "bien"}})
    assert ballot.status_code == 200, ballot.text
    assert ballot.json()["channel"] == "assisted"

    code = client.post(f"{base}/claim-code", headers=headers)
    assert code.status_code == 201
    assert code.headers["cache-control"] == "no-store"
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code.json()["code"])
    problem(client.post(f"/api/v1/assisted/residents/{online.id}/claim-code", headers=headers), 409,
            "/problems/has-online-account")

    assert actions_of(session, user) == [
        ("resident.registered", "assisted"), ("residence.verified", "assisted"), ("proposal.submitted", "assisted"),
        ("support.added", "assisted"), ("support.removed", "assisted"), ("ballot.cast", "assisted"),
        ("claim_code.issued", "assisted"),
    ]
