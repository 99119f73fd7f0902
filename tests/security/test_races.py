"""Races through the HTTP API (issue #9 item 4; SECURITY-NOTES B1-B4, B6, V10, ASVS 11.1.6 / 2.3.4):
many residents and one resident's double clicks, tabs and retries, sent at once by threads released
together by a barrier to the application on a real engine (a fresh database for this module, every
request with its own session), on PostgreSQL for real concurrency and on SQLite. Afterwards the
database holds exactly what the rules allow.

What the service-level concurrency tests (tests/voting, tests/moderation) do not already cover:
- many residents, each one support short of the consultation's max_supports, supporting three
  proposals at once: each ends at the limit exactly, every counter equals its rows;
- one resident's budget ballots from several tabs, some over budget, and double clicks on a
  majority-judgment ballot: one ballot, never over budget, exactly what one accepted request sent;
- a moderator's merge (POST /api/v1/proposals/merge) while residents support the duplicates and
  the proposal that stays: each resident counts once, counters equal rows, supports_used equals
  the supports each resident holds;
- account erasure (DELETE /api/v1/me) while the person supports and casts ballots from other
  tabs: no vote left linked to the erased account, counts consistent."""

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.consultations.models import Consultation
from app.proposals.models import Proposal
from app.voting.models import Ballot, BallotChoice, BallotGrade, Participation, SupportVote
from tests.concurrency import app_on, bearer_for, fresh_database, seeded_engine
from tests.factories import NOW, make_consultation, make_proposal, make_user

POOL = 40  # connections: two xdist workers stay below PostgreSQL's 100
JOIN_TIMEOUT_S = 90


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory, "security_race") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    with seeded_engine(database_url, pool_size=POOL, pool_timeout=JOIN_TIMEOUT_S) as engine:
        yield engine


@pytest.fixture
def api(engine: Engine, database_url: str, tmp_path: Path) -> FastAPI:
    return app_on(engine, database_url, tmp_path)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


def race(calls: list[Callable[[], Answer]]) -> list[Answer]:
    """Every call in its own thread, released together; an exception fails the test."""
    barrier = threading.Barrier(len(calls))
    answers: list[Answer | BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT_S)
            answers[index] = calls[index]()
        except BaseException as error:  # reported below
            answers[index] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a request is stuck"
    failures = [a for a in answers if not isinstance(a, Answer)]
    assert failures == [], failures
    assert all(a.status < 500 for a in answers if isinstance(a, Answer)), answers
    return [a for a in answers if isinstance(a, Answer)]


def call(api: FastAPI, method: str, url: str, headers: dict[str, str], json: Any = None) -> Callable[[], Answer]:
    def send() -> Answer:
        response = TestClient(api).request(method, url, headers=headers, json=json)
        body = response.json() if response.content else None
        return Answer(response.status_code, body)
    return send


def stage(engine: Engine, *, voters: int, costs: tuple[int | None, ...] = (None, None, None), **fields: Any
          ) -> tuple[int, list[int], list[int]]:
    """A consultation in its voting phase, its proposals and its residents, committed."""
    with Session(engine) as session:
        consultation = make_consultation(session, **fields)
        author = make_user(session)
        made = [make_proposal(session, consultation, author, estimated_cost=cost) for cost in costs]
        people = [make_user(session) for _ in range(voters)]
        session.commit()
        return consultation.id or 0, [p.id or 0 for p in made], [u.id or 0 for u in people]


def support_rows(session: Session, **where: int) -> int:
    query = select(func.count()).select_from(SupportVote)
    for name, value in where.items():
        query = query.where(getattr(SupportVote, name) == value)
    return session.exec(query).one()


def assert_support_counts_hold(engine: Engine, consultation_id: int) -> None:
    """Every proposal's counter equals its rows; every participation equals its resident's rows on
    proposals still counted (not withdrawn, not merged)."""
    with Session(engine) as session:
        for proposal in session.exec(select(Proposal).where(Proposal.consultation_id == consultation_id)):
            assert proposal.supports_count == support_rows(session, proposal_id=proposal.id or 0), proposal.id
        counted = select(Proposal.id).where(Proposal.consultation_id == consultation_id,
                                            col(Proposal.state).not_in(["withdrawn", "merged"]))
        for participation in session.exec(select(Participation).where(
                Participation.consultation_id == consultation_id)):
            held = session.exec(select(func.count()).select_from(SupportVote).where(
                SupportVote.voter_id == participation.voter_id, col(SupportVote.proposal_id).in_(counted))).one()
            assert participation.supports_used == held, participation


