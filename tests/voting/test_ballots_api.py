"""/api/v1/consultations/{id}/ballot: cast or replace (PUT), read (GET), withdraw (DELETE) a
majority-judgment or budget ballot; every refusal as problem+json; the first ballot freezes the
consultation's rules."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, select

from app.consultations.models import Consultation
from app.proposals.models import Proposal, ProposalState
from app.voting.models import Ballot, BallotGrade
from tests.factories import NOW, make_consultation, make_proposal, make_user, moderator, someone
from tests.support import problem

DAY = timedelta(days=1)
NNBSP = "\u202f"


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def mj(session: Session, proposals: int = 3, **fields: Any) -> tuple[Consultation, list[int]]:
    consultation = make_consultation(session, voting_method="majority_judgment", **fields)
    author = make_user(session)
    made = [make_proposal(session, consultation, author, now=NOW - DAY * (10 - n)).id or 0 for n in range(proposals)]
    return consultation, made


def budget(session: Session, costs: tuple[int | None, ...] = (3000, 4000, 5000), total: int = 10_000,
           **fields: Any) -> tuple[Consultation, list[int]]:
    consultation = make_consultation(session, voting_method="budget", budget_total=total, **fields)
    author = make_user(session)
    made = [make_proposal(session, consultation, author, estimated_cost=cost, now=NOW - DAY * (10 - n)).id or 0
            for n, cost in enumerate(costs)]
    return consultation, made


def grades(ids: list[int], *names: str) -> dict[str, str]:
    """The JSON body's grades: proposal ids as object keys (strings)."""
    return {str(pid): name for pid, name in zip(ids, names, strict=True)}


def url(consultation: Consultation) -> str:
    return f"/api/v1/consultations/{consultation.id}/ballot"


def put(client: TestClient, consultation: Consultation, headers: dict[str, str], **body: Any) -> Response:
    return client.put(url(consultation), json=body, headers=headers)


# --- majority judgment


