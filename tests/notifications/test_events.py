"""Each event of issue 5 tells the right people and never the one who acted: an official answer
(the proposal's author and followers), a progress update of an action (the followers of the
proposals it came from), content hidden and restored (its author), a reply (the parent's author,
see test_service.py) and a phase start (the consultation's followers, see test_service.py)."""

from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.accounts.policy import Principal
from app.actions import service as actions
from app.actions.schemas import UpdateDraft
from app.moderation import service as moderation
from app.notifications import service
from app.notifications.models import FollowTarget, Notification, NotificationKind
from app.proposals import service as proposals
from app.proposals.schemas import CommentDraft
from app.territory.models import Axis
from tests.factories import NOW, make_consultation, make_proposal, make_user


def moderator(session: Session) -> Principal:
    user = make_user(session, name="Modératrice")
    axis = session.exec(select(Axis).where(Axis.number == 1)).one()
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis.id)
    return accounts.load_principal(session, user)


def told(session: Session, kind: str) -> dict[int, list[Notification]]:
    found: dict[int, list[Notification]] = {}
    for notification in session.exec(select(Notification).where(Notification.kind == kind)
                                     .order_by(col(Notification.id))):
        found.setdefault(notification.user_id, []).append(notification)
    return found


def test_an_official_answer_and_the_actions_progress_reach_the_proposals_followers(session: Session) -> None:
    consultation = make_consultation(session, phase="results")
    author, follower, bystander = make_user(session), make_user(session), make_user(session)
    proposal = make_proposal(session, consultation, author)
    service.follow(session, follower.id, FollowTarget.proposal, proposal.id, now=NOW)
    staff = moderator(session)
    service.follow(session, staff.id, FollowTarget.proposal, proposal.id, now=NOW)  # the actor follows it too

    answer = actions.answer(session, staff, proposal, state="accepted", text="Nous la retenons.", now=NOW)
    answered = told(session, NotificationKind.official_answer)
    assert set(answered) == {author.id, follower.id}  # not the moderator who answered, not a bystander
    assert answered[author.id][0].url == f"/propositions/{proposal.id}"
    assert proposal.title in answered[author.id][0].title

    assert answer.action is not None
    actions.add_update(session, staff, answer.action, UpdateDraft(
        occurred_on=NOW.date(), body="Les travaux ont commencé.", status="in_progress", progress=20), now=NOW)
    progressed = told(session, NotificationKind.action_progress)
    assert set(progressed) == {follower.id}  # (this author, made by a factory, does not follow it)
    assert progressed[follower.id][0].url == f"/actions/{answer.action.id}"
    assert bystander.id not in progressed
    assert staff.id not in progressed


def test_hidden_and_restored_content_tells_its_author_only(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author, commenter, follower = make_user(session), make_user(session), make_user(session)
    proposal = make_proposal(session, consultation, author)
    service.follow(session, follower.id, FollowTarget.proposal, proposal.id, now=NOW)
    comment = proposals.add_comment(session, accounts.load_principal(session, commenter), proposal,
                                    CommentDraft(body="Un commentaire hors sujet."), now=NOW)
    staff = moderator(session)

    moderation.hide(session, staff, "comment", comment.id, reason="Hors sujet", now=NOW)
    moderation.hide(session, staff, "proposal", proposal.id, reason="Données personnelles", now=NOW)
    hidden = told(session, NotificationKind.content_hidden)
    assert set(hidden) == {commenter.id, author.id}
    assert hidden[commenter.id][0].body == "Hors sujet"
    assert hidden[author.id][0].body == "Données personnelles"

    moderation.restore(session, staff, "proposal", proposal.id, now=NOW)
    assert set(told(session, NotificationKind.content_restored)) == {author.id}
    assert follower.id not in hidden
    assert staff.id not in hidden
