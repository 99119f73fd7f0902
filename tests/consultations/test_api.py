"""/api/v1/consultations: the shapes the issue lists, filters, who may create and change, drafts,
phase dates in order, rules frozen by the first vote while dates still move."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.territory.models import Axis
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user, phase_dates

PROBLEM = "application/problem+json"
DAY = timedelta(days=1)
LENS_LIEVIN = "246200364"
PHASE_NAMES = ("information", "proposals", "voting", "results", "follow_up")


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def axis(session: Session, number: int) -> Axis:
    return session.exec(select(Axis).where(Axis.number == number)).one()


def moderator_of(session: Session, number: int = 1) -> dict[str, str]:
    user = make_user(session)
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis(session, number).id)
    return bearer(session, user)


def admin(session: Session) -> dict[str, str]:
    user = make_user(session)
    accounts.grant_role(session, user, Role.admin, now=NOW)
    return bearer(session, user)


def problem(response: Response, status: int, kind: str = "about:blank") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == kind
    assert body["detail"]
    return body


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def phases_json(phase: str = "proposals", now: datetime = NOW) -> dict[str, dict[str, str]]:
    dates = phase_dates(phase, now)
    return {name: {"start": dates[f"{name}_starts_at"].isoformat()} for name in PHASE_NAMES}


def body(**fields: Any) -> dict[str, Any]:
    return {
        "title": "Les cités minières de demain", "summary": "Comment rénover les cités minières ?", "axis": 1,
        "scope": {"kind": "epci", "code": LENS_LIEVIN}, "phases": phases_json(),
        "voting_method": "support", "rules": {"max_supports": 3, "min_age": 16}, "status": "published",
    } | fields


# --- read


def test_one_consultation_has_the_shape_the_issue_lists(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="voting", axis_number=2, scope_kind="epci",
                                     scope_code=LENS_LIEVIN, max_supports=5, min_age=16,
                                     required_verification="verified", follow_up_ends_at=NOW + 100 * DAY)
    response = client.get(f"/api/v1/consultations/{consultation.id}")
    assert response.status_code == 200
    data = response.json()
    assert {"id", "title", "summary", "axis", "scope", "phase", "phases", "voting_method", "rules",
            "status"} <= set(data)
    assert data["id"] == consultation.id
    assert data["title"] == consultation.title
    assert data["summary"] == "Une consultation pour les tests."
    second = axis(session, 2)
    assert data["axis"] == {"id": second.id, "number": 2, "slug": second.slug, "title": second.title}
    assert data["scope"]["kind"] == "epci"
    assert data["scope"]["code"] == LENS_LIEVIN
    assert data["phase"] == "voting"
    assert list(data["phases"]) == list(PHASE_NAMES)
    dates = phase_dates("voting")
    for index, name in enumerate(PHASE_NAMES):
        span = data["phases"][name]
        assert set(span) == {"start", "end"}
        assert when(span["start"]) == dates[f"{name}_starts_at"]
        end = dates[f"{PHASE_NAMES[index + 1]}_starts_at"] if index + 1 < len(PHASE_NAMES) else NOW + 100 * DAY
        assert when(span["end"]) == end
    assert data["voting_method"] == "support"
    assert data["rules"] == {"max_supports": 5, "min_age": 16, "required_verification": "verified",
                             "results_hidden_until_end": False, "budget_total": None}
    assert data["status"] == "published"


def test_the_phase_follows_the_clock(client: TestClient, app: FastAPI, session: Session) -> None:
    consultation = make_consultation(session, phase="voting")
    assert client.get(f"/api/v1/consultations/{consultation.id}").json()["phase"] == "voting"
    app.state.clock = lambda: NOW + 10 * DAY
    assert client.get(f"/api/v1/consultations/{consultation.id}").json()["phase"] == "results"
    app.state.clock = lambda: NOW - 30 * DAY
    assert client.get(f"/api/v1/consultations/{consultation.id}").json()["phase"] == "upcoming"


def test_an_open_ended_follow_up_has_no_end(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session)
    data = client.get(f"/api/v1/consultations/{consultation.id}").json()
    assert data["phases"]["follow_up"]["end"] is None


def test_list_with_items_and_total(client: TestClient, session: Session) -> None:
    first = make_consultation(session, phase="proposals", axis_number=5)
    second = make_consultation(session, phase="results", axis_number=5, scope_kind="commune", scope_code="62510")
    make_consultation(session, phase="voting", axis_number=6)
    make_consultation(session, phase="voting", axis_number=5, status="draft")
    slug = axis(session, 5).slug
    response = client.get("/api/v1/consultations", params={"axis": slug})
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"items", "total"}
    assert data["total"] == 2
    assert [item["id"] for item in data["items"]] == [first.id, second.id]  # the open one first
    assert data["items"][1]["scope"] == {"kind": "commune", "code": "62510", "name": "Liévin"}
    assert client.get("/api/v1/consultations", params={"axis": slug, "phase": "results"}).json()["total"] == 1
    assert client.get("/api/v1/consultations", params={"axis": slug, "phase": "voting"}).json()["total"] == 0
    by_scope = client.get("/api/v1/consultations", params={"axis": slug, "scope": "commune"}).json()
    assert [item["id"] for item in by_scope["items"]] == [second.id]
    paged = client.get("/api/v1/consultations", params={"axis": slug, "limit": 1, "offset": 1}).json()
    assert (paged["total"], [item["id"] for item in paged["items"]]) == (2, [second.id])
    everything = client.get("/api/v1/consultations").json()
    assert everything["total"] == 3


@pytest.mark.parametrize(
    "params",
    [{"phase": "later"}, {"scope": "region"}, {"limit": 0}, {"limit": 101}, {"offset": -1}, {"axis": "x" * 81}],
)
def test_list_parameters_are_checked(client: TestClient, params: dict[str, object]) -> None:
    problem(client.get("/api/v1/consultations", params=params), 422)


def test_an_unknown_axis_is_404(client: TestClient) -> None:
    problem(client.get("/api/v1/consultations", params={"axis": "nulle-part"}), 404)


def test_drafts_are_hidden_from_the_public_and_shown_to_their_moderators(client: TestClient,
                                                                         session: Session) -> None:
    draft = make_consultation(session, status="draft", axis_number=1)
    url = f"/api/v1/consultations/{draft.id}"
    problem(client.get(url), 404)
    problem(client.get(url, headers=bearer(session, make_user(session))), 404)
    problem(client.get(url, headers=moderator_of(session, 2)), 404)
    assert client.get(url, headers=moderator_of(session, 1)).json()["status"] == "draft"
    assert client.get(url, headers=admin(session)).json()["status"] == "draft"
    # Never listed, not even to its moderators.
    assert client.get("/api/v1/consultations", headers=moderator_of(session, 1)).json()["total"] == 0


def test_an_unknown_consultation_is_404(client: TestClient) -> None:
    problem(client.get("/api/v1/consultations/999999999"), 404)


# --- create


def test_a_moderator_of_the_axis_creates_one(client: TestClient, session: Session) -> None:
    response = client.post("/api/v1/consultations", json=body(), headers=moderator_of(session, 1))
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["title"] == "Les cités minières de demain"
    assert data["axis"]["number"] == 1
    assert data["scope"] == {"kind": "epci", "code": LENS_LIEVIN, "name": "CA de Lens - Liévin"}
    assert data["phase"] == "proposals"
    assert data["rules"]["max_supports"] == 3
    assert data["rules"]["min_age"] == 16
    assert data["status"] == "published"
    assert client.get(f"/api/v1/consultations/{data['id']}").json() == data


def test_an_admin_creates_one_on_any_axis(client: TestClient, session: Session) -> None:
    assert client.post("/api/v1/consultations", json=body(axis=12), headers=admin(session)).status_code == 201


def test_visitors_get_401(client: TestClient) -> None:
    problem(client.post("/api/v1/consultations", json=body()), 401)


def test_residents_and_moderators_of_other_axes_get_403(client: TestClient, session: Session) -> None:
    problem(client.post("/api/v1/consultations", json=body(), headers=bearer(session, make_user(session))), 403)
    problem(client.post("/api/v1/consultations", json=body(axis=1), headers=moderator_of(session, 2)), 403)


@pytest.mark.parametrize(
    "change",
    [
        "swapped",
        "naive",
        "missing",
        "follow_up_end_first",
    ],
)
def test_phase_dates_must_be_in_order_with_a_time_zone(client: TestClient, session: Session, change: str) -> None:
    phases = phases_json()
    if change == "swapped":
        phases["voting"], phases["results"] = phases["results"], phases["voting"]
    elif change == "naive":
        phases["voting"]["start"] = phases["voting"]["start"][:19]
    elif change == "missing":
        del phases["results"]
    else:
        phases["follow_up"]["end"] = (NOW - 100 * DAY).isoformat()
    response = client.post("/api/v1/consultations", json=body(phases=phases), headers=moderator_of(session))
    data = problem(response, 422)
    assert data["errors"]
    assert client.get("/api/v1/consultations").json()["total"] == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "abc"},
        {"summary": "court"},
        {"axis": 17},
        {"axis": 0},
        {"scope": {"kind": "epci", "code": "12"}},
        {"scope": {"kind": "region"}},
        {"voting_method": "lottery"},
        {"rules": {"max_supports": -1}},
        {"rules": {"min_age": 200}},
        {"rules": {"required_verification": "sworn"}},
        {"rules": {"unknown": 1}},
        {"status": "hidden"},
        {"slug": "choisi"},
    ],
)
def test_invalid_input_is_422(client: TestClient, session: Session, fields: dict[str, Any]) -> None:
    problem(client.post("/api/v1/consultations", json=body(**fields), headers=moderator_of(session)), 422)


def test_a_scope_outside_the_territory_is_422(client: TestClient, session: Session) -> None:
    response = client.post("/api/v1/consultations", json=body(scope={"kind": "commune", "code": "75056"}),
                           headers=moderator_of(session))
    assert problem(response, 422)["detail"] == "Indiquez le code INSEE d’une commune du territoire."


# --- change


def patch(client: TestClient, consultation_id: int | None, headers: dict[str, str], **fields: Any) -> Response:
    return client.patch(f"/api/v1/consultations/{consultation_id}", json=fields, headers=headers)


def test_a_moderator_publishes_a_draft(client: TestClient, session: Session) -> None:
    draft = make_consultation(session, status="draft")
    headers = moderator_of(session)
    response = patch(client, draft.id, headers, status="published", title="Publiée enfin")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "published"
    assert client.get(f"/api/v1/consultations/{draft.id}").json()["title"] == "Publiée enfin"


def test_others_may_not_change_a_consultation(client: TestClient, session: Session) -> None:
    published = make_consultation(session)
    draft = make_consultation(session, status="draft")
    problem(patch(client, published.id, {}, title="Changé"), 401)
    problem(patch(client, published.id, bearer(session, make_user(session)), title="Changé"), 403)
    problem(patch(client, published.id, moderator_of(session, 2), title="Changé"), 403)
    problem(patch(client, draft.id, moderator_of(session, 2), title="Changé"), 404)  # a draft they cannot see
    assert patch(client, published.id, admin(session), title="Changé par l’admin").status_code == 200


def test_patch_phases_out_of_order_is_422(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session)
    phases = phases_json("voting")
    phases["information"]["start"] = (NOW + 100 * DAY).isoformat()
    problem(patch(client, consultation.id, moderator_of(session), phases=phases), 422)


def cast_first_vote(client: TestClient, session: Session, consultation_id: int | None) -> None:
    from app.consultations.models import Consultation

    consultation = session.get(Consultation, consultation_id)
    assert consultation is not None
    proposal = make_proposal(session, consultation, make_user(session))
    response = client.put(f"/api/v1/proposals/{proposal.id}/support", headers=bearer(session, make_user(session)))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "fields",
    [
        {"voting_method": "majority_judgment"},
        {"rules": {"max_supports": 4}},
        {"rules": {"max_supports": 3, "min_age": 18}},
        {"scope": {"kind": "commune", "code": "62510"}},
    ],
)
def test_the_first_vote_freezes_method_and_rules(client: TestClient, session: Session, fields: dict[str, Any]) -> None:
    consultation = make_consultation(session, max_supports=3)
    headers = moderator_of(session)
    assert patch(client, consultation.id, headers, **fields).status_code == 200  # before any vote: fine
    patch(client, consultation.id, headers, voting_method="support", rules={"max_supports": 3},
          scope={"kind": "basin"})
    cast_first_vote(client, session, consultation.id)
    data = problem(patch(client, consultation.id, headers, **fields), 409, "/problems/rules-frozen")
    assert data["detail"] == "Le vote a commencé : la méthode de vote et les règles ne peuvent plus changer."
    after = client.get(f"/api/v1/consultations/{consultation.id}").json()
    assert (after["voting_method"], after["rules"]["max_supports"], after["scope"]["kind"]) == ("support", 3, "basin")


def test_after_the_first_vote_a_moderator_closes_the_vote_early_then_extends_it(
    client: TestClient, session: Session
) -> None:
    consultation = make_consultation(session, max_supports=3)
    headers = moderator_of(session)
    cast_first_vote(client, session, consultation.id)
    voter = bearer(session, make_user(session))
    proposal = make_proposal(session, consultation, make_user(session))

    closed = phases_json("voting")
    closed["results"]["start"] = (NOW - timedelta(minutes=1)).isoformat()
    response = patch(client, consultation.id, headers, phases=closed, title="Vote clos plus tôt")
    assert response.status_code == 200, response.text
    assert response.json()["phase"] == "results"
    problem(client.put(f"/api/v1/proposals/{proposal.id}/support", headers=voter), 409, "/problems/voting-closed")

    extended = phases_json("voting")
    extended["results"]["start"] = (NOW + 30 * DAY).isoformat()
    extended["follow_up"]["start"] = (NOW + 40 * DAY).isoformat()
    response = patch(client, consultation.id, headers, phases=extended)
    assert response.status_code == 200, response.text
    assert response.json()["phase"] == "voting"
    assert when(response.json()["phases"]["voting"]["end"]) == NOW + 30 * DAY
    assert client.put(f"/api/v1/proposals/{proposal.id}/support", headers=voter).status_code == 200


def test_a_patch_may_send_the_same_rules_after_the_first_vote(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, max_supports=3)
    cast_first_vote(client, session, consultation.id)
    response = patch(client, consultation.id, moderator_of(session), voting_method="support",
                     rules={"max_supports": 3}, scope={"kind": "basin"}, summary="Le même vote, mieux expliqué.")
    assert response.status_code == 200, response.text
    assert response.json()["summary"] == "Le même vote, mieux expliqué."


def test_the_api_is_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/consultations"])
    assert {"get", "patch"} <= set(paths["/api/v1/consultations/{consultation_id}"])
