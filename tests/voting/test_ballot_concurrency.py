"""A resident replacing their ballot from two requests at once ends with one whole ballot, never a
mix: concurrent `cast_ballot` calls on a real engine (a fresh database per module, committed data,
one thread and one writing session per request, as the app opens them, started together by a
barrier), on SQLite and PostgreSQL.

Each request casts at its own instant, so the stored ballot's `updated_at` names the request whose
write stands; its lines must then be exactly what that request sent.

- 2, then 10 different complete majority-judgment ballots of one resident, three rounds each;
- the same with budget selections;
- replacements racing withdrawals: one whole ballot, or none and no line left;
- ten residents' first ballots at once: all counted, the rules frozen once;
- the first readers after the vote, at once: one results snapshot, the same results for all;
- the ballots and the readers through the HTTP API: every answer 200, none 500."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path
from threading import Barrier
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.models import User
from app.consultations.models import Consultation
from app.core.db import session_factory
from app.proposals.models import Proposal
from app.voting import results
from app.voting.ballots import NoBallot, cast_ballot, withdraw_ballot
from app.voting.methods.majority_judgment import GRADES
from app.voting.models import Ballot, BallotChoice, BallotGrade, ResultSnapshot
from tests.concurrency import app_on, bearer_for, fresh_database, seeded_engine
from tests.factories import NOW, make_consultation, make_proposal, make_user

SECOND = timedelta(seconds=1)
POOL = 15  # connections per engine: two xdist workers stay well below PostgreSQL's 100


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own, outside the shared, rolled-back one: the data is committed
    for real, or the other threads would not see it."""
    with fresh_database(request.param, tmp_path_factory, "ballot_race") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    with seeded_engine(database_url, pool_size=POOL, pool_timeout=30) as engine:
        yield engine


def setup(engine: Engine, method: str, costs: tuple[int | None, ...], budget_total: int | None = None,
          voters: int = 1) -> tuple[int, list[int], list[int]]:
    """A consultation in its voting phase with its proposals and voters, committed."""
    with Session(engine) as session:
        consultation = make_consultation(session, voting_method=method, budget_total=budget_total)
        author = make_user(session)
        made = [make_proposal(session, consultation, author, estimated_cost=cost, now=NOW - timedelta(days=9 - n))
                for n, cost in enumerate(costs)]
        ids = [proposal.id or 0 for proposal in made]
        people = [make_user(session).id or 0 for _ in range(voters)]
        session.commit()
        return consultation.id or 0, ids, people


def race(engine: Engine, calls: list[Callable[[Session], Any]]) -> list[Any]:
    """Run every call at once, each in its own thread with its own writing session that commits,
    as one request each; return what each returned or raised."""
    open_session = session_factory(engine)
    barrier = Barrier(len(calls), timeout=30)

    def request(call: Callable[[Session], Any]) -> Any:
        barrier.wait()
        try:
            with open_session(write=True) as session:
                result = call(session)
                session.commit()
                return result
        except Exception as error:  # reported to the test, which says which ones it expects
            return error

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(request, calls))


def casting(consultation_id: int, voter_id: int, now: datetime, **ballot: Any) -> Callable[[Session], Any]:
    def call(session: Session) -> Any:
        user = session.get(User, voter_id)
        consultation = session.get(Consultation, consultation_id)
        assert user is not None
        assert consultation is not None
        return cast_ballot(session, accounts.load_principal(session, user), consultation, now=now, **ballot)

    return call


def withdrawing(consultation_id: int, voter_id: int, now: datetime) -> Callable[[Session], Any]:
    def call(session: Session) -> Any:
        user = session.get(User, voter_id)
        consultation = session.get(Consultation, consultation_id)
        assert user is not None
        assert consultation is not None
        withdraw_ballot(session, accounts.load_principal(session, user), consultation, now=now)
        return "withdrawn"

    return call


def stored(engine: Engine, consultation_id: int, voter_id: int) -> tuple[list[Ballot], dict[int, str], set[int]]:
    """The resident's ballot rows, and every line (grades, choices) on the consultation's proposals,
    whatever ballot they belong to."""
    with Session(engine) as session:
        rows = list(session.exec(select(Ballot).where(Ballot.consultation_id == consultation_id,
                                                      Ballot.voter_id == voter_id)))
        grades = session.exec(
            select(BallotGrade.proposal_id, BallotGrade.grade)
            .join(Proposal, col(Proposal.id) == BallotGrade.proposal_id)
            .where(Proposal.consultation_id == consultation_id)
        ).all()
        choices = session.exec(
            select(BallotChoice.proposal_id)
            .join(Proposal, col(Proposal.id) == BallotChoice.proposal_id)
            .where(Proposal.consultation_id == consultation_id)
        ).all()
        assert len(grades) == len(dict(grades)), "two lines for one proposal"
        assert len(choices) == len(set(choices)), "a proposal chosen twice"
        return rows, dict(grades), set(choices)


