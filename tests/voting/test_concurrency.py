"""The vote rules hold in the database under concurrent requests, on SQLite and PostgreSQL.

Not in the rolled-back test session: each test module gets a fresh database (a temporary file, or
a PostgreSQL database of its own), migrated and seeded, and every thread works through its own
session from the app's session factory (SQLite: BEGIN IMMEDIATE, as the app's writing requests),
started together by a barrier, committing as a request would:

- 50 identical supports by one resident on one proposal leave exactly one;
- one resident with max_supports=3 supporting 10 proposals at once gets exactly 3;
- 20 residents supporting one proposal at once: its counter equals its rows;
- a resident's support / withdrawal races (two tabs, then a storm) end consistent;
- the same 50 identical supports through the HTTP API: every answer 200, none 500."""

import contextlib
import random
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
from app.accounts.models import User
from app.consultations.models import Consultation
from app.core.db import session_factory
from app.proposals import service as proposals
from app.proposals.models import Proposal
from app.voting import service as voting
from app.voting.models import Participation, SupportVote
from tests.concurrency import app_on, bearer_for, fresh_database, seeded_engine
from tests.factories import NOW, make_consultation, make_proposal, make_user

POOL = 25  # connections per engine: two xdist workers stay well below PostgreSQL's 100
JOIN_TIMEOUT_S = 60


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own, outside the shared, rolled-back one."""
    with fresh_database(request.param, tmp_path_factory, "voting_race") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    with seeded_engine(database_url, pool_size=POOL, pool_timeout=JOIN_TIMEOUT_S) as engine:
        yield engine


@dataclass(frozen=True)
class Scene:
    consultation_id: int
    proposal_ids: list[int]
    voter_ids: list[int]


def stage(engine: Engine, *, max_supports: int = 0, proposals: int = 1, voters: int = 1) -> Scene:
    """A consultation in its voting phase with its proposals and voters, committed."""
    with Session(engine) as session:
        consultation = make_consultation(session, max_supports=max_supports)
        author = make_user(session)
        made = [make_proposal(session, consultation, author) for _ in range(proposals)]
        people = [make_user(session) for _ in range(voters)]
        session.commit()
        return Scene(consultation.id or 0, [p.id or 0 for p in made], [u.id or 0 for u in people])


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: BaseException | None = None


def race(count: int, action: Callable[[int], Any]) -> list[Outcome]:
    """Run action(0) … action(count - 1) in as many threads, released together; every call either
    returns or has its exception recorded (none escapes, none is lost)."""
    barrier = threading.Barrier(count)
    outcomes: list[Outcome | None] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT_S)
            outcomes[index] = Outcome(value=action(index))
        except BaseException as error:  # recorded, and checked by the test
            outcomes[index] = Outcome(error=error)

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def errors(outcomes: list[Outcome], *expected: type[BaseException]) -> list[BaseException]:
    """The errors other than the expected kinds."""
    return [o.error for o in outcomes if o.error is not None and not isinstance(o.error, expected)]


def in_request(engine: Engine, voter_id: int, proposal_id: int, what: str) -> voting.SupportState:
    """One writing request: its own session (BEGIN IMMEDIATE on SQLite), the principal loaded in
    it, the service call, one commit."""
    with session_factory(engine)(write=True) as session:
        user = session.get(User, voter_id)
        assert user is not None
        principal = accounts.load_principal(session, user)
        proposal = session.get(Proposal, proposal_id)
        assert proposal is not None
        act = voting.add_support if what == "add" else voting.withdraw_support
        state = act(session, principal, proposal, now=NOW)
        session.commit()
        return state


@dataclass(frozen=True)
class Counts:
    rows: dict[int, int]  # support_vote rows per proposal
    counters: dict[int, int]  # proposal.supports_count
    used: dict[int, int]  # participation.supports_used per voter
    held: dict[int, int]  # support rows per voter


def counts(engine: Engine, scene: Scene) -> Counts:
    with Session(engine) as session:
        rows = {pid: session.exec(select(func.count()).select_from(SupportVote)
                                  .where(SupportVote.proposal_id == pid)).one() for pid in scene.proposal_ids}
        counters = {p.id or 0: p.supports_count for p in session.exec(
            select(Proposal).where(col(Proposal.id).in_(scene.proposal_ids)))}
        used = {p.voter_id: p.supports_used for p in session.exec(
            select(Participation).where(Participation.consultation_id == scene.consultation_id))}
        held = {vid: session.exec(select(func.count()).select_from(SupportVote).where(
            SupportVote.voter_id == vid, SupportVote.consultation_id == scene.consultation_id)).one()
            for vid in scene.voter_ids}
        return Counts(rows, counters, used, held)


def assert_consistent(engine: Engine, scene: Scene) -> Counts:
    """Every counter equals the rows it counts."""
    seen = counts(engine, scene)
    assert seen.counters == seen.rows
    for voter_id in scene.voter_ids:
        assert seen.used.get(voter_id, 0) == seen.held[voter_id], voter_id
    return seen


@pytest.mark.parametrize("max_supports", [0, 1])
def test_fifty_identical_supports_leave_one(engine: Engine, max_supports: int) -> None:
    """With a limit of one too: the twins that wait while the first takes the last support are
    told the resident supports it (idempotent), not that the limit is reached."""
    scene = stage(engine, max_supports=max_supports)
    (voter,), (proposal,) = scene.voter_ids, scene.proposal_ids
    outcomes = race(50, lambda _: in_request(engine, voter, proposal, "add"))
    assert errors(outcomes) == []
    remaining = 0 if max_supports else None
    assert {o.value for o in outcomes} == {voting.SupportState(supported=True, supports=1, remaining=remaining)}
    seen = assert_consistent(engine, scene)
    assert seen.rows == {proposal: 1}
    assert seen.used == {voter: 1}
    with Session(engine) as session:
        consultation = session.get(Consultation, scene.consultation_id)
        assert consultation is not None
        assert consultation.first_vote_at == NOW


def test_concurrent_supports_never_exceed_max_supports(engine: Engine) -> None:
    scene = stage(engine, max_supports=3, proposals=10)
    (voter,) = scene.voter_ids
    outcomes = race(10, lambda i: in_request(engine, voter, scene.proposal_ids[i], "add"))
    assert errors(outcomes, voting.SupportLimitReached) == []
    accepted = [o.value for o in outcomes if o.error is None]
    refused = [o.error for o in outcomes if o.error is not None]
    assert len(accepted) == 3
    assert len(refused) == 7
    assert all(state.supported for state in accepted)
    assert sorted(state.remaining for state in accepted) == [0, 1, 2]
    seen = assert_consistent(engine, scene)
    assert sum(seen.rows.values()) == 3
    assert seen.used == {voter: 3}


def test_many_residents_supporting_one_proposal(engine: Engine) -> None:
    scene = stage(engine, voters=20)
    (proposal,) = scene.proposal_ids
    outcomes = race(20, lambda i: in_request(engine, scene.voter_ids[i], proposal, "add"))
    assert errors(outcomes) == []
    seen = assert_consistent(engine, scene)
    assert seen.rows == seen.counters == {proposal: 20}
    assert sorted(o.value.supports for o in outcomes) == list(range(1, 21))  # each saw its own vote counted


def test_two_tabs_supporting_and_withdrawing(engine: Engine) -> None:
    """One tab supports then withdraws, the other withdraws then supports, again and again."""
    scene = stage(engine, max_supports=1)
    (voter,), (proposal,) = scene.voter_ids, scene.proposal_ids

    def tab(index: int) -> list[bool]:
        results = []
        for step in range(20):
            what = "add" if (step + index) % 2 == 0 else "withdraw"
            results.append(in_request(engine, voter, proposal, what).supported)
        return results

    outcomes = race(2, tab)
    assert errors(outcomes) == []
    seen = assert_consistent(engine, scene)
    assert seen.rows[proposal] in (0, 1)
    assert seen.used.get(voter, 0) == seen.rows[proposal]


@pytest.mark.parametrize("round_", range(3))
def test_a_storm_of_supports_and_withdrawals_with_a_limit(engine: Engine, round_: int) -> None:
    """Eight tabs of one resident toggle supports on three proposals with max_supports=2, from
    their very first support: the limit holds, and the counters end equal to the rows."""
    scene = stage(engine, max_supports=2, proposals=3)
    (voter,) = scene.voter_ids

    def tab(index: int) -> int:
        rng = random.Random(index + 10 * round_)
        for _ in range(12):
            proposal = rng.choice(scene.proposal_ids)
            with contextlib.suppress(voting.SupportLimitReached):
                in_request(engine, voter, proposal, rng.choice(["add", "withdraw"]))
        return index

    outcomes = race(8, tab)
    assert errors(outcomes) == []
    seen = assert_consistent(engine, scene)
    assert sum(seen.rows.values()) <= 2
    assert seen.used.get(voter, 0) <= 2


def withdraw_proposal(engine: Engine, author_id: int, proposal_id: int) -> None:
    with session_factory(engine)(write=True) as session:
        author = session.get(User, author_id)
        proposal = session.get(Proposal, proposal_id)
        assert author is not None
        assert proposal is not None
        proposals.withdraw(session, accounts.load_principal(session, author), proposal, now=NOW)
        session.commit()


def test_supporters_racing_the_withdrawal_of_the_proposal(engine: Engine) -> None:
    """While its author withdraws a proposal, its supporters support it, take their support back
    and support others: every support given back is given back once, none is lost, and a support
    cast on the proposal as it is withdrawn is refused (not counted against the limit)."""
    scene = stage(engine, max_supports=2, proposals=3, voters=12)
    target, *others = scene.proposal_ids
    with Session(engine) as session:  # half of them already support it
        for voter_id in scene.voter_ids[:6]:
            user = session.get(User, voter_id)
            assert user is not None
            proposal = session.get(Proposal, target)
            assert proposal is not None
            voting.add_support(session, accounts.load_principal(session, user), proposal, now=NOW)
        session.commit()
        author_id = proposal.author_id

    def act(index: int) -> object:
        if index == 0:
            return withdraw_proposal(engine, author_id, target)
        voter = scene.voter_ids[index - 1]
        try:
            if index <= 3:  # supporters taking their support back
                return in_request(engine, voter, target, "withdraw")
            if index <= 6:  # supporters moving on to another proposal
                return in_request(engine, voter, others[index % 2], "add")
            return in_request(engine, voter, target, "add")  # newcomers supporting it
        except (voting.NotSupportable, voting.SupportLimitReached) as refusal:
            return refusal

    outcomes = race(13, act)
    assert errors(outcomes) == []
    assert_consistent_with_withdrawals(engine, scene)


def test_a_double_click_on_withdraw_gives_the_supports_back_once(engine: Engine) -> None:
    scene = stage(engine, max_supports=2, proposals=2, voters=5)
    target, other = scene.proposal_ids
    with Session(engine) as session:
        for voter_id in scene.voter_ids:
            user = session.get(User, voter_id)
            assert user is not None
            principal = accounts.load_principal(session, user)
            for proposal_id in (target, other):
                proposal = session.get(Proposal, proposal_id)
                assert proposal is not None
                voting.add_support(session, principal, proposal, now=NOW)
        session.commit()
        author_id = proposal.author_id
    outcomes = race(4, lambda _: withdraw_proposal(engine, author_id, target))
    assert errors(outcomes) == []
    seen = counts(engine, scene)
    assert seen.used == dict.fromkeys(scene.voter_ids, 1)  # the support on the other one only
    assert_consistent_with_withdrawals(engine, scene)


def assert_consistent_with_withdrawals(engine: Engine, scene: Scene) -> None:
    """Counters equal rows; a resident's used supports are those on proposals still running."""
    seen = counts(engine, scene)
    assert seen.counters == seen.rows
    with Session(engine) as session:
        running = select(Proposal.id).where(Proposal.consultation_id == scene.consultation_id,
                                            Proposal.state != "withdrawn")
        for voter_id in scene.voter_ids:
            held = session.exec(select(func.count()).select_from(SupportVote).where(
                SupportVote.voter_id == voter_id, col(SupportVote.proposal_id).in_(running))).one()
            assert seen.used.get(voter_id, 0) == held, voter_id


