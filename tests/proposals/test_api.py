"""/api/v1: proposals of a consultation (submit, read, edit, withdraw, list) and their comments;
refusals as problem+json; the list costs a bounded number of SQL statements."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine
from sqlmodel import Session

from app.consultations.models import Consultation
from app.proposals.models import Comment, Proposal
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user, moderator, phase_dates, someone
from tests.support import problem, statements

DAY = timedelta(days=1)
LENS_LIEVIN = "246200364"
TITLE = "Des jardins partagés dans la cité"
BODY = "Transformer les friches de la cité en **jardins partagés**."


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def post_proposal(client: TestClient, consultation: Consultation, headers: dict[str, str],
                  **fields: Any) -> Response:
    return client.post(f"/api/v1/consultations/{consultation.id}/proposals",
                       json={"title": TITLE, "body": BODY} | fields, headers=headers)


def move_to(session: Session, consultation: Consultation, phase: str) -> None:
    for name, value in phase_dates(phase).items():
        setattr(consultation, name, value)
    session.flush()


# --- submit and read


def test_submit_then_read(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = make_user(session, name="Angela Dubois")
    response = post_proposal(client, consultation, bearer(session, author), commune="62510", estimated_cost=1500)
    assert response.status_code == 201, response.text
    data = response.json()
    assert {"id", "title", "author", "commune_insee", "state", "supports", "comments", "created_at"} <= set(data)
    assert data["title"] == TITLE
    assert data["author"] == "Angela Dubois"
    assert (data["commune_insee"], data["estimated_cost"]) == ("62510", 1500)
    assert (data["state"], data["supports"], data["comments"]) == ("published", 0, 0)
    assert data["consultation_id"] == consultation.id
    assert data["body"] == BODY
    assert data["body_html"] == "<p>Transformer les friches de la cité en <strong>jardins partagés</strong>.</p>\n"
    assert datetime.fromisoformat(data["created_at"]) == NOW
    assert client.get(f"/api/v1/proposals/{data['id']}").json() == data


def test_submitting_needs_an_account(client: TestClient, session: Session) -> None:
    problem(post_proposal(client, make_consultation(session, phase="proposals"), {}), 401)


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"title": "x" * 9}, "title"),
        ({"title": "x" * 151}, "title"),
        ({"body": "b" * 14}, "body"),
        ({"body": "b" * 5001}, "body"),
        ({"title": None}, "title"),
        ({"commune": "Liévin"}, "commune"),
        ({"estimated_cost": -5}, "estimated_cost"),
        ({"author_id": 1}, "author_id"),
        ({"state": "accepted"}, "state"),
    ],
)
def test_invalid_proposals_are_422_problems(client: TestClient, session: Session, fields: dict[str, Any],
                                            location: str) -> None:
    consultation = make_consultation(session, phase="proposals")
    data = problem(post_proposal(client, consultation, someone(session), **fields), 422)
    assert any(error["location"][-1] == location for error in data["errors"]), data["errors"]
    assert client.get(f"/api/v1/consultations/{consultation.id}/proposals").json()["total"] == 0


def test_the_limits_themselves_are_accepted(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    assert post_proposal(client, consultation, someone(session), title="x" * 10, body="b" * 15).status_code == 201
    assert post_proposal(client, consultation, someone(session), title="x" * 150,
                         body="b" * 5000).status_code == 201


@pytest.mark.parametrize("phase", ["information", "voting", "results", "follow_up"])
def test_submitting_outside_the_proposals_phase_is_409(client: TestClient, session: Session, phase: str) -> None:
    consultation = make_consultation(session, phase=phase)
    data = problem(post_proposal(client, consultation, someone(session)), 409, "/problems/phase-closed")
    assert data["detail"] == ("Les propositions ne sont pas ouvertes en ce moment : cette consultation n’est pas "
                              "en phase de propositions.")


def test_submitting_from_outside_the_scope_is_403(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", scope_kind="epci", scope_code=LENS_LIEVIN)
    data = problem(post_proposal(client, consultation, someone(session, commune="59002")), 403,
                   "/problems/not-eligible")
    assert data["detail"] == (
        "Cette consultation est réservée aux habitants de la Communauté d’agglomération de Lens - Liévin."
    )
    assert post_proposal(client, consultation, someone(session, commune="62498")).status_code == 201


@pytest.mark.parametrize(
    ("user", "rules"),
    [
        ({"commune": None}, {}),
        ({"verification": "declared"}, {"required_verification": "verified"}),
        ({"birth_year": NOW.year - 10}, {"min_age": 16}),
    ],
)
def test_ineligible_residents_get_403(client: TestClient, session: Session, user: dict[str, Any],
                                      rules: dict[str, Any]) -> None:
    consultation = make_consultation(session, phase="proposals", **rules)
    problem(post_proposal(client, consultation, someone(session, **user)), 403, "/problems/not-eligible")


def test_a_draft_consultation_is_404_to_residents(client: TestClient, session: Session) -> None:
    problem(post_proposal(client, make_consultation(session, phase="proposals", status="draft"), someone(session)),
            404)


def test_an_unknown_proposal_is_404(client: TestClient) -> None:
    problem(client.get("/api/v1/proposals/999999999"), 404)


def test_a_pending_proposal_is_seen_by_its_author_and_moderators_only(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", is_premoderated=True)
    author = someone(session)
    proposal_id = post_proposal(client, consultation, author).json()["id"]
    problem(client.get(f"/api/v1/proposals/{proposal_id}"), 404)
    problem(client.get(f"/api/v1/proposals/{proposal_id}", headers=someone(session)), 404)
    assert client.get(f"/api/v1/proposals/{proposal_id}", headers=author).json()["state"] == "pending"
    assert client.get(f"/api/v1/proposals/{proposal_id}", headers=moderator(session)).status_code == 200


# --- edit and withdraw


def test_the_author_edits_in_the_proposals_phase(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = someone(session)
    proposal_id = post_proposal(client, consultation, author, commune="62510").json()["id"]
    response = client.patch(f"/api/v1/proposals/{proposal_id}", headers=author,
                            json={"body": "Un texte <script>alert(1)</script> corrigé.", "commune": None})
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["title"], data["commune_insee"]) == (TITLE, None)
    assert "<script" not in data["body_html"]
    assert data["body"] == "Un texte <script>alert(1)</script> corrigé."


def test_only_the_author_edits(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    proposal_id = post_proposal(client, consultation, someone(session)).json()["id"]
    url = f"/api/v1/proposals/{proposal_id}"
    problem(client.patch(url, json={"title": "Un titre de quelqu’un d’autre"}), 401)
    problem(client.patch(url, json={"title": "Un titre de quelqu’un d’autre"}, headers=someone(session)), 403,
            "/problems/not-author")
    problem(client.patch(url, json={"title": "Un titre de quelqu’un d’autre"}, headers=moderator(session)), 403,
            "/problems/not-author")
    assert client.get(url).json()["title"] == TITLE


def test_no_edit_after_the_phase_or_after_the_first_vote(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = someone(session)
    proposal_id = post_proposal(client, consultation, author).json()["id"]
    url = f"/api/v1/proposals/{proposal_id}"
    move_to(session, consultation, "voting")
    problem(client.patch(url, json={"title": "Trop tard pour changer"}, headers=author), 409, "/problems/edit-locked")
    assert client.put(f"{url}/support", headers=someone(session)).status_code == 200
    move_to(session, consultation, "proposals")  # the proposals phase extended after a vote
    problem(client.patch(url, json={"title": "Trop tard pour changer"}, headers=author), 409, "/problems/edit-locked")


def test_invalid_edits_are_422(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = someone(session)
    proposal_id = post_proposal(client, consultation, author).json()["id"]
    for change in ({"title": "court"}, {"body": "b" * 5001}, {"state": "accepted"}):
        problem(client.patch(f"/api/v1/proposals/{proposal_id}", json=change, headers=author), 422)
    data = problem(client.patch(f"/api/v1/proposals/{proposal_id}", json={"commune": "75056"}, headers=author), 422,
                   "/problems/invalid")
    assert data["detail"] == "Cette commune ne fait pas partie du territoire."


def test_withdraw_at_any_time_and_stay_visible(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="results")
    author_user = make_user(session)
    author = bearer(session, author_user)
    proposal = make_proposal(session, consultation, author_user)
    url = f"/api/v1/proposals/{proposal.id}"
    problem(client.post(f"{url}/withdraw", headers=someone(session)), 403, "/problems/not-author")
    problem(client.post(f"{url}/withdraw"), 401)
    response = client.post(f"{url}/withdraw", headers=author)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "withdrawn"
    assert client.post(f"{url}/withdraw", headers=author).json()["state"] == "withdrawn"
    assert client.get(url).json()["state"] == "withdrawn"
    listed = client.get(f"/api/v1/consultations/{consultation.id}/proposals", params={"state": "withdrawn"}).json()
    assert [item["id"] for item in listed["items"]] == [proposal.id]


# --- list


def test_list_shape(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session)
    proposal = make_proposal(session, consultation, make_user(session, name="Bruno Martin"), commune_insee="62498",
                             supports_count=4, comments_count=2)
    response = client.get(f"/api/v1/consultations/{consultation.id}/proposals")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"items", "total"}
    assert data["total"] == 1
    (item,) = data["items"]
    assert set(item) == {"id", "title", "author", "commune_insee", "state", "supports", "comments", "created_at"}
    assert item == {"id": proposal.id, "title": proposal.title, "author": "Bruno Martin", "commune_insee": "62498",
                    "state": "published", "supports": 4, "comments": 2, "created_at": item["created_at"]}
    assert datetime.fromisoformat(item["created_at"]) == NOW


def ids(response: Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_sorts_filters_and_pages(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session)
    url = f"/api/v1/consultations/{consultation.id}/proposals"
    a = make_proposal(session, consultation, make_user(session), title="Des bancs sur la place", now=NOW - 2 * DAY,
                      supports_count=1, comments_count=5, commune_insee="62510")
    b = make_proposal(session, consultation, make_user(session), title="Une fête des voisins", now=NOW - DAY,
                      supports_count=9, comments_count=0, commune_insee="62498")
    c = make_proposal(session, consultation, make_user(session), title="Énergie solaire sur l’école",
                      supports_count=3, comments_count=1, commune_insee="62510")
    assert ids(client.get(url, params={"sort": "supports"})) == [b.id, c.id, a.id]
    assert ids(client.get(url, params={"sort": "recent"})) == [c.id, b.id, a.id]
    assert ids(client.get(url, params={"sort": "comments"})) == [a.id, c.id, b.id]
    assert ids(client.get(url, params={"commune": "62510", "sort": "recent"})) == [c.id, a.id]
    assert ids(client.get(url, params={"q": "ENERGIE"})) == [c.id]
    assert ids(client.get(url, params={"q": "fete voisins", "commune": "62498"})) == [b.id]
    assert ids(client.get(url, params={"q": "fete voisins", "commune": "62510"})) == []
    page = client.get(url, params={"sort": "recent", "limit": 2, "offset": 1}).json()
    assert (page["total"], [item["id"] for item in page["items"]]) == (3, [b.id, a.id])
    random_order = ids(client.get(url, params={"sort": "random", "seed": 42}))
    assert sorted(random_order) == sorted([a.id, b.id, c.id])
    assert ids(client.get(url, params={"seed": 42})) == random_order  # random is the default


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "author_email"},
        {"sort": "supports; DROP TABLE proposal"},
        {"seed": -1},
        {"seed": 2**31 + 1},
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"commune": "62510' OR '1'='1"},
        {"state": "published' --"},
        {"q": "x" * 201},
    ],
)
def test_list_parameters_are_allow_listed(client: TestClient, session: Session, params: dict[str, Any]) -> None:
    consultation = make_consultation(session)
    problem(client.get(f"/api/v1/consultations/{consultation.id}/proposals", params=params), 422)


@pytest.mark.parametrize(
    ("q", "total"),
    [
        ("' OR 1=1 --", 0),
        ("\") OR (\"", 0),
        ("énergie* NEAR(a b)", 0),
        ("a AND OR NOT", 0),
        ("proposition' ORDER BY pg_sleep(5) --", 0),
        ("proposition*", 1),  # the word, not FTS syntax
        ("\"", 1),  # no word at all: no filter
        ("%_", 1),
        ("{}", 1),
    ],
)
def test_search_metacharacters_are_plain_text(client: TestClient, session: Session, q: str, total: int) -> None:
    consultation = make_consultation(session)
    make_proposal(session, consultation, make_user(session))
    response = client.get(f"/api/v1/consultations/{consultation.id}/proposals", params={"q": q})
    assert response.status_code == 200, response.text
    assert response.json()["total"] == total


def test_hidden_states_cannot_be_listed(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session)
    shown = make_proposal(session, consultation, make_user(session))
    for state in ("hidden", "pending"):
        make_proposal(session, consultation, make_user(session), state=state)
    url = f"/api/v1/consultations/{consultation.id}/proposals"
    for state in ("hidden", "pending"):
        assert ids(client.get(url, params={"state": state})) == [shown.id]
        assert ids(client.get(url, params={"state": state}, headers=moderator(session))) == [shown.id]


def test_the_proposals_of_a_draft_are_404(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, status="draft")
    problem(client.get(f"/api/v1/consultations/{consultation.id}/proposals"), 404)
    assert client.get(f"/api/v1/consultations/{consultation.id}/proposals",
                      headers=moderator(session)).status_code == 200


def test_a_page_of_proposals_costs_a_bounded_number_of_statements(client: TestClient, session: Session,
                                                                   engine: Engine) -> None:
    """No N+1: the number of SQL statements for a page of 20 does not grow with the proposals or
    their authors (each proposal has its own author, comments and supports)."""
    consultation = make_consultation(session)
    url = f"/api/v1/consultations/{consultation.id}/proposals"
    headers = someone(session)

    def add(count: int) -> None:
        for n in range(count):
            proposal = make_proposal(session, consultation, make_user(session), commune_insee="62510",
                                     supports_count=n, comments_count=n)
            session.add(Comment(proposal_id=proposal.id or 0, author_id=proposal.author_id, body="Oui",
                                body_html="<p>Oui</p>", created_at=NOW, updated_at=NOW))
        session.flush()

    counts = []
    for batch in (3, 20, 40):
        add(batch)
        for params in ({"limit": 20}, {"limit": 20, "sort": "supports", "q": "proposition", "commune": "62510"}):
            client.get(url, params=params, headers=headers)  # warm up whatever is cached
            with statements(engine) as seen:
                response = client.get(url, params=params, headers=headers)
            assert response.status_code == 200
            counts.append(len(seen))
    assert len(set(counts[0::2])) == 1, counts
    assert len(set(counts[1::2])) == 1, counts
    assert max(counts) <= 12, counts


def test_the_comments_of_a_proposal_cost_a_bounded_number_of_statements(client: TestClient, session: Session,
                                                                         engine: Engine) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    url = f"/api/v1/proposals/{proposal.id}/comments"
    counts = []
    for batch in (2, 30):
        for _ in range(batch):
            session.add(Comment(proposal_id=proposal.id or 0, author_id=make_user(session).id or 0, body="Oui",
                                body_html="<p>Oui</p>", created_at=NOW, updated_at=NOW))
        session.flush()
        with statements(engine) as seen:
            assert client.get(url).status_code == 200
        counts.append(len(seen))
    assert counts[0] == counts[1], counts


# --- comments


def comment(client: TestClient, proposal_id: int | None, headers: dict[str, str], body: str = "Bonne idée !",
            parent_id: int | None = None) -> Response:
    payload: dict[str, Any] = {"body": body}
    if parent_id is not None:
        payload["parent_id"] = parent_id
    return client.post(f"/api/v1/proposals/{proposal_id}/comments", json=payload, headers=headers)


def test_comment_thread(client: TestClient, session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    alice_user = make_user(session, name="Alice")
    alice = bearer(session, alice_user)
    root = comment(client, proposal.id, alice, body="Très **bonne** idée [lien](https://example.org)")
    assert root.status_code == 201, root.text
    root_data = root.json()
    assert root_data["author"] == "Alice"
    assert root_data["depth"] == 0
    assert root_data["parent_id"] is None
    assert 'rel="nofollow ugc noopener"' in root_data["body_html"]
    reply = comment(client, proposal.id, someone(session), parent_id=root_data["id"]).json()
    deepest = comment(client, proposal.id, someone(session), parent_id=reply["id"]).json()
    assert (reply["depth"], deepest["depth"]) == (1, 2)
    problem(comment(client, proposal.id, someone(session), parent_id=deepest["id"]), 409, "/problems/cannot-comment")
    second_root = comment(client, proposal.id, someone(session)).json()
    listed = client.get(f"/api/v1/proposals/{proposal.id}/comments").json()
    assert [c["id"] for c in listed] == [root_data["id"], reply["id"], deepest["id"], second_root["id"]]
    assert client.get(f"/api/v1/proposals/{proposal.id}").json()["comments"] == 4

    # The author deletes the root: its place stays, without text or name, and the replies stay.
    assert client.delete(f"/api/v1/comments/{root_data['id']}", headers=alice).status_code == 204
    listed = client.get(f"/api/v1/proposals/{proposal.id}/comments").json()
    assert [c["id"] for c in listed] == [root_data["id"], reply["id"], deepest["id"], second_root["id"]]
    assert (listed[0]["state"], listed[0]["body_html"], listed[0]["author"]) == ("deleted", None, None)
    assert listed[1]["body_html"] is not None
    assert client.get(f"/api/v1/proposals/{proposal.id}").json()["comments"] == 3
    assert client.delete(f"/api/v1/comments/{root_data['id']}", headers=alice).status_code == 204
    assert client.get(f"/api/v1/proposals/{proposal.id}").json()["comments"] == 3
    problem(client.patch(f"/api/v1/comments/{root_data['id']}", json={"body": "Je reviens"}, headers=alice), 409,
            "/problems/cannot-comment")
    stored = session.get(Comment, root_data["id"])
    assert stored is not None
    session.refresh(stored)
    assert (stored.body, stored.body_html) == ("", "")


def test_edit_and_delete_own_comments_only(client: TestClient, session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    author = someone(session)
    posted = comment(client, proposal.id, author).json()
    url = f"/api/v1/comments/{posted['id']}"
    other = someone(session)
    problem(client.patch(url, json={"body": "Réécrit par un autre"}, headers=other), 403, "/problems/not-author")
    problem(client.delete(url, headers=other), 403, "/problems/not-author")
    problem(client.delete(url, headers=moderator(session)), 403, "/problems/not-author")
    problem(client.patch(url, json={"body": "Réécrit"}), 401)
    problem(client.delete(url), 401)
    response = client.patch(url, json={"body": "Bonne idée, <img src=x onerror=alert(1)> *vraiment*"},
                            headers=author)
    assert response.status_code == 200, response.text
    assert "<img" not in response.json()["body_html"]
    assert "<em>vraiment</em>" in response.json()["body_html"]
    problem(client.patch(url, json={"body": "x"}, headers=author), 422)
    problem(client.patch(url, json={"body": "x" * 3001}, headers=author), 422)


def test_comment_refusals(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session)
    proposal = make_proposal(session, consultation, make_user(session))
    problem(comment(client, proposal.id, {}), 401)
    problem(comment(client, proposal.id, someone(session), body="x"), 422)
    problem(comment(client, proposal.id, someone(session, commune=None)), 409, "/problems/cannot-comment")
    problem(comment(client, proposal.id, someone(session), parent_id=999999999), 404)
    problem(comment(client, 999999999, someone(session)), 404)
    withdrawn = make_proposal(session, consultation, make_user(session), state="withdrawn")
    problem(comment(client, withdrawn.id, someone(session)), 409, "/problems/cannot-comment")
    hidden = make_proposal(session, consultation, make_user(session), state="hidden")
    problem(comment(client, hidden.id, someone(session)), 404)
    problem(client.get(f"/api/v1/proposals/{hidden.id}/comments"), 404)
    problem(client.patch("/api/v1/comments/999999999", json={"body": "Rien"}, headers=someone(session)), 404)


def test_the_comments_count_follows(client: TestClient, session: Session) -> None:
    proposal = make_proposal(session, make_consultation(session), make_user(session))
    headers = someone(session)
    made = [comment(client, proposal.id, headers).json()["id"] for _ in range(3)]
    assert client.get(f"/api/v1/proposals/{proposal.id}").json()["comments"] == 3
    client.delete(f"/api/v1/comments/{made[1]}", headers=headers)
    stored = session.get(Proposal, proposal.id)
    assert stored is not None
    session.refresh(stored)
    assert stored.comments_count == 2
    listed = client.get(f"/api/v1/consultations/{proposal.consultation_id}/proposals").json()
    assert listed["items"][0]["comments"] == 2
