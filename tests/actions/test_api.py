"""/api/v1: POST /proposals/{id}/answer, GET/POST /actions, GET/PATCH /actions/{id},
POST /actions/{id}/updates — scoped to the moderators of the consultation, visible to all once given."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.actions import service
from app.actions.schemas import ActionDraft
from app.audit import service as audit
from app.proposals.models import Proposal
from tests.actions.helpers import staff
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user, moderator, someone
from tests.support import problem

ANSWER = "Retenue : la commune installera des bancs au printemps."


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


@pytest.fixture
def proposal(session: Session) -> Proposal:
    return make_proposal(session, make_consultation(session, axis_number=1), make_user(session), estimated_cost=800)


def test_answer_accept_and_follow_the_action(client: TestClient, session: Session, proposal: Proposal) -> None:
    headers = moderator(session, 1)
    response = client.post(f"/api/v1/proposals/{proposal.id}/answer", headers=headers, json={
        "state": "accepted", "answer": ANSWER + "\n\n- *Avril* : commande", "action": {"owner": "Ville de Lens"}})
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["state"], data["official_answer"], data["answered_at"]) == (
        "accepted", ANSWER + "\n\n- *Avril* : commande", "2027-03-01T12:00:00Z")
    assert "<em>Avril</em>" in data["official_answer_html"]
    action_id = data["action_id"]
    assert action_id

    public = client.get(f"/api/v1/proposals/{proposal.id}").json()
    assert (public["state"], public["official_answer"], public["answered_at"]) == (
        "accepted", ANSWER + "\n\n- *Avril* : commande", "2027-03-01T12:00:00Z")

    action = client.get(f"/api/v1/actions/{action_id}").json()
    assert {k: action[k] for k in ("title", "owner", "budget", "status", "progress", "proposal_ids", "updates")} == {
        "title": proposal.title, "owner": "Ville de Lens", "budget": 800, "status": "planned", "progress": 0,
        "proposal_ids": [proposal.id], "updates": []}

    update = client.post(f"/api/v1/actions/{action_id}/updates", headers=headers, json={
        "occurred_on": "2027-02-27", "body": "Les bancs sont commandés.", "status": "in_progress", "progress": 25})
    assert update.status_code == 201, update.text
    assert update.json()["body_html"] == "<p>Les bancs sont commandés.</p>\n"
    action = client.get(f"/api/v1/actions/{action_id}").json()
    assert (action["status"], action["progress"], len(action["updates"])) == ("in_progress", 25, 1)
    listed = client.get("/api/v1/actions", params={"axis": 1, "status": "in_progress"}).json()
    assert action_id in [item["id"] for item in listed["items"]]
    assert action_id not in [item["id"] for item in client.get("/api/v1/actions", params={"axis": 2}).json()["items"]]


def test_answer_refusals(client: TestClient, session: Session, proposal: Proposal) -> None:
    url = f"/api/v1/proposals/{proposal.id}/answer"
    body = {"state": "rejected", "answer": ANSWER}
    problem(client.post(url, json=body), 401)
    problem(client.post(url, json=body, headers=moderator(session, 2)), 403)
    problem(client.post(url, json=body, headers=someone(session)), 403)
    evaluator = make_user(session)
    accounts.grant_role(session, evaluator, Role.evaluator, now=NOW)
    problem(client.post(url, json=body, headers=bearer(session, evaluator)), 403)
    headers = moderator(session, 1)
    assert client.post(url, json={"state": "merged", "answer": ANSWER}, headers=headers).status_code == 422
    assert client.post(url, json={"state": "rejected", "answer": "Non."}, headers=headers).status_code == 422
    assert audit.entries_for(session, target_type="proposal", target_id=proposal.id) == []
    proposal.state = "hidden"
    session.add(proposal)
    session.flush()
    problem(client.post(url, json=body, headers=headers), 409, "/problems/not-answerable")


def test_actions_create_edit_and_refusals(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, axis_number=3)
    accepted = make_proposal(session, consultation, make_user(session), state="accepted")
    body = {"consultation_id": consultation.id, "title": "Une piste cyclable vers la gare", "owner": "Département",
            "budget": 250000, "planned_start": "2027-05-01", "planned_end": "2028-05-01",
            "proposal_ids": [accepted.id]}
    problem(client.post("/api/v1/actions", json=body, headers=moderator(session, 1)), 403)
    headers = moderator(session, 3)
    bad_dates = client.post("/api/v1/actions", json=body | {"planned_end": "2027-01-01"}, headers=headers)
    assert bad_dates.status_code == 422
    created = client.post("/api/v1/actions", json=body, headers=headers)
    assert created.status_code == 201, created.text
    data = created.json()
    assert (data["axis_number"], data["proposal_ids"], data["planned_end"]) == (3, [accepted.id], "2028-05-01")
    patched = client.patch(f"/api/v1/actions/{data['id']}", json={"owner": "Région"}, headers=headers)
    assert patched.json()["owner"] == "Région"
    problem(client.patch(f"/api/v1/actions/{data['id']}", json={"owner": "Moi"}, headers=someone(session)), 403)
    problem(client.post(f"/api/v1/actions/{data['id']}/updates", headers=moderator(session, 1), json={
        "occurred_on": "2027-02-27", "body": "Une étape franchie.", "status": "done", "progress": 100}), 403)
    assert client.post(f"/api/v1/actions/{data['id']}/updates", headers=headers, json={
        "occurred_on": "2027-02-27", "body": "Une étape franchie.", "status": "done", "progress": 101}
    ).status_code == 422
    assert [e.action for e in audit.entries_for(session, target_type="action", target_id=data["id"])] == [
        "action.created", "action.edited"]


def test_draft_consultations_keep_their_actions_private(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, axis_number=1, status="draft")
    moderator_principal = staff(session, axis=1)
    item = service.create_action(session, moderator_principal, consultation,
                                 ActionDraft(title="Une action en préparation", owner="Ville"), [], now=NOW)
    problem(client.get(f"/api/v1/actions/{item.id}"), 404)
    assert item.id not in [i["id"] for i in client.get("/api/v1/actions", params={"limit": 100}).json()["items"]]
