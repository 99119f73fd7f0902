"""Follows and notifications: following is idempotent; authors, supporters and commenters follow
automatically; each event tells the right people and never the one who acted; a phase start is
announced once; each person sees only their own notifications; erasure and export."""

from datetime import timedelta

import pytest
from sqlmodel import Session, col, func, select

from app.accounts import service as accounts
from app.accounts.policy import Principal
from app.accounts.sessions import DatabaseSessionStore
from app.consultations.models import Consultation
from app.consultations.phases import running
from app.notifications import service
from app.notifications.models import (
    EmailFrequency,
    Follow,
    FollowTarget,
    Notification,
    NotificationKind,
    NotificationPreference,
    PhaseAnnouncement,
)
from app.notifications.policy import unsubscribe_token, user_of_unsubscribe_token
from app.proposals import service as proposals
from app.proposals.schemas import CommentDraft, ProposalDraft
from app.voting import service as voting
from tests.conftest import SECRET
from tests.factories import NOW, make_consultation, make_proposal, make_user

HOUR = timedelta(hours=1)


def resident(session: Session, **fields: object) -> Principal:
    return accounts.load_principal(session, make_user(session, **fields))


def notifications_of(session: Session, user_id: int, kind: str | None = None) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    return list(session.exec(query.order_by(col(Notification.id))))


def follows_of(session: Session, user_id: int) -> set[tuple[str, int]]:
    return {(f.target_type, f.target_id) for f in session.exec(select(Follow).where(Follow.user_id == user_id))}


def phase_starts(session: Session) -> list[service.PhaseStart]:
    """What `carreau notifications send` gives the announcer (see app/cli.py)."""
    return [service.PhaseStart(c.id or 0, phase.value, c.phase_starts()[phase], c.title, f"/consultations/{c.slug}")
            for c, phase in running(session, NOW)]


# --- following


def test_follow_and_unfollow_are_idempotent(session: Session) -> None:
    user = make_user(session)
    consultation = make_consultation(session)
    for _ in range(2):
        service.follow(session, user.id, FollowTarget.consultation, consultation.id, now=NOW)
    assert follows_of(session, user.id) == {("consultation", consultation.id)}
    assert service.is_following(session, user.id, FollowTarget.consultation, consultation.id)
    assert service.followers(session, FollowTarget.consultation, [consultation.id]) == {user.id}
    for _ in range(2):
        service.unfollow(session, user.id, FollowTarget.consultation, consultation.id)
    assert follows_of(session, user.id) == set()
    assert not service.is_following(session, user.id, FollowTarget.consultation, consultation.id)
    assert not service.is_following(session, None, FollowTarget.consultation, consultation.id)


