"""/api/v1/proposals/{id}/support: PUT supports (idempotent), DELETE withdraws; refusals are
problem+json whose `type` says which rule said no; `remaining` follows."""

from contextlib import nullcontext
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, func, select

from app.accounts import service as accounts
from app.accounts.sessions import DatabaseSessionStore
from app.consultations.models import Consultation
from app.proposals.models import Proposal
from app.voting.models import Participation, SupportVote
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user, someone

PROBLEM = "application/problem+json"
LENS_LIEVIN = "246200364"


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def problem(response: Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    data = response.json()
    assert (data["status"], data["type"]) == (status, kind)
    assert data["detail"]
    return data


def proposal_in(session: Session, consultation: Consultation, **fields: Any) -> Proposal:
    return make_proposal(session, consultation, make_user(session), **fields)


def support(client: TestClient, proposal: Proposal, headers: dict[str, str]) -> Response:
    return client.put(f"/api/v1/proposals/{proposal.id}/support", headers=headers)


def unsupport(client: TestClient, proposal: Proposal, headers: dict[str, str]) -> Response:
    return client.delete(f"/api/v1/proposals/{proposal.id}/support", headers=headers)


def rows(session: Session, proposal: Proposal) -> int:
    return session.exec(select(func.count()).select_from(SupportVote)
                        .where(SupportVote.proposal_id == proposal.id)).one()


def test_put_is_idempotent(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, max_supports=3)
    proposal = proposal_in(session, consultation)
    headers = someone(session)
    first = support(client, proposal, headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"supported": True, "supports": 1, "remaining": 2}
    second = support(client, proposal, headers)
    assert second.json() == first.json()
    assert rows(session, proposal) == 1
    assert client.get(f"/api/v1/proposals/{proposal.id}").json()["supports"] == 1


def test_delete_withdraws_and_is_idempotent(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, max_supports=3)
    proposal = proposal_in(session, consultation)
    headers = someone(session)
    support(client, proposal, headers)
    support(client, proposal, someone(session))
    response = unsupport(client, proposal, headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"supported": False, "supports": 1, "remaining": 3}
    assert unsupport(client, proposal, headers).json() == {"supported": False, "supports": 1, "remaining": 3}
    assert rows(session, proposal) == 1


def test_without_a_limit_remaining_is_null(client: TestClient, session: Session) -> None:
    proposal = proposal_in(session, make_consultation(session, max_supports=0))
    assert support(client, proposal, someone(session)).json() == {"supported": True, "supports": 1,
                                                                  "remaining": None}


def test_the_limit_is_a_409_with_its_type(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, max_supports=2)
    a, b, c = (proposal_in(session, consultation) for _ in range(3))
    headers = someone(session)
    assert support(client, a, headers).json()["remaining"] == 1
    assert support(client, b, headers).json()["remaining"] == 0
    data = problem(support(client, c, headers), 409, "/problems/support-limit-reached")
    assert data["detail"] == ("Vous avez utilisé tous vos soutiens pour cette consultation. "
                              "Retirez-en un pour soutenir une autre proposition.")
    assert rows(session, c) == 0
    assert support(client, a, headers).status_code == 200  # still idempotent at the limit
    assert unsupport(client, a, headers).json()["remaining"] == 1
    assert support(client, c, headers).json() == {"supported": True, "supports": 1, "remaining": 0}


@pytest.mark.parametrize("phase", ["information", "proposals", "results", "follow_up"])
def test_outside_the_voting_phase_is_409(client: TestClient, session: Session, phase: str) -> None:
    proposal = proposal_in(session, make_consultation(session, phase=phase))
    headers = someone(session)
    data = problem(support(client, proposal, headers), 409, "/problems/voting-closed")
    assert data["detail"] == "Le vote n’est pas ouvert en ce moment : cette consultation n’est pas en phase de vote."
    problem(unsupport(client, proposal, headers), 409, "/problems/voting-closed")


def test_the_vote_closes_with_the_clock(client: TestClient, app: FastAPI, session: Session) -> None:
    proposal = proposal_in(session, make_consultation(session))
    headers = someone(session)
    assert support(client, proposal, headers).status_code == 200
    app.state.clock = lambda: NOW.replace(year=NOW.year + 1)
    problem(unsupport(client, proposal, headers), 409, "/problems/voting-closed")
    assert rows(session, proposal) == 1


@pytest.mark.parametrize(
    ("user", "rules", "detail"),
    [
        ({"commune": "59002"}, {"scope_kind": "epci", "scope_code": LENS_LIEVIN},
         "Cette consultation est réservée aux habitants de la Communauté d’agglomération de Lens - Liévin."),
        ({"commune": "62510"}, {"scope_kind": "commune", "scope_code": "62498"},
         "Cette consultation est réservée aux habitants de Lens."),
        ({"commune": None}, {}, "Indiquez d’abord votre commune de résidence, depuis votre compte."),
        ({"verification": "declared"}, {"required_verification": "verified"}, None),
        ({"birth_year": NOW.year - 15}, {"min_age": 16}, "Cette consultation est ouverte à partir de 16 ans."),
        ({"birth_year": None}, {"min_age": 16}, None),
    ],
)
def test_ineligible_residents_get_403(client: TestClient, session: Session, user: dict[str, Any],
                                      rules: dict[str, Any], detail: str | None) -> None:
    proposal = proposal_in(session, make_consultation(session, **rules))
    headers = someone(session, **user)
    data = problem(support(client, proposal, headers), 403, "/problems/not-eligible")
    if detail:
        assert data["detail"] == detail
    assert rows(session, proposal) == 0
    problem(unsupport(client, proposal, headers), 403, "/problems/not-eligible")


def test_visitors_get_401(client: TestClient, session: Session) -> None:
    proposal = proposal_in(session, make_consultation(session))
    assert support(client, proposal, {}).status_code == 401
    assert unsupport(client, proposal, {}).status_code == 401


def test_withdrawn_and_unknown_proposals(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session)
    withdrawn = proposal_in(session, consultation, state="withdrawn")
    problem(support(client, withdrawn, someone(session)), 409, "/problems/not-supportable")
    hidden = proposal_in(session, consultation, state="hidden")
    problem(support(client, hidden, someone(session)), 404, "about:blank")
    assert client.put("/api/v1/proposals/999999999/support", headers=someone(session)).status_code == 404


def test_other_voting_methods_are_409(client: TestClient, session: Session) -> None:
    proposal = proposal_in(session, make_consultation(session, voting_method="majority_judgment"))
    problem(support(client, proposal, someone(session)), 409, "/problems/wrong-method")


def test_withdrawing_a_proposal_gives_supports_back_through_the_api(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, max_supports=1)
    author_user = make_user(session)
    author = bearer(session, author_user)
    withdrawn = make_proposal(session, consultation, author_user)
    other = proposal_in(session, consultation)
    voter = someone(session)
    assert support(client, withdrawn, voter).json()["remaining"] == 0
    problem(support(client, other, voter), 409, "/problems/support-limit-reached")
    assert client.post(f"/api/v1/proposals/{withdrawn.id}/withdraw", headers=author).status_code == 200
    assert support(client, other, voter).json() == {"supported": True, "supports": 1, "remaining": 0}
    # Taking back the old support on the withdrawn proposal frees nothing more.
    assert unsupport(client, withdrawn, voter).json()["remaining"] == 0
    problem(support(client, proposal_in(session, consultation), voter), 409, "/problems/support-limit-reached")
    # The ranking no longer counts it.
    ranking = client.get(f"/api/v1/consultations/{consultation.id}/proposals", params={"sort": "supports"}).json()
    assert ranking["items"][-1]["id"] == withdrawn.id


def test_erasing_an_account_keeps_its_supports_counted(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, max_supports=2)
    proposal = proposal_in(session, consultation)
    user = make_user(session)
    headers = bearer(session, user)
    support(client, proposal, headers)
    support(client, proposal, someone(session))
    accounts.erase_account(session, DatabaseSessionStore(lambda **_options: nullcontext(session)), user, now=NOW)
    session.commit()
    assert client.get(f"/api/v1/proposals/{proposal.id}").json()["supports"] == 2
    voters = session.exec(select(SupportVote.voter_id).where(SupportVote.proposal_id == proposal.id)).all()
    assert None in voters
    assert user.id not in voters
    assert session.exec(select(Participation).where(Participation.voter_id == user.id)).first() is None
    assert support(client, proposal, headers).status_code == 401  # their token went with the account


def test_the_first_vote_freezes_the_rules(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, max_supports=3)
    proposal = proposal_in(session, consultation)
    support(client, proposal, someone(session))
    session.refresh(consultation)
    assert consultation.first_vote_at == NOW