def test_many_residents_one_support_short_of_the_limit(api: FastAPI, engine: Engine) -> None:
    """Twelve residents hold one support of two; each supports three more proposals at once."""
    consultation_id, proposals, voters = stage(engine, voters=12, costs=(None,) * 4, max_supports=2)
    first, *others = proposals
    headers = {voter: bearer_for(engine, voter) for voter in voters}
    for voter in voters:
        assert call(api, "PUT", f"/api/v1/proposals/{first}/support", headers[voter])().status == 200
    answers = race([call(api, "PUT", f"/api/v1/proposals/{pid}/support", headers[voter])
                    for voter in voters for pid in others])
    assert sorted(a.status for a in answers) == [200] * 12 + [409] * 24
    assert {a.body["type"] for a in answers if a.status == 409} == {"/problems/support-limit-reached"}
    with Session(engine) as session:
        for voter in voters:
            assert support_rows(session, voter_id=voter, consultation_id=consultation_id) == 2, voter
        assert session.exec(select(func.sum(Proposal.supports_count)).where(
            col(Proposal.id).in_(others))).one() == 12
    assert_support_counts_hold(engine, consultation_id)


def ballot_of(engine: Engine, consultation_id: int, voter_id: int) -> tuple[int, dict[int, str], set[int]]:
    """How many ballots the resident has in the consultation, and the lines of the one there is."""
    with Session(engine) as session:
        ballots = list(session.exec(select(Ballot).where(Ballot.consultation_id == consultation_id,
                                                         Ballot.voter_id == voter_id)))
        if not ballots:
            return 0, {}, set()
        ids = [b.id for b in ballots]
        grades = {g.proposal_id: g.grade for g in session.exec(
            select(BallotGrade).where(col(BallotGrade.ballot_id).in_(ids)))}
        choices = {c.proposal_id for c in session.exec(select(BallotChoice).where(
            col(BallotChoice.ballot_id).in_(ids)))}
        return len(ballots), grades, choices


def test_one_residents_budget_ballots_from_several_tabs_stay_within_the_budget(api: FastAPI,
                                                                             engine: Engine) -> None:
    """Budget 100: 60+50 and 60+50+30 are over it; the others fit. Two of each, at once."""
    costs = (60, 50, 40, 30)
    consultation_id, (a, b, c, d), (voter,) = stage(engine, voters=1, costs=costs, voting_method="budget",
                                                   budget_total=100)
    headers = bearer_for(engine, voter)
    selections = [[a, b], [a, b, d], [a, c], [b, c], [a, d], [b, d], [c, d], [d]]
    answers = race([call(api, "PUT", f"/api/v1/consultations/{consultation_id}/ballot", headers,
                         {"proposals": selection}) for selection in selections for _ in range(2)])
    refused = [a for a in answers if a.status != 200]
    assert len(refused) == 4
    assert {a.status for a in refused} == {422}
    assert {a.body["type"] for a in refused} == {"/problems/over-budget"}
    count, _grades, choices = ballot_of(engine, consultation_id, voter)
    assert count == 1
    assert sum(cost for pid, cost in zip((a, b, c, d), costs, strict=True) if pid in choices) <= 100
    assert sorted(choices) in [sorted(s) for s in selections[2:]]


def test_double_clicks_and_retries_on_a_majority_judgment_ballot(api: FastAPI, engine: Engine) -> None:
    consultation_id, proposals, (voter,) = stage(engine, voters=1, voting_method="majority_judgment")
    headers = bearer_for(engine, voter)
    first = dict.fromkeys(map(str, proposals), "bien")
    second = dict.fromkeys(map(str, proposals), "passable")
    url = f"/api/v1/consultations/{consultation_id}/ballot"
    answers = race([call(api, "PUT", url, headers, {"grades": grades}) for grades in [first] * 6 + [second] * 6])
    assert {a.status for a in answers} == {200}
    count, grades, _choices = ballot_of(engine, consultation_id, voter)
    assert count == 1
    assert set(grades) == set(proposals)
    assert len(set(grades.values())) == 1  # one whole ballot, never a mix


