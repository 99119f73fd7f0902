"""Merging holds under concurrent requests, on SQLite and PostgreSQL (a fresh database per module,
committed data, every thread with its own session, released together by a barrier):

- residents supporting the duplicates and the proposal that stays while a moderator merges them:
  no support is lost, none is counted twice (each resident who supported ends with exactly one
  support on the proposal that stays; every counter equals its rows, every participation the
  supports its resident holds);
- two moderators merging crossing sets at once: no deadlock, one merge wins, counts stay right."""

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.core.db import session_factory
from app.moderation import merging
from app.proposals.models import Proposal
from app.voting import service as voting
from app.voting.models import Participation, SupportVote
from tests.concurrency import fresh_database, seeded_engine
from tests.factories import NOW, make_consultation, make_proposal, make_user

POOL = 25
JOIN_TIMEOUT_S = 60


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory, "merge_race") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    with seeded_engine(database_url, pool_size=POOL, pool_timeout=JOIN_TIMEOUT_S) as engine:
        yield engine


@dataclass(frozen=True)
class Scene:
    consultation_id: int
    target: int
    sources: list[int]
    voters: list[int]
    moderators: list[int]


def stage(engine: Engine, *, voters: int, sources: int = 2, max_supports: int = 0) -> Scene:
    with Session(engine) as session:
        consultation = make_consultation(session, max_supports=max_supports)
        author = make_user(session)
        made = [make_proposal(session, consultation, author) for _ in range(sources + 1)]
        people = [make_user(session) for _ in range(voters)]
        moderators = []
        for _ in range(2):
            moderator = make_user(session)
            accounts.grant_role(session, moderator, Role.moderator, now=NOW, consultation_id=consultation.id)
            moderators.append(moderator.id or 0)
        session.commit()
        ids = [p.id or 0 for p in made]
        return Scene(consultation.id or 0, ids[0], ids[1:], [u.id or 0 for u in people], moderators)


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: BaseException | None = None