def distinct_grades(ids: list[int], count: int) -> list[dict[int, str]]:
    """`count` different complete ballots: ballot i writes i in base 7, one digit per proposal."""
    return [{pid: GRADES[(i // 7**j + j) % 7] for j, pid in enumerate(ids)} for i in range(count)]


@pytest.mark.parametrize("requests", [2, 10])
def test_concurrent_majority_judgment_ballots_leave_one_whole_ballot(engine: Engine, requests: int) -> None:
    consultation_id, ids, [voter] = setup(engine, "majority_judgment", (None, None, None))
    first_cast: datetime | None = None
    for round_ in range(3):
        ballots = distinct_grades(ids, requests + round_)[round_:]
        moments = [NOW + (round_ * requests + i) * SECOND for i in range(requests)]
        outcomes = race(engine, [casting(consultation_id, voter, moment, grades=ballot)
                                       for moment, ballot in zip(moments, ballots, strict=True)])
        for outcome, ballot in zip(outcomes, ballots, strict=True):
            assert not isinstance(outcome, Exception), repr(outcome)
            assert outcome.grades == ballot  # each request saw its own ballot, whole
        [row], grades, _choices = stored(engine, consultation_id, voter)
        winner = moments.index(row.updated_at)
        assert grades == ballots[winner]
        # Replacing keeps the time of the first ballot: that of whichever request inserted it.
        first_cast = first_cast or row.cast_at
        assert row.cast_at == first_cast
        assert round_ or first_cast in moments


@pytest.mark.parametrize("requests", [2, 10])
def test_concurrent_budget_ballots_leave_one_whole_ballot(engine: Engine, requests: int) -> None:
    consultation_id, ids, [voter] = setup(engine, "budget", (1000, 1000, 1000, 1000, 1000), budget_total=3000)
    choices = [list(pair) for pair in combinations(ids, 2)]  # ten different selections
    for round_ in range(3):
        mine = choices[round_:][:requests] if requests < len(choices) else choices
        moments = [NOW + (round_ * requests + i) * SECOND for i in range(requests)]
        outcomes = race(engine, [casting(consultation_id, voter, moment, proposal_ids=choice)
                                       for moment, choice in zip(moments, mine, strict=True)])
        for outcome, choice in zip(outcomes, mine, strict=True):
            assert not isinstance(outcome, Exception), repr(outcome)
            assert outcome.proposals == sorted(choice)
        [row], _grades, chosen = stored(engine, consultation_id, voter)
        assert chosen == set(mine[moments.index(row.updated_at)])


def test_a_withdrawal_racing_replacements_leaves_a_whole_ballot_or_none(engine: Engine) -> None:
    consultation_id, ids, [voter] = setup(engine, "majority_judgment", (None, None, None))
    ballots = distinct_grades(ids, 10)
    for round_ in range(3):
        moments = [NOW + (round_ * 10 + i) * SECOND for i in range(10)]
        calls = [casting(consultation_id, voter, moments[i], grades=ballots[i]) if i % 2 == 0
                 else withdrawing(consultation_id, voter, moments[i]) for i in range(10)]
        outcomes = race(engine, calls)
        for i, outcome in enumerate(outcomes):
            if i % 2 == 0:
                assert not isinstance(outcome, Exception), repr(outcome)
                assert outcome.grades == ballots[i]
            else:
                assert outcome == "withdrawn" or isinstance(outcome, NoBallot), repr(outcome)
        rows, grades, _choices = stored(engine, consultation_id, voter)
        if rows:
            [row] = rows
            assert grades == ballots[moments.index(row.updated_at)]
        else:
            assert grades == {}  # no line outlives its ballot


def test_first_ballots_of_many_residents_at_once(engine: Engine) -> None:
    """Ten residents' first ballots at the same moment: all counted; the rules freeze once."""
    consultation_id, ids, voters = setup(engine, "majority_judgment", (None, None), voters=10)
    ballots = distinct_grades(ids, 10)
    outcomes = race(engine, [casting(consultation_id, voter, NOW + i * SECOND, grades=ballots[i])
                                   for i, voter in enumerate(voters)])
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Ballot)
                            .where(Ballot.consultation_id == consultation_id)).one() == 10
        assert session.exec(select(func.count()).select_from(BallotGrade)
                            .where(col(BallotGrade.proposal_id).in_(ids))).one() == 20
        consultation = session.get(Consultation, consultation_id)
        assert consultation is not None
        assert consultation.first_vote_at in [NOW + i * SECOND for i in range(10)]
        for voter, ballot in zip(voters, ballots, strict=True):
            [row] = session.exec(select(Ballot).where(Ballot.consultation_id == consultation_id,
                                                      Ballot.voter_id == voter)).all()
            lines = session.exec(select(BallotGrade.proposal_id, BallotGrade.grade)
                                 .where(BallotGrade.ballot_id == row.id)).all()
            assert dict(lines) == ballot


@pytest.mark.parametrize("requests", [2, 5])
def test_the_results_snapshot_is_stored_once_when_asked_for_at_once(engine: Engine, requests: int) -> None:
    """The first readers after the vote, at the same moment: one snapshot, the same results for all
    (reading requests, as GET opens them: no write lock taken up front)."""
    consultation_id, ids, voters = setup(engine, "majority_judgment", (None, None), voters=3)
    race(engine, [casting(consultation_id, voter, NOW, grades={ids[0]: GRADES[i], ids[1]: GRADES[6 - i]})
                        for i, voter in enumerate(voters)])
    open_session = session_factory(engine)
    barrier = Barrier(requests, timeout=30)

    def read(n: int) -> Any:
        barrier.wait()
        try:
            with open_session() as session:
                consultation = session.get(Consultation, consultation_id)
                assert consultation is not None
                found = results.get_results(session, consultation, now=consultation.results_starts_at + n * SECOND)
                session.commit()
                return found
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=requests) as pool:
        outcomes = list(pool.map(read, range(requests)))
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)], outcomes
    with Session(engine) as session:
        [snapshot] = session.exec(select(ResultSnapshot).where(ResultSnapshot.consultation_id == consultation_id)).all()
    for outcome in outcomes:
        assert (outcome.items, outcome.computed_at, outcome.is_final) == (snapshot.items, snapshot.computed_at, True)