@pytest.fixture
def api(engine: Engine, database_url: str, tmp_path: Path) -> FastAPI:
    """The application on this module's database, every request with its own session."""
    return app_on(engine, database_url, tmp_path)


def test_fifty_identical_supports_through_the_api(api: FastAPI, engine: Engine) -> None:
    scene = stage(engine, max_supports=3)
    (voter,), (proposal,) = scene.voter_ids, scene.proposal_ids
    headers = bearer_for(engine, voter)

    def put(_: int) -> tuple[int, Any]:
        response = TestClient(api).put(f"/api/v1/proposals/{proposal}/support", headers=headers)
        return response.status_code, response.json()

    outcomes = race(50, put)
    assert errors(outcomes) == []
    statuses = [o.value[0] for o in outcomes]
    assert statuses == [200] * 50, sorted(set(statuses))
    assert {str(o.value[1]) for o in outcomes} == {str({"supported": True, "supports": 1, "remaining": 2})}
    seen = assert_consistent(engine, scene)
    assert seen.rows == {proposal: 1}
    assert seen.used == {voter: 1}


def test_concurrent_supports_through_the_api_never_exceed_the_limit(api: FastAPI, engine: Engine) -> None:
    scene = stage(engine, max_supports=3, proposals=10)
    (voter,) = scene.voter_ids
    headers = bearer_for(engine, voter)

    def put(index: int) -> tuple[int, Any]:
        response = TestClient(api).put(f"/api/v1/proposals/{scene.proposal_ids[index]}/support", headers=headers)
        return response.status_code, response.json()

    outcomes = race(10, put)
    assert errors(outcomes) == []
    statuses = sorted(o.value[0] for o in outcomes)
    assert statuses == [200] * 3 + [409] * 7, statuses
    assert {o.value[1]["type"] for o in outcomes if o.value[0] == 409} == {"/problems/support-limit-reached"}
    seen = assert_consistent(engine, scene)
    assert sum(seen.rows.values()) == 3
