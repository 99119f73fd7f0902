"""Answers and progress updates under concurrent requests, on SQLite and PostgreSQL (a fresh
database per module, committed data, each thread with its own session, released together):

- moderators accepting one proposal at once create one action, not one each;
- progress updates posted at once leave the action with the status and progress of the latest."""

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.actions import service
from app.actions.models import ActionProposal, ActionUpdate, PublicAction
from app.actions.schemas import ActionDraft, UpdateDraft
from app.audit.models import AuditEntry
from app.consultations.models import Consultation
from app.proposals.models import Proposal
from tests.concurrency import fresh_database, seeded_engine
from tests.factories import NOW, make_consultation, make_proposal, make_user
from tests.moderation.test_merging_concurrency import JOIN_TIMEOUT_S, POOL, race, request


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory, "answer_race") as url:
        yield url


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    with seeded_engine(database_url, pool_size=POOL, pool_timeout=JOIN_TIMEOUT_S) as engine:
        yield engine


def moderators(engine: Engine, count: int) -> tuple[int, list[int]]:
    """A consultation and `count` of its moderators, committed."""
    with Session(engine) as session:
        consultation = make_consultation(session)
        people = []
        for _ in range(count):
            user = make_user(session)
            accounts.grant_role(session, user, Role.moderator, now=NOW, consultation_id=consultation.id)
            people.append(user.id or 0)
        session.commit()
        return consultation.id or 0, people


def test_concurrent_acceptances_create_one_action(engine: Engine) -> None:
    consultation_id, people = moderators(engine, 10)
    with Session(engine) as session:
        consultation = session.get_one(Consultation, consultation_id)
        proposal_id = make_proposal(session, consultation, make_user(session)).id or 0
        session.commit()

    def accept(moderator_id: int) -> object:
        return request(engine, moderator_id, lambda session, principal: service.answer(
            session, principal, session.get_one(Proposal, proposal_id), state="accepted",
            text="Retenue, la ville s’en charge.", now=NOW).action is not None)

    outcomes = race([lambda m=m: accept(m) for m in people])
    assert [o.error for o in outcomes if o.error is not None] == []
    assert sum(bool(o.value) for o in outcomes) == 1
    with Session(engine) as session:
        links = session.exec(select(ActionProposal).where(ActionProposal.proposal_id == proposal_id)).all()
        assert len(links) == 1
        answered = session.exec(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "proposal.answered", AuditEntry.target_id == str(proposal_id))).one()
        assert answered == 10


def test_concurrent_updates_leave_the_latest(engine: Engine) -> None:
    consultation_id, people = moderators(engine, 8)
    with Session(engine) as session:
        first = accounts.load_principal(session, session.get_one(User, people[0]))
        consultation = session.get_one(Consultation, consultation_id)
        action_id = service.create_action(session, first, consultation,
                                          ActionDraft(title="Une action très suivie", owner="Ville"), [], now=NOW).id
        session.commit()

    def post(index: int) -> object:
        draft = UpdateDraft(occurred_on=date(2027, 2, 1 + index), body=f"Étape numéro {index} franchie.",
                            status="in_progress", progress=10 * (index + 1))
        return request(engine, people[index], lambda session, principal: service.add_update(
            session, principal, session.get_one(PublicAction, action_id), draft, now=NOW).id)

    outcomes = race([lambda i=i: post(i) for i in range(len(people))])
    assert [o.error for o in outcomes if o.error is not None] == []
    with Session(engine) as session:
        item = session.get_one(PublicAction, action_id)
        assert (item.status, item.progress) == ("in_progress", 80)  # 8 February's, the latest
        count = session.exec(select(func.count()).select_from(ActionUpdate)
                             .where(col(ActionUpdate.action_id) == action_id)).one()
        assert count == 8
