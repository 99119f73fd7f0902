"""What the API fuzzing (test_api_fuzz.py, slow) found, pinned as fast tests on SQLite and PostgreSQL
(SECURITY-NOTES D6, G2 on JSON):
- an id too large for the database (2**63, 2**31 on PostgreSQL's integer columns) gave a 500;
- a 405 named in `Allow` only the methods of the first route on the path (GET /api/v1/me, not DELETE);
- PATCH /api/v1/proposals/merge reached PATCH /api/v1/proposals/{proposal_id} (401/422, not 405);
- the schema documented no error answer, and its 422 as FastAPI's JSON instead of problem+json;
- the statistics read until=0 as a day (1970-01-01), against their schema (format: date), and an
  action took planned_start=0 as a day and budget=false as 0 euros."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.models import Role
from app.core.errors import PROBLEM_JSON
from tests.factories import NOW, bearer, make_consultation, make_user


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status
    return body


@pytest.mark.parametrize("number", [2**31, 2**63, 10**30, -(2**40)])
@pytest.mark.parametrize("path", ["/api/v1/consultations/{}", "/api/v1/proposals/{}", "/api/v1/actions/{}",
                                  "/api/v1/proposals/{}/comments"])
def test_an_id_out_of_range_is_refused_not_a_500(client: TestClient, path: str, number: int) -> None:
    response = client.get(path.format(number))
    assert response.status_code in (404, 422)
    assert_problem(response, response.status_code)


@pytest.mark.parametrize("number", [2**31, 2**63])
def test_a_page_with_an_id_out_of_range_is_not_found(client: TestClient, number: int) -> None:
    response = client.get(f"/actions/{number}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(("path", "methods"), [
    ("/api/v1/me", "DELETE, GET"),
    ("/api/v1/proposals/1/support", "DELETE, PUT"),
    ("/api/v1/consultations/1/ballot", "DELETE, GET, PUT"),
    ("/api/v1/proposals/merge", "POST"),
])
def test_a_405_names_every_method_of_the_path(client: TestClient, path: str, methods: str) -> None:
    response = client.patch(path) if "merge" in path else client.post(path)
    assert_problem(response, 405)
    assert response.headers["allow"] == methods


def test_every_api_operation_documents_its_errors_as_problems(app: FastAPI) -> None:
    schema = app.openapi()
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "4XX" in responses, (method, path)
            assert list(responses["4XX"]["content"]) == [PROBLEM_JSON], (method, path)
            assert "422" not in responses or PROBLEM_JSON in responses["422"].get("content", {PROBLEM_JSON: 0}), (
                method, path)


@pytest.mark.parametrize("stats", ["participation", "representativeness"])
def test_a_day_is_written_yyyy_mm_dd(client: TestClient, session: Session, stats: str) -> None:
    """until=0 was read as 1970-01-01 (a Unix time), which the schema (format: date) does not allow."""
    admin = make_user(session)
    accounts.grant_role(session, admin, Role.admin, now=NOW)
    headers = bearer(session, admin)
    for value in ("0", "1700000000", "2027-3-1"):
        assert_problem(client.get(f"/api/v1/stats/{stats}", params={"by": "axis", "until": value},
                                  headers=headers), 422)
    assert client.get(f"/api/v1/stats/{stats}", params={"by": "axis", "since": "2027-02-01", "until": "2027-03-01"},
                      headers=headers).status_code == 200


@pytest.mark.parametrize("field", [{"planned_start": 0}, {"planned_end": 1700000000}, {"budget": False},
                                   {"budget": True}])
def test_an_action_takes_days_as_days_and_euros_as_numbers(client: TestClient, session: Session,
                                                           field: dict) -> None:
    """planned_start=0 was stored as 1970-01-01 and budget=false as 0 euros, against the schema."""
    admin = make_user(session)
    accounts.grant_role(session, admin, Role.admin, now=NOW)
    consultation = make_consultation(session, phase="follow_up")
    body = {"consultation_id": consultation.id, "title": "Rénover le préau", **field}
    response = client.post("/api/v1/actions", json=body, headers=bearer(session, admin))
    assert_problem(response, 422)
    body = {"consultation_id": consultation.id, "title": "Rénover le préau", "budget": 1000,
            "planned_start": "2027-04-01"}
    assert client.post("/api/v1/actions", json=body, headers=bearer(session, admin)).status_code == 201