def race(actions: list[Callable[[], Any]]) -> list[Outcome]:
    barrier = threading.Barrier(len(actions))
    outcomes: list[Outcome | None] = [None] * len(actions)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT_S)
            outcomes[index] = Outcome(value=actions[index]())
        except BaseException as error:  # recorded, and checked by the test
            outcomes[index] = Outcome(error=error)

    threads = [threading.Thread(target=run, args=(index,), daemon=True) for index in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return [outcome for outcome in outcomes if outcome is not None]


def request(engine: Engine, user_id: int, act: Callable[[Session, Any], Any]) -> Any:
    """One writing request: its own session (BEGIN IMMEDIATE on SQLite), the principal, one commit."""
    with session_factory(engine)(write=True) as session:
        user = session.get(User, user_id)
        assert user is not None
        value = act(session, accounts.load_principal(session, user))
        session.commit()
        return value


def supporting(engine: Engine, voter_id: int, proposal_id: int) -> Callable[[], Any]:
    def act(session: Session, principal: Any) -> Any:
        proposal = session.get(Proposal, proposal_id)
        assert proposal is not None
        return voting.add_support(session, principal, proposal, now=NOW)
    return lambda: request(engine, voter_id, act)


def merging_into(engine: Engine, moderator_id: int, into: int, sources: list[int]) -> Callable[[], Any]:
    return lambda: request(engine, moderator_id, lambda session, principal: merging.merge(
        session, principal, into=into, sources=sources, now=NOW).moved)


def assert_consistent(engine: Engine, scene: Scene) -> dict[int, int]:
    """Counters equal rows, participations equal supports held; returns each voter's supports held."""
    proposal_ids = [scene.target, *scene.sources]
    with Session(engine) as session:
        for proposal in session.exec(select(Proposal).where(col(Proposal.id).in_(proposal_ids))):
            rows = session.exec(select(func.count()).select_from(SupportVote)
                                .where(SupportVote.proposal_id == proposal.id)).one()
            assert proposal.supports_count == rows, proposal.id
        held = {}
        for voter_id in scene.voters:
            held[voter_id] = session.exec(select(func.count()).select_from(SupportVote).where(
                SupportVote.voter_id == voter_id, SupportVote.consultation_id == scene.consultation_id)).one()
            participation = session.exec(select(Participation).where(
                Participation.voter_id == voter_id, Participation.consultation_id == scene.consultation_id)).first()
            assert (participation.supports_used if participation else 0) == held[voter_id], voter_id
        return held


def on_target(engine: Engine, scene: Scene) -> set[int]:
    with Session(engine) as session:
        return set(session.exec(select(SupportVote.voter_id).where(SupportVote.proposal_id == scene.target)))


@pytest.mark.parametrize("round_", range(3))
def test_supports_during_a_merge_are_neither_lost_nor_counted_twice(engine: Engine, round_: int) -> None:
    scene = stage(engine, voters=12)
    # Before the race, a third of the residents already support a duplicate and the target.
    with Session(engine) as session:
        for voter_id in scene.voters[:4]:
            principal = accounts.load_principal(session, session.get_one(User, voter_id))
            for proposal_id in (scene.target, scene.sources[0]):
                voting.add_support(session, principal, session.get_one(Proposal, proposal_id), now=NOW)
        session.commit()
    # During it: every resident supports a duplicate, some the target as well, one moderator merges.
    actions = [merging_into(engine, scene.moderators[0], scene.target, scene.sources)]
    owners = [0]  # whose request each action is (0: the moderator's)
    for n, voter_id in enumerate(scene.voters):
        actions.append(supporting(engine, voter_id, scene.sources[(n + round_) % 2]))
        owners.append(voter_id)
        if n % 3 == 0:
            actions.append(supporting(engine, voter_id, scene.target))
            owners.append(voter_id)
    outcomes = race(actions)
    unexpected = [o.error for o in outcomes if o.error is not None and not isinstance(o.error, voting.NotSupportable)]
    assert unexpected == []
    assert outcomes[0].error is None, "the merge went through"
    held = assert_consistent(engine, scene)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(SupportVote)
                            .where(col(SupportVote.proposal_id).in_(scene.sources))).one() == 0
        assert {p.state for p in session.exec(select(Proposal).where(col(Proposal.id).in_(scene.sources)))} == {
            "merged"}
    # Whoever had a support accepted (before the race, or in it) holds exactly one, on the target.
    accepted = set(scene.voters[:4]) | {owner for owner, o in zip(owners, outcomes, strict=True)
                                        if owner and o.error is None}
    assert on_target(engine, scene) == accepted
    assert {voter_id: held[voter_id] for voter_id in scene.voters} == {
        voter_id: 1 if voter_id in accepted else 0 for voter_id in scene.voters}


def test_crossing_merges_do_not_deadlock(engine: Engine) -> None:
    scene = stage(engine, voters=6, sources=1)
    (source,) = scene.sources
    with Session(engine) as session:
        for n, voter_id in enumerate(scene.voters):
            principal = accounts.load_principal(session, session.get_one(User, voter_id))
            for proposal_id in [scene.target, source][: 1 + n % 2]:
                voting.add_support(session, principal, session.get_one(Proposal, proposal_id), now=NOW)
        session.commit()
    outcomes = race([merging_into(engine, scene.moderators[0], scene.target, [source]),
                     merging_into(engine, scene.moderators[1], source, [scene.target])])
    assert sorted(type(o.error).__name__ for o in outcomes) == ["NoneType", "NotMergeable"]
    held = assert_consistent(engine, scene)
    assert all(count == 1 for count in held.values())
    with Session(engine) as session:
        states = sorted(p.state for p in session.exec(
            select(Proposal).where(col(Proposal.id).in_([scene.target, source]))))
        assert states == ["merged", "published"]