def test_authors_follow_their_proposal_and_its_consultation(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = resident(session)
    proposal = proposals.submit(session, author, consultation, ProposalDraft(
        title="Des bancs sur la place du marché", body="Pour se reposer entre deux courses."), now=NOW)
    assert follows_of(session, author.id) == {("proposal", proposal.id), ("consultation", consultation.id)}


def test_supporters_follow_what_they_support_and_may_stop(session: Session) -> None:
    consultation = make_consultation(session, phase="voting")
    proposal = make_proposal(session, consultation, make_user(session))
    supporter = resident(session)
    voting.add_support(session, supporter, proposal, now=NOW)
    assert follows_of(session, supporter.id) == {("proposal", proposal.id)}
    service.unfollow(session, supporter.id, FollowTarget.proposal, proposal.id)
    voting.add_support(session, supporter, proposal, now=NOW)  # a repeat keeps their choice
    assert follows_of(session, supporter.id) == set()


def test_commenters_follow_and_a_reply_tells_the_parent_comment_author_only(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals")
    author = make_user(session)
    proposal = make_proposal(session, consultation, author)
    first, second, bystander = resident(session), resident(session), resident(session)
    service.follow(session, bystander.id, FollowTarget.proposal, proposal.id, now=NOW)
    parent = proposals.add_comment(session, first, proposal, CommentDraft(body="Très bonne idée !"), now=NOW)
    assert follows_of(session, first.id) == {("proposal", proposal.id)}
    assert notifications_of(session, first.id) == []  # a first-level comment tells nobody

    reply = proposals.add_comment(session, second, proposal, CommentDraft(body="Tout à fait d’accord.",
                                                                          parent_id=parent.id), now=NOW + HOUR)
    [told] = notifications_of(session, first.id)
    assert told.kind == NotificationKind.comment_reply
    assert told.url == f"/propositions/{proposal.id}#comment-{reply.id}"
    assert proposal.title in told.title
    assert (told.target_type, told.target_id, told.created_at, told.read_at, told.emailed_at) == (
        "comment", reply.id, NOW + HOUR, None, None)
    for other in (second.id, bystander.id, author.id):  # the replier, a follower, the proposal's author
        assert notifications_of(session, other) == []

    # Answering one's own comment tells nobody.
    proposals.add_comment(session, first, proposal, CommentDraft(body="Merci à vous.", parent_id=reply.id), now=NOW)
    proposals.add_comment(session, second, proposal, CommentDraft(body="Je précise.", parent_id=reply.id), now=NOW)
    assert len(notifications_of(session, second.id)) == 1  # from `first`, not from themselves


def test_notify_never_tells_the_actor_and_tells_each_person_once(session: Session) -> None:
    actor, a, b = make_user(session), make_user(session), make_user(session)
    count = service.notify(session, [a.id, b.id, a.id, actor.id], kind=NotificationKind.official_answer,
                           target_type="proposal", target_id=1, title="Réponse", url="/propositions/1", now=NOW,
                           exclude=actor.id)
    assert count == 2
    assert [len(notifications_of(session, u.id)) for u in (actor, a, b)] == [0, 1, 1]


# --- phase starts


def test_a_phase_start_is_announced_once_to_the_followers_of_published_consultations(session: Session) -> None:
    voting_now = make_consultation(session, phase="voting")
    draft = make_consultation(session, phase="voting", status="draft")
    follower, other, drafter = make_user(session), make_user(session), make_user(session)
    service.follow(session, follower.id, FollowTarget.consultation, voting_now.id, now=NOW)
    service.follow(session, drafter.id, FollowTarget.consultation, draft.id, now=NOW)

    announced, created = service.announce_phase_starts(session, phase_starts(session), now=NOW)
    assert created >= 1
    [told] = notifications_of(session, follower.id)
    assert (told.kind, told.target_type, told.target_id) == ("phase_started", "consultation", voting_now.id)
    assert told.title == f"Le vote est ouvert : « {voting_now.title} »"
    assert told.url == f"/consultations/{voting_now.slug}"
    assert notifications_of(session, other.id) == []
    assert notifications_of(session, drafter.id) == []  # drafts are not announced
    assert session.exec(select(PhaseAnnouncement).where(PhaseAnnouncement.consultation_id == draft.id)).all() == []

    # The job runs again (every few minutes): nothing new.
    assert service.announce_phase_starts(session, phase_starts(session), now=NOW + HOUR)[1] == 0
    assert len(notifications_of(session, follower.id)) == 1

    # The next phase starts: announced once more.
    voting_now.results_starts_at = NOW + 2 * HOUR
    voting_now.follow_up_starts_at = NOW + 20 * HOUR
    session.add(voting_now)
    session.flush()
    later = NOW + 3 * HOUR
    starts = [service.PhaseStart(c.id or 0, p.value, c.phase_starts()[p], c.title, f"/consultations/{c.slug}")
              for c, p in running(session, later)]
    for _ in range(2):
        service.announce_phase_starts(session, starts, now=later)
    titles = [n.title for n in notifications_of(session, follower.id)]
    assert titles == [f"Le vote est ouvert : « {voting_now.title} »",
                      f"Les résultats sont publiés : « {voting_now.title} »"]
    assert announced >= 1


def test_an_old_phase_start_is_recorded_without_telling_anyone(session: Session) -> None:
    consultation = make_consultation(session, phase="voting")  # started five days ago
    follower = make_user(session)
    service.follow(session, follower.id, FollowTarget.consultation, consultation.id, now=NOW)
    start = service.PhaseStart(consultation.id, "voting", consultation.voting_starts_at, consultation.title, "/c")
    assert service.announce_phase_starts(session, [start], now=NOW + service.ANNOUNCE_WITHIN) == (0, 0)
    assert notifications_of(session, follower.id) == []
    assert service.announce_phase_starts(session, [start], now=NOW - timedelta(days=3)) == (0, 0)  # recorded


def test_phases_not_started_are_not_announced(session: Session) -> None:
    consultation: Consultation = make_consultation(session, phase="information")
    start = service.PhaseStart(consultation.id, "proposals", consultation.proposals_starts_at, consultation.title,
                               "/c")
    assert service.announce_phase_starts(session, [start], now=NOW) == (0, 0)
    assert session.exec(select(func.count()).select_from(PhaseAnnouncement)
                        .where(PhaseAnnouncement.consultation_id == consultation.id)).one() == 0


# --- the list: one's own only


def test_a_person_sees_and_marks_only_their_own_notifications(session: Session) -> None:
    me, someone_else = make_user(session), make_user(session)
    for n in range(3):
        service.notify(session, [me.id], kind=NotificationKind.official_answer, target_type="proposal",
                       target_id=n, title=f"Mienne {n}", url="/", now=NOW + n * HOUR)
    service.notify(session, [someone_else.id], kind=NotificationKind.official_answer, target_type="proposal",
                   target_id=9, title="Pas à moi", url="/", now=NOW)
    page = service.list_for(session, me.id, limit=2)
    assert [n.title for n in page.items] == ["Mienne 2", "Mienne 1"]  # newest first
    assert (page.total, page.unread) == (3, 3)
    assert [n.title for n in service.list_for(session, me.id, limit=2, offset=2).items] == ["Mienne 0"]

    foreign = notifications_of(session, someone_else.id)[0]
    with pytest.raises(service.NotificationNotFound):
        service.mark_read(session, me.id, foreign.id or 0, now=NOW)
    assert foreign.read_at is None
    service.mark_read(session, me.id, page.items[0].id or 0, now=NOW)
    assert service.unread_count(session, me.id) == 2
    assert service.mark_all_read(session, me.id, now=NOW) == 2
    assert service.unread_count(session, me.id) == 0
    assert service.unread_count(session, someone_else.id) == 1


def test_email_frequency_defaults_to_immediate_and_is_upserted(session: Session) -> None:
    user = make_user(session)
    assert service.email_frequency(session, user.id) == EmailFrequency.immediate
    service.set_email_frequency(session, user.id, EmailFrequency.daily, now=NOW)
    service.set_email_frequency(session, user.id, EmailFrequency.never, now=NOW + HOUR)
    assert service.email_frequency(session, user.id) == EmailFrequency.never
    assert session.get(NotificationPreference, user.id).updated_at == NOW + HOUR


# --- unsubscribe tokens


def test_an_unsubscribe_token_names_its_person_and_cannot_be_forged(session: Session) -> None:
    user, other = make_user(session), make_user(session)
    token = unsubscribe_token(SECRET, user.id)
    assert user_of_unsubscribe_token(SECRET, token) == user.id
    signature = token.partition(".")[2]
    for forged in (f"{other.id}.{signature}", unsubscribe_token("y" * 40, user.id), f"{user.id}.", "abc",
                   f"{user.id}.{signature[:-1]}", "", f"-{user.id}.{signature}"):
        assert user_of_unsubscribe_token(SECRET, forged) is None, forged
    assert service.unsubscribe(session, SECRET, token, now=NOW).id == user.id
    assert service.email_frequency(session, user.id) == EmailFrequency.never
    assert service.email_frequency(session, other.id) == EmailFrequency.immediate
    with pytest.raises(service.InvalidUnsubscribeLink):
        service.unsubscribe(session, SECRET, f"{other.id}.{signature}", now=NOW)


# --- personal data


def test_erasure_removes_follows_notifications_and_preference_and_export_lists_them(session: Session) -> None:
    user, other = make_user(session), make_user(session)
    consultation = make_consultation(session)
    for person in (user, other):
        service.follow(session, person.id, FollowTarget.consultation, consultation.id, now=NOW)
        service.notify(session, [person.id], kind=NotificationKind.phase_started, target_type="consultation",
                       target_id=consultation.id, title="Le vote est ouvert", url="/c", now=NOW)
        service.set_email_frequency(session, person.id, EmailFrequency.daily, now=NOW)
    store = DatabaseSessionStore(lambda write=False: __import__("contextlib").nullcontext(session))

    exported = accounts.export_data(session, store, user, now=NOW)["notifications"]
    assert exported["email_frequency"] == "daily"
    assert exported["follows"] == [{"target_type": "consultation", "target_id": consultation.id,
                                    "created_at": NOW.isoformat()}]
    assert [n["title"] for n in exported["notifications"]] == ["Le vote est ouvert"]

    accounts.erase_account(session, store, user, now=NOW)
    for model in (Follow, Notification, NotificationPreference):
        assert session.exec(select(func.count()).select_from(model).where(model.user_id == user.id)).one() == 0
        assert session.exec(select(func.count()).select_from(model).where(model.user_id == other.id)).one() == 1
