"""POST /api/v1/reports: once per person and item (409), `other` needs a text (422), and at the
configured threshold the item disappears for the public (404) while its author still sees it."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session

from app.audit import service as audit
from app.core.settings import Settings
from app.main import create_app
from app.proposals.models import Comment, Proposal
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.support import use_session

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def someone(session: Session) -> dict[str, str]:
    return bearer(session, make_user(session))


def problem(response: Response, status: int, kind: str = "about:blank") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    data = response.json()
    assert (data["status"], data["type"]) == (status, kind)
    return data


def send(client: TestClient, headers: dict[str, str], target: Proposal | Comment, reason: str = "spam",
         **fields: Any) -> Response:
    kind = "proposal" if isinstance(target, Proposal) else "comment"
    return client.post("/api/v1/reports", json={"target_type": kind, "target_id": target.id, "reason": reason}
                       | fields, headers=headers)


def test_report_a_proposal(client: TestClient, session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    response = send(client, someone(session), proposal, "offensive")
    assert response.status_code == 201, response.text
    data = response.json()
    assert data == {"id": data["id"], "target_type": "proposal", "target_id": proposal.id, "reason": "offensive"}


def test_once_per_person_and_item(client: TestClient, session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    headers = someone(session)
    assert send(client, headers, proposal).status_code == 201
    data = problem(send(client, headers, proposal, "off_topic"), 409, "/problems/already-reported")
    assert data["detail"] == "Vous avez déjà signalé ce contenu : un modérateur va l’examiner."
    assert send(client, someone(session), proposal).status_code == 201


def test_other_needs_a_text(client: TestClient, session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    headers = someone(session)
    data = problem(send(client, headers, proposal, "other"), 422, "/problems/invalid-report")
    assert data["detail"] == "Précisez la raison du signalement."
    problem(send(client, headers, proposal, "other", text="   "), 422, "/problems/invalid-report")
    assert send(client, headers, proposal, "other", text="Publicité pour un commerce").status_code == 201


@pytest.mark.parametrize(
    "payload",
    [
        {"target_type": "user", "target_id": 1, "reason": "spam"},
        {"target_type": "proposal", "target_id": 0, "reason": "spam"},
        {"target_type": "proposal", "target_id": 1, "reason": "boring"},
        {"target_type": "proposal", "target_id": 1, "reason": "other", "text": "x" * 1001},
        {"target_type": "proposal", "target_id": 1},
        {"target_type": "proposal", "target_id": 1, "reason": "spam", "reporter_id": 2},
    ],
)
def test_invalid_reports_are_422(client: TestClient, session: Session, payload: dict[str, Any]) -> None:
    problem(client.post("/api/v1/reports", json=payload, headers=someone(session)), 422)


def test_visitors_get_401_and_unknown_items_404(client: TestClient, session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    problem(send(client, {}, proposal), 401)
    problem(client.post("/api/v1/reports", json={"target_type": "proposal", "target_id": 999999999,
                                                 "reason": "spam"}, headers=someone(session)), 404)
    problem(client.post("/api/v1/reports", json={"target_type": "comment", "target_id": 999999999,
                                                 "reason": "spam"}, headers=someone(session)), 404)


def test_at_the_threshold_a_proposal_is_hidden(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session)
    author_user = make_user(session)
    author = bearer(session, author_user)
    proposal = make_proposal(session, consultation, author_user)
    url = f"/api/v1/proposals/{proposal.id}"
    for _ in range(2):
        assert send(client, someone(session), proposal).status_code == 201
    assert client.get(url).status_code == 200
    assert send(client, someone(session), proposal).status_code == 201  # the third: settings.reports_to_hide
    problem(client.get(url), 404)
    problem(client.get(url, headers=someone(session)), 404)
    shown_to_author = client.get(url, headers=author)
    assert shown_to_author.status_code == 200
    assert shown_to_author.json()["state"] == "hidden"
    listed = client.get(f"/api/v1/consultations/{consultation.id}/proposals").json()
    assert listed["total"] == 0
    (entry,) = audit.entries_for(session, target_type="proposal", target_id=proposal.id)
    assert entry.action == "content.hidden"
    # No one else can report it now; its author can, without error.
    problem(send(client, someone(session), proposal), 404)
    assert send(client, author, proposal).status_code == 201


def test_at_the_threshold_a_comment_is_hidden(client: TestClient, session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    author = someone(session)
    posted = client.post(f"/api/v1/proposals/{proposal.id}/comments", json={"body": "Un avis tranché."},
                         headers=author).json()
    comment = session.get(Comment, posted["id"])
    assert comment is not None
    for _ in range(3):
        assert send(client, someone(session), comment).status_code == 201
    (listed,) = client.get(f"/api/v1/proposals/{proposal.id}/comments").json()
    assert (listed["state"], listed["body_html"], listed["author"]) == ("hidden", None, None)
    assert client.get(f"/api/v1/proposals/{proposal.id}").json()["comments"] == 0
    (entry,) = audit.entries_for(session, target_type="comment", target_id=comment.id)
    assert entry.action == "content.hidden"


def test_the_threshold_is_configurable(settings: Settings, session: Session) -> None:
    app = create_app(settings.model_copy(update={"reports_to_hide": 1}))
    use_session(app, session)
    app.state.clock = lambda: NOW
    try:
        with TestClient(app) as client:
            proposal = make_proposal(session, make_consultation(session), make_user(session))
            assert send(client, someone(session), proposal).status_code == 201
            problem(client.get(f"/api/v1/proposals/{proposal.id}"), 404)
    finally:
        app.state.engine.dispose()


def test_reports_are_rate_limited_per_person(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session)
    headers = someone(session)
    author = make_user(session)
    statuses = [send(client, headers, make_proposal(session, consultation, author), "spam").status_code
                for _ in range(31)]
    assert statuses[:30] == [201] * 30
    assert statuses[30] == 429