def test_cast_read_replace_and_withdraw_a_majority_judgment_ballot(client: TestClient, session: Session,
                                                                   app: FastAPI) -> None:
    consultation, ids = mj(session)
    headers = someone(session)
    response = put(client, consultation, headers, grades=grades(ids, "excellent", "passable", "a_rejeter"))
    assert response.status_code == 200, response.text
    cast = response.json()
    assert cast == {"method": "majority_judgment", "grades": grades(ids, "excellent", "passable", "a_rejeter"),
                    "proposals": None, "total_cost": None, "channel": "online",
                    "cast_at": "2027-03-01T12:00:00Z", "updated_at": "2027-03-01T12:00:00Z"}
    assert client.get(url(consultation), headers=headers).json() == cast

    app.state.clock = lambda: NOW + timedelta(hours=2)
    replaced = put(client, consultation, headers, grades=grades(ids, "bien", "bien", "tres_bien")).json()
    assert replaced["grades"] == grades(ids, "bien", "bien", "tres_bien")
    assert (replaced["cast_at"], replaced["updated_at"]) == ("2027-03-01T12:00:00Z", "2027-03-01T14:00:00Z")
    assert client.get(url(consultation), headers=headers).json() == replaced
    [ballot] = session.exec(select(Ballot).where(Ballot.consultation_id == consultation.id)).all()
    rows = session.exec(select(BallotGrade.proposal_id, BallotGrade.grade).where(BallotGrade.ballot_id == ballot.id))
    assert dict(rows.all()) == {ids[0]: "bien", ids[1]: "bien", ids[2]: "tres_bien"}

    response = client.delete(url(consultation), headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    data = problem(client.get(url(consultation), headers=headers), 404)
    assert data["detail"] == "Vous n’avez pas voté dans cette consultation."
    problem(client.delete(url(consultation), headers=headers), 404)
    assert session.exec(select(Ballot).where(Ballot.consultation_id == consultation.id)).all() == []


def test_my_ballot_is_404_before_voting(client: TestClient, session: Session) -> None:
    consultation, _ = mj(session)
    data = problem(client.get(url(consultation), headers=someone(session)), 404)
    assert data["detail"] == "Vous n’avez pas voté dans cette consultation."


def test_my_ballot_is_mine(client: TestClient, session: Session) -> None:
    consultation, ids = mj(session, proposals=2)
    first, second = someone(session), someone(session)
    assert put(client, consultation, first, grades=grades(ids, "excellent", "bien")).status_code == 200
    problem(client.get(url(consultation), headers=second), 404)
    assert put(client, consultation, second, grades=grades(ids, "insuffisant", "passable")).status_code == 200
    assert client.get(url(consultation), headers=first).json()["grades"] == grades(ids, "excellent", "bien")


def test_a_ballot_needs_a_signed_in_resident(client: TestClient, session: Session) -> None:
    consultation, ids = mj(session)
    problem(put(client, consultation, {}, grades=grades(ids, "bien", "bien", "bien")), 401)
    problem(client.get(url(consultation)), 401)
    problem(client.delete(url(consultation)), 401)


def test_a_ballot_missing_a_grade_is_422(client: TestClient, session: Session) -> None:
    consultation, ids = mj(session)
    data = problem(put(client, consultation, someone(session), grades=grades(ids[:2], "bien", "bien")), 422,
                   "/problems/invalid-ballot")
    assert data["detail"] == "Donnez une mention à chaque proposition : il en manque 1."
    problem(put(client, consultation, someone(session), grades={}), 422, "/problems/invalid-ballot")
    problem(put(client, consultation, someone(session)), 422, "/problems/invalid-ballot")


def test_an_unknown_grade_is_refused_by_the_schema(client: TestClient, session: Session) -> None:
    consultation, ids = mj(session)
    headers = someone(session)
    for bad in ("génial", "Excellent", "", None, 3):
        body = grades(ids[:2], "bien", "bien") | {str(ids[2]): bad}
        data = problem(put(client, consultation, headers, grades=body), 422)
        assert data["detail"] == "Certains paramètres de la demande ne sont pas valides."
        assert data["errors"][0]["location"][:3] == ["body", "grades", str(ids[2])]
    assert session.exec(select(Ballot).where(Ballot.consultation_id == consultation.id)).all() == []


def test_malformed_ballots_are_422(client: TestClient, session: Session) -> None:
    consultation, _ = mj(session)
    headers = someone(session)
    for body in (
        {"grades": {"un": "bien"}},  # a key that is no proposal id
        {"grades": ["bien"]},
        {"proposals": "1,2"},
        {"proposals": [1], "extra": True},  # unknown fields are refused
    ):
        problem(client.put(url(consultation), json=body, headers=headers), 422)


def test_a_proposal_of_another_consultation_is_422(client: TestClient, session: Session) -> None:
    consultation, ids = mj(session, proposals=2)
    _other, elsewhere = mj(session, proposals=1)
    data = problem(put(client, consultation, someone(session), grades=grades(ids + elsewhere, "bien", "bien", "bien")),
                   422, "/problems/invalid-ballot")
    assert data["detail"] == "Ce bulletin mentionne une proposition qui n’est pas soumise au vote."


def test_a_hidden_or_withdrawn_proposal_is_not_on_the_ballot(client: TestClient, session: Session) -> None:
    consultation, ids = mj(session, proposals=4)
    for pid, state in ((ids[1], ProposalState.hidden), (ids[2], ProposalState.withdrawn)):
        proposal = session.get(Proposal, pid)
        assert proposal is not None
        proposal.state = state
        session.add(proposal)
    session.flush()
    headers = someone(session)
    problem(put(client, consultation, headers, grades=grades(ids, "bien", "bien", "bien", "bien")), 422,
            "/problems/invalid-ballot")
    response = put(client, consultation, headers, grades=grades([ids[0], ids[3]], "bien", "passable"))
    assert response.status_code == 200, response.text
    assert response.json()["grades"] == grades([ids[0], ids[3]], "bien", "passable")


@pytest.mark.parametrize("phase", ["proposals", "results"])
def test_outside_the_voting_phase_is_409(client: TestClient, session: Session, phase: str) -> None:
    consultation, ids = mj(session, phase=phase)
    headers = someone(session)
    data = problem(put(client, consultation, headers, grades=grades(ids, "bien", "bien", "bien")), 409,
                   "/problems/voting-closed")
    assert data["detail"] == "Le vote n’est pas ouvert en ce moment : cette consultation n’est pas en phase de vote."
    problem(client.delete(url(consultation), headers=headers), 409, "/problems/voting-closed")


def test_a_ballot_is_kept_once_the_vote_is_over(client: TestClient, session: Session, app: FastAPI) -> None:
    consultation, ids = mj(session)
    headers = someone(session)
    assert put(client, consultation, headers, grades=grades(ids, "bien", "bien", "bien")).status_code == 200
    app.state.clock = lambda: consultation.results_starts_at + timedelta(minutes=1)
    problem(client.delete(url(consultation), headers=headers), 409, "/problems/voting-closed")
    problem(put(client, consultation, headers, grades=grades(ids, "a_rejeter", "bien", "bien")), 409,
            "/problems/voting-closed")
    assert client.get(url(consultation), headers=headers).json()["grades"] == grades(ids, "bien", "bien", "bien")


def test_an_ineligible_resident_is_403(client: TestClient, session: Session) -> None:
    consultation, ids = mj(session, scope_kind="commune", scope_code="62498")
    data = problem(put(client, consultation, someone(session, commune="62510"),
                       grades=grades(ids, "bien", "bien", "bien")), 403, "/problems/not-eligible")
    assert data["detail"] == "Cette consultation est réservée aux habitants de Lens."
    assert put(client, consultation, someone(session, commune="62498"),
               grades=grades(ids, "bien", "bien", "bien")).status_code == 200


def test_a_support_consultation_is_409_wrong_method(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, voting_method="support")
    pid = make_proposal(session, consultation, make_user(session)).id or 0
    headers = someone(session)
    data = problem(put(client, consultation, headers, grades={str(pid): "bien"}), 409, "/problems/wrong-method")
    assert data["detail"] == "Cette consultation ne se vote pas par bulletin."
    problem(put(client, consultation, headers, proposals=[pid]), 409, "/problems/wrong-method")
    problem(client.delete(url(consultation), headers=headers), 409, "/problems/wrong-method")


def test_an_unknown_or_draft_consultation_is_404(client: TestClient, session: Session) -> None:
    draft, ids = mj(session, status="draft")
    headers = someone(session)
    problem(put(client, draft, headers, grades=grades(ids, "bien", "bien", "bien")), 404)
    problem(client.put("/api/v1/consultations/999999/ballot", json={"grades": {}}, headers=headers), 404)
    problem(client.get("/api/v1/consultations/999999/ballot", headers=headers), 404)


# --- participatory budget


def test_cast_and_replace_a_budget_ballot(client: TestClient, session: Session) -> None:
    consultation, ids = budget(session)
    headers = someone(session)
    response = put(client, consultation, headers, proposals=[ids[1], ids[0]])
    assert response.status_code == 200, response.text
    data = response.json()
    assert (data["method"], data["proposals"], data["total_cost"], data["grades"]) == (
        "budget", [ids[0], ids[1]], 7000, None)
    replaced = put(client, consultation, headers, proposals=[ids[2]]).json()
    assert (replaced["proposals"], replaced["total_cost"]) == ([ids[2]], 5000)
    assert client.get(url(consultation), headers=headers).json() == replaced
    assert len(session.exec(select(Ballot).where(Ballot.consultation_id == consultation.id)).all()) == 1


def test_a_budget_ballot_may_spend_exactly_the_budget(client: TestClient, session: Session) -> None:
    consultation, ids = budget(session, costs=(4000, 6000), total=10_000)
    response = put(client, consultation, someone(session), proposals=ids)
    assert response.status_code == 200, response.text
    assert response.json()["total_cost"] == 10_000


def test_a_budget_ballot_over_the_budget_is_422(client: TestClient, session: Session) -> None:
    consultation, ids = budget(session, costs=(4000, 6000, 2500), total=10_000)
    headers = someone(session)
    assert put(client, consultation, headers, proposals=[ids[0]]).status_code == 200
    data = problem(put(client, consultation, headers, proposals=ids), 422, "/problems/over-budget")
    assert data["detail"] == (
        f"Votre sélection coûte 12{NNBSP}500 €, plus que le budget de 10{NNBSP}000 € : retirez une proposition.")
    assert client.get(url(consultation), headers=headers).json()["proposals"] == [ids[0]]  # unchanged


def test_duplicates_in_a_budget_ballot_are_422(client: TestClient, session: Session) -> None:
    consultation, ids = budget(session)
    data = problem(put(client, consultation, someone(session), proposals=[ids[0], ids[0]]), 422,
                   "/problems/invalid-ballot")
    assert data["detail"] == "Une proposition est choisie deux fois."


@pytest.mark.parametrize(("choice", "detail"), [
    (lambda ids, other: [], "Choisissez au moins une proposition."),
    (lambda ids, other: [ids[0], other], "Ce bulletin mentionne une proposition qui n’est pas soumise au vote."),
    (lambda ids, other: [ids[3]], "Une proposition choisie n’a pas de coût estimé."),
])
def test_invalid_budget_ballots_are_422(client: TestClient, session: Session, choice: Any, detail: str) -> None:
    consultation, ids = budget(session, costs=(3000, 4000, 5000, None))
    _other, elsewhere = budget(session)
    data = problem(put(client, consultation, someone(session), proposals=choice(ids, elsewhere[0])), 422,
                   "/problems/invalid-ballot")
    assert data["detail"] == detail


def test_a_budget_ballot_without_a_body_is_422(client: TestClient, session: Session) -> None:
    consultation, _ = budget(session)
    problem(put(client, consultation, someone(session)), 422, "/problems/invalid-ballot")


def test_withdraw_a_budget_ballot(client: TestClient, session: Session) -> None:
    consultation, ids = budget(session)
    headers = someone(session)
    assert put(client, consultation, headers, proposals=[ids[0]]).status_code == 200
    assert client.delete(url(consultation), headers=headers).status_code == 204
    problem(client.get(url(consultation), headers=headers), 404)


# --- the first ballot freezes the rules


@pytest.mark.parametrize(("make", "ballot", "rules"), [
    (mj, lambda ids: {"grades": grades(ids, "bien", "bien", "bien")},
     {"voting_method": "budget", "rules": {"budget_total": 5000}}),
    (mj, lambda ids: {"grades": grades(ids, "bien", "bien", "bien")}, {"rules": {"min_age": 16}}),
    (budget, lambda ids: {"proposals": ids[:1]}, {"rules": {"budget_total": 20_000}}),
])
def test_the_first_ballot_freezes_the_rules(client: TestClient, session: Session, make: Any, ballot: Any,
                                            rules: dict[str, Any]) -> None:
    consultation, ids = make(session)
    headers = moderator(session)
    endpoint = f"/api/v1/consultations/{consultation.id}"
    before = client.get(endpoint).json()
    response = client.put(url(consultation), json=ballot(ids), headers=someone(session))
    assert response.status_code == 200, response.text
    data = problem(client.patch(endpoint, json=rules, headers=headers), 409, "/problems/rules-frozen")
    assert data["detail"] == "Le vote a commencé : la méthode de vote et les règles ne peuvent plus changer."
    after = client.get(endpoint).json()
    assert (after["voting_method"], after["rules"]) == (before["voting_method"], before["rules"])
    # What does not touch the rules may still change.
    assert client.patch(endpoint, json={"title": "Un titre changé pendant le vote"}, headers=headers).status_code == 200


def test_a_withdrawn_first_ballot_leaves_the_rules_frozen(client: TestClient, session: Session) -> None:
    consultation, ids = mj(session)
    headers = someone(session)
    assert put(client, consultation, headers, grades=grades(ids, "bien", "bien", "bien")).status_code == 200
    assert client.delete(url(consultation), headers=headers).status_code == 204
    # A withdrawn ballot was a vote all the same: the rules stay frozen.
    problem(client.patch(f"/api/v1/consultations/{consultation.id}", json={"rules": {"min_age": 16}},
                         headers=moderator(session)), 409, "/problems/rules-frozen")
    other, _ = mj(session)
    response = client.patch(f"/api/v1/consultations/{other.id}", json={"rules": {"min_age": 16}},
                            headers=moderator(session))
    assert response.status_code == 200, response.text