def test_a_merge_racing_supports_counts_each_resident_once(api: FastAPI, engine: Engine) -> None:
    consultation_id, (target, *sources), voters = stage(engine, voters=12, costs=(None,) * 3, max_supports=3)
    with Session(engine) as session:
        moderator = make_user(session)
        accounts.grant_role(session, moderator, Role.moderator, now=NOW, consultation_id=consultation_id)
        session.commit()
        moderator_id = moderator.id or 0
    headers = {voter: bearer_for(engine, voter) for voter in voters}
    for voter in voters[:6]:  # half already support a duplicate
        assert call(api, "PUT", f"/api/v1/proposals/{sources[voter % 2]}/support", headers[voter])().status == 200
    calls = [call(api, "POST", "/api/v1/proposals/merge", bearer_for(engine, moderator_id),
                  {"into": target, "from": sources})]
    for index, voter in enumerate(voters):
        calls += [call(api, "PUT", f"/api/v1/proposals/{pid}/support", headers[voter])
                  for pid in ([target, *sources] if index % 3 == 0 else [sources[index % 2], target])]
    answers = race(calls)
    assert answers[0].status == 200, answers[0]
    assert {a.status for a in answers[1:]} <= {200, 409}
    with Session(engine) as session:
        for voter in voters:
            assert support_rows(session, voter_id=voter, proposal_id=target) == 1, voter
            for source in sources:
                assert support_rows(session, voter_id=voter, proposal_id=source) == 0, voter
        proposal = session.get(Proposal, target)
        assert proposal is not None
        assert proposal.supports_count == len(voters)
    assert_support_counts_hold(engine, consultation_id)


@pytest.mark.parametrize("method", ["support", "majority_judgment"])
def test_erasure_racing_the_persons_own_votes(api: FastAPI, engine: Engine, method: str) -> None:
    """Six residents each erase their account while four other tabs of theirs vote."""
    consultation_id, proposals, voters = stage(engine, voters=6, costs=(None,) * 4, voting_method=method)
    calls = []
    for voter in voters:
        headers = bearer_for(engine, voter)
        # Used once already, as a token in use is: its requests no longer write its last use,
        # which would serialise them all on the token's row.
        assert call(api, "GET", "/api/v1/me", headers)().status == 200
        calls.append(call(api, "DELETE", "/api/v1/me", headers))
        if method == "support":
            calls += [call(api, "PUT", f"/api/v1/proposals/{pid}/support", headers) for pid in proposals]
        else:
            calls += [call(api, "PUT", f"/api/v1/consultations/{consultation_id}/ballot", headers,
                           {"grades": dict.fromkeys(map(str, proposals), grade)})
                      for grade in ("bien", "passable", "excellent", "insuffisant")]
    answers = race(calls)
    assert {a.status for a in answers[::5]} == {204}
    assert {a.status for i, a in enumerate(answers) if i % 5} <= {200, 401}
    with Session(engine) as session:
        for voter in voters:
            user = session.get(User, voter)
            assert user is not None
            assert user.erased_at is not None
            assert support_rows(session, voter_id=voter) == 0
            assert session.exec(select(func.count()).select_from(Ballot).where(Ballot.voter_id == voter)).one() == 0
            assert session.exec(select(func.count()).select_from(Participation).where(
                Participation.voter_id == voter)).one() == 0
        consultation = session.get(Consultation, consultation_id)
        assert consultation is not None
        accepted = sum(1 for i, a in enumerate(answers) if i % 5 and a.status == 200)
        if method == "support":  # every support acknowledged stays counted, unlinked
            assert support_rows(session, consultation_id=consultation_id) == accepted
        else:  # every resident with an acknowledged ballot has one whole, unlinked ballot
            ballots = list(session.exec(select(Ballot).where(Ballot.consultation_id == consultation_id)))
            assert all(b.voter_id is None for b in ballots)
            with_ballot = {voter for n, voter in enumerate(voters)
                           if any(a.status == 200 for a in answers[5 * n + 1:5 * n + 5])}
            assert len(ballots) == len(with_ballot)
            for ballot in ballots:
                grades = list(session.exec(select(BallotGrade.grade).where(BallotGrade.ballot_id == ballot.id)))
                assert len(grades) == len(proposals)
                assert len(set(grades)) == 1
    assert_support_counts_hold(engine, consultation_id)