# --- the same races through the HTTP API: every answer as expected, none a 500


@pytest.fixture
def api(engine: Engine, database_url: str, tmp_path: Path) -> FastAPI:
    """The application on this module's database, every request with its own session."""
    return app_on(engine, database_url, tmp_path)


def together(count: int, call: Callable[[int], Any]) -> list[Any]:
    barrier = Barrier(count, timeout=30)

    def run(index: int) -> Any:
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_ten_different_ballots_of_one_resident_through_the_api(api: FastAPI, engine: Engine) -> None:
    consultation_id, ids, [voter] = setup(engine, "majority_judgment", (None, None, None))
    headers = bearer_for(engine, voter)
    ballots = distinct_grades(ids, 10)

    def put(index: int) -> tuple[int, Any]:
        body = {"grades": {str(pid): grade for pid, grade in ballots[index].items()}}
        response = TestClient(api).put(f"/api/v1/consultations/{consultation_id}/ballot", json=body, headers=headers)
        return response.status_code, response.json()

    outcomes = together(10, put)
    assert [status for status, _ in outcomes] == [200] * 10, outcomes
    for (_, body), ballot in zip(outcomes, ballots, strict=True):
        assert body["grades"] == {str(pid): grade for pid, grade in ballot.items()}
    [_row], grades, _choices = stored(engine, consultation_id, voter)
    assert grades in ballots


def test_the_first_readers_after_the_vote_all_get_the_same_results(api: FastAPI, engine: Engine) -> None:
    """Read requests that store the snapshot at once: every answer 200 and the same, one snapshot."""
    consultation_id, ids, voters = setup(engine, "budget", (1000, 2000, 3000), budget_total=4000, voters=3)
    race(engine, [casting(consultation_id, voter, NOW, proposal_ids=[ids[i]]) for i, voter in enumerate(voters)])
    with Session(engine) as session:
        consultation = session.get(Consultation, consultation_id)
        assert consultation is not None
        closed = consultation.results_starts_at
    api.state.clock = lambda: closed

    def get(_: int) -> tuple[int, Any]:
        response = TestClient(api).get(f"/api/v1/consultations/{consultation_id}/results")
        return response.status_code, response.json()

    outcomes = together(6, get)
    assert [status for status, _ in outcomes] == [200] * 6, outcomes
    assert len({str(body) for _, body in outcomes}) == 1
    assert [(item["proposal_id"], item["funded"]) for item in outcomes[0][1]["items"]] == [
        (ids[0], True), (ids[1], True), (ids[2], False)]
    with Session(engine) as session:
        assert len(session.exec(select(ResultSnapshot).where(ResultSnapshot.consultation_id == consultation_id))
                   .all()) == 1
