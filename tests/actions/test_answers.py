"""Official answers: who may give one (moderators of the proposal's axis or consultation, nobody
else), on which proposals, what an acceptance creates (the action, in the same transaction), and
what each answer leaves: its audit entry and the notifications of the proposal's followers."""

from datetime import date, timedelta

import pytest
from sqlmodel import Session, col, select

from app.accounts.models import Role, User
from app.actions import service
from app.actions.models import ActionProposal, PublicAction
from app.actions.schemas import AcceptedAction
from app.audit import service as audit
from app.core.errors import Forbidden, NotFound
from app.notifications import service as notifications
from app.notifications.models import FollowTarget, Notification, NotificationKind
from app.proposals.models import Proposal
from tests.actions.helpers import principal, staff
from tests.factories import NOW, make_consultation, make_proposal, make_user

ANSWER = "Merci pour cette idée : **la commune** l’étudie avec le service de la voirie."


def notifications_of(session: Session, user_id: int) -> list[Notification]:
    return list(session.exec(select(Notification).where(Notification.user_id == user_id)
                             .order_by(col(Notification.id))))


@pytest.fixture
def proposal(session: Session) -> Proposal:
    return make_proposal(session, make_consultation(session, axis_number=1), make_user(session), estimated_cost=12000)


@pytest.mark.parametrize("state", ["evaluating", "rejected"])
def test_a_moderator_of_the_axis_answers(session: Session, proposal: Proposal, state: str) -> None:
    moderator = staff(session, axis=1)
    result = service.answer(session, moderator, proposal, state=state, text=ANSWER, now=NOW)
    assert result.action is None
    session.refresh(proposal)
    assert (proposal.state, proposal.official_answer, proposal.answered_at) == (state, ANSWER, NOW)
    assert "<strong>la commune</strong>" in service.answer_html(proposal)
    (entry,) = audit.entries_for(session, target_type="proposal", target_id=proposal.id)
    assert (entry.action, entry.actor_id) == ("proposal.answered", moderator.id)
    assert entry.before == {"state": "published", "official_answer": None}
    assert entry.after == {"state": state, "official_answer": ANSWER}


def test_accepting_creates_the_action_with_the_proposal_defaults(session: Session, proposal: Proposal) -> None:
    moderator = staff(session, axis=1)
    result = service.answer(session, moderator, proposal, state="accepted", text=ANSWER, now=NOW)
    action = result.action
    assert action is not None
    assert (action.title, action.budget, action.status, action.progress, action.owner) == (
        proposal.title, 12000, "planned", 0, "")
    assert action.consultation_id == proposal.consultation_id
    assert session.exec(select(ActionProposal.proposal_id).where(ActionProposal.action_id == action.id)).all() == [
        proposal.id]
    assert [e.action for e in audit.entries_for(session, target_type="action", target_id=action.id)] == [
        "action.created"]


def test_accepting_with_the_action_fields(session: Session, proposal: Proposal) -> None:
    moderator = staff(session, axis=1)
    fields = AcceptedAction(title="Rénover le parc de la mairie", owner="Service des espaces verts", budget=40000,
                            planned_start=date(2027, 4, 1), planned_end=date(2027, 9, 30))
    action = service.answer(session, moderator, proposal, state="accepted", text=ANSWER, now=NOW,
                            action=fields).action
    assert action is not None
    assert (action.title, action.owner, action.budget, action.planned_start, action.planned_end) == (
        "Rénover le parc de la mairie", "Service des espaces verts", 40000, date(2027, 4, 1), date(2027, 9, 30))


def test_answering_again_keeps_one_action(session: Session, proposal: Proposal) -> None:
    moderator = staff(session, axis=1)
    service.answer(session, moderator, proposal, state="evaluating", text=ANSWER, now=NOW)
    first = service.answer(session, moderator, proposal, state="accepted", text=ANSWER, now=NOW).action
    again = service.answer(session, moderator, proposal, state="accepted", text=ANSWER + " Précision.",
                           now=NOW + timedelta(days=1))
    assert first is not None
    assert again.action is None
    assert service.action_ids_of(session, [proposal.id or 0]) == [first.id]
    # Once an action follows it, the answer cannot turn back to "rejected": the action is what changes.
    with pytest.raises(service.ActionAlreadyFollows):
        service.answer(session, moderator, proposal, state="rejected", text=ANSWER, now=NOW)
    assert len(audit.entries_for(session, target_type="proposal", target_id=proposal.id)) == 3


def test_a_moderator_of_the_consultation_answers(session: Session, proposal: Proposal) -> None:
    moderator = staff(session, consultation_id=proposal.consultation_id)
    service.answer(session, moderator, proposal, state="accepted", text=ANSWER, now=NOW)
    assert proposal.state == "accepted"


@pytest.mark.parametrize("who", ["moderator of axis 2", "moderator of another consultation", "evaluator",
                                 "mediator", "resident", "the author"])
def test_nobody_else_answers(session: Session, proposal: Proposal, who: str) -> None:
    other = make_consultation(session, axis_number=1)
    person = {
        "moderator of axis 2": lambda: staff(session, axis=2),
        "moderator of another consultation": lambda: staff(session, consultation_id=other.id),
        "evaluator": lambda: staff(session, Role.evaluator, axis=None),
        "mediator": lambda: staff(session, Role.mediator, axis=None),
        "resident": lambda: principal(session, make_user(session)),
        "the author": lambda: principal(session, session.get_one(User, proposal.author_id)),
    }[who]()
    with pytest.raises(Forbidden):
        service.answer(session, person, proposal, state="accepted", text=ANSWER, now=NOW)
    session.refresh(proposal)
    assert (proposal.state, proposal.official_answer) == ("published", None)
    actions = session.exec(select(PublicAction).where(PublicAction.consultation_id == proposal.consultation_id))
    assert actions.all() == []
    assert audit.entries_for(session, target_type="proposal", target_id=proposal.id) == []


@pytest.mark.parametrize("state", ["pending", "hidden", "withdrawn", "merged"])
def test_only_shown_proposals_are_answered(session: Session, proposal: Proposal, state: str) -> None:
    proposal.state = state
    session.add(proposal)
    session.flush()
    with pytest.raises((service.NotAnswerable, NotFound)):
        service.answer(session, staff(session, axis=1), proposal, state="accepted", text=ANSWER, now=NOW)


def test_followers_and_the_author_are_notified(session: Session, proposal: Proposal) -> None:
    moderator = staff(session, axis=1)
    follower, stranger = make_user(session), make_user(session)
    notifications.follow(session, follower.id or 0, FollowTarget.proposal, proposal.id or 0, now=NOW)
    notifications.follow(session, moderator.id, FollowTarget.proposal, proposal.id or 0, now=NOW)
    service.answer(session, moderator, proposal, state="rejected", text=ANSWER, now=NOW)
    for user_id in (follower.id or 0, proposal.author_id):
        (note,) = notifications_of(session, user_id)
        assert (note.kind, note.target_type, note.target_id, note.url) == (
            NotificationKind.official_answer, "proposal", proposal.id, f"/propositions/{proposal.id}")
        assert proposal.title in note.title
    assert notifications_of(session, stranger.id or 0) == []
    assert notifications_of(session, moderator.id) == []  # whoever acted is not told of it
