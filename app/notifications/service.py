"""Follows and notifications. Other domains call `follow` and `notify` inside their own
transaction, so a notification exists exactly when the event it tells of was committed."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from app.accounts.models import User
from app.accounts.service import export_section, on_erasure
from app.core.errors import NotFound
from app.core.i18n import N_
from app.notifications.models import (
    EmailFrequency,
    Follow,
    FollowTarget,
    Notification,
    NotificationKind,
    NotificationPreference,
    PhaseAnnouncement,
)
from app.notifications.policy import user_of_unsubscribe_token


def _insert_ignoring_duplicates(session: Session) -> object:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def follow(session: Session, user_id: int, target_type: FollowTarget, target_id: int, *, now: datetime) -> None:
    """Follow something; following it again changes nothing (safe under concurrency)."""
    statement = (
        _insert_ignoring_duplicates(session)(Follow.__table__)  # type: ignore[operator]
        .values(user_id=user_id, target_type=target_type, target_id=target_id, created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "target_type", "target_id"])
    )
    session.execute(statement)


def unfollow(session: Session, user_id: int, target_type: FollowTarget, target_id: int) -> None:
    session.execute(
        delete(Follow).where(col(Follow.user_id) == user_id, col(Follow.target_type) == target_type,
                             col(Follow.target_id) == target_id)
    )


def is_following(session: Session, user_id: int | None, target_type: FollowTarget, target_id: int) -> bool:
    if user_id is None:
        return False
    return session.execute(
        select(Follow.id).where(col(Follow.user_id) == user_id, col(Follow.target_type) == target_type,
                                col(Follow.target_id) == target_id)
    ).first() is not None


def followers(session: Session, target_type: FollowTarget, target_ids: Iterable[int]) -> set[int]:
    """The people following any of these targets."""
    ids = list(target_ids)
    if not ids:
        return set()
    rows = session.execute(
        select(Follow.user_id).where(col(Follow.target_type) == target_type, col(Follow.target_id).in_(ids))
    )
    return {row[0] for row in rows}


def notify(session: Session, user_ids: Iterable[int], *, kind: NotificationKind, target_type: str, target_id: int,
           title: str, url: str, now: datetime, body: str = "", exclude: int | None = None) -> int:
    """Queue one notification per person (once each; never to `exclude`, usually whoever acted).
    Emails go out later (`carreau notifications send`), so a slow mail server never holds up a request.
    Returns how many were queued."""
    recipients = sorted({user_id for user_id in user_ids if user_id is not None and user_id != exclude})
    if recipients:  # erased accounts hear of nothing any more
        recipients = list(session.execute(
            select(User.id).where(col(User.id).in_(recipients), col(User.erased_at).is_(None)).order_by(User.id)
        ).scalars())
    if not recipients:
        return 0
    session.execute(insert(Notification), [
        {"user_id": user_id, "kind": kind, "target_type": target_type, "target_id": target_id, "title": title[:300],
         "body": body, "url": url[:300], "created_at": now}
        for user_id in recipients
    ])
    return len(recipients)


# --- phase starts

# A phase that started longer ago than this is recorded as announced without telling anyone (the
# first run after an upgrade, or after a long outage, must not announce old news).
ANNOUNCE_WITHIN = timedelta(days=7)

PHASE_TITLES = {
    "information": N_("La consultation « %(title)s » commence : découvrez-la"),
    "proposals": N_("Les propositions sont ouvertes : « %(title)s »"),
    "voting": N_("Le vote est ouvert : « %(title)s »"),
    "results": N_("Les résultats sont publiés : « %(title)s »"),
    "follow_up": N_("Le suivi des actions commence : « %(title)s »"),
}


@dataclass(frozen=True)
class PhaseStart:
    """A phase that has started (the consultations domain says which; this one tells followers)."""

    consultation_id: int
    phase: str  # information, proposals, voting, results or follow_up
    starts_at: datetime
    consultation_title: str
    url: str  # the consultation's page, a path within the site


def announce_phase_starts(session: Session, starts: Iterable[PhaseStart], *, now: datetime) -> tuple[int, int]:
    """Tell each consultation's followers that a phase started, once per consultation and phase,
    even when two jobs run at once (the unique row decides which one tells).
    Only the phase starts of published consultations should be given.
    Returns (phases announced, notifications created)."""
    candidates = [start for start in starts if start.phase in PHASE_TITLES and start.starts_at <= now]
    if not candidates:
        return 0, 0
    done = {
        (row[0], row[1]) for row in session.execute(
            select(PhaseAnnouncement.consultation_id, PhaseAnnouncement.phase)
            .where(col(PhaseAnnouncement.consultation_id).in_({start.consultation_id for start in candidates}))
        )
    }
    announced = created = 0
    for start in candidates:
        if (start.consultation_id, start.phase) in done:
            continue
        inserted = session.execute(
            _insert_ignoring_duplicates(session)(PhaseAnnouncement.__table__)  # type: ignore[operator]
            .values(consultation_id=start.consultation_id, phase=start.phase, announced_at=now)
            .on_conflict_do_nothing(index_elements=["consultation_id", "phase"])
            .returning(PhaseAnnouncement.__table__.c.id)  # type: ignore[attr-defined]
        ).first()
        if inserted is not None and now - start.starts_at <= ANNOUNCE_WITHIN:
            announced += 1
            created += notify(
                session, followers(session, FollowTarget.consultation, [start.consultation_id]),
                kind=NotificationKind.phase_started, target_type="consultation", target_id=start.consultation_id,
                title=PHASE_TITLES[start.phase] % {"title": start.consultation_title}, url=start.url, now=now,
            )
    return announced, created


# --- the in-app list


class NotificationNotFound(NotFound):
    message = N_("Cette notification n’existe pas.")


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    total: int
    unread: int


def unread_count(session: Session, user_id: int) -> int:
    """One query (the header shows it on every page)."""
    return session.execute(
        select(func.count()).select_from(Notification)
        .where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
    ).scalar_one()


def list_for(session: Session, user_id: int, *, limit: int, offset: int = 0) -> NotificationPage:
    """A person's own notifications, newest first (nobody else's, whatever the asker)."""
    mine = col(Notification.user_id) == user_id
    total = session.execute(select(func.count()).select_from(Notification).where(mine)).scalar_one()
    items = list(session.exec(
        sqlmodel_select(Notification).where(mine)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc()).limit(limit).offset(offset)
    ))
    return NotificationPage(items, total, unread_count(session, user_id))


def mark_read(session: Session, user_id: int, notification_id: int, *, now: datetime) -> Notification:
    """Mark one of one's own notifications read (someone else's is 'not found', as if it did not exist)."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotificationNotFound()
    if notification.read_at is None:
        notification.read_at = now
        session.add(notification)
        session.flush()
    return notification


def mark_all_read(session: Session, user_id: int, *, now: datetime) -> int:
    result = session.execute(
        update(Notification).where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
        .values(read_at=now)
    )
    return result.rowcount or 0


# --- email preference


def email_frequency(session: Session, user_id: int) -> EmailFrequency:
    preference = session.get(NotificationPreference, user_id)
    return EmailFrequency(preference.email_frequency) if preference is not None else EmailFrequency.immediate


def set_email_frequency(session: Session, user_id: int, frequency: EmailFrequency, *, now: datetime) -> None:
    """Upsert: safe when two requests (a click in a mail and the preferences page) race."""
    statement = (
        _insert_ignoring_duplicates(session)(NotificationPreference.__table__)  # type: ignore[operator]
        .values(user_id=user_id, email_frequency=frequency, updated_at=now)
    )
    statement = statement.on_conflict_do_update(
        index_elements=["user_id"], set_={"email_frequency": frequency, "updated_at": now}
    )
    session.execute(statement)
    session.expire_all()


class InvalidUnsubscribeLink(NotFound):
    message = N_("Ce lien de désabonnement n’est pas valable. Vous pouvez choisir vos courriels "
                 "dans la page « Mes notifications » de votre compte.")


def unsubscribe(session: Session, secret_key: str, token: str, *, now: datetime) -> User:
    """Turn every email off for the person the token names (RFC 8058 one-click, or the page's button)."""
    user = check_unsubscribe_token(session, secret_key, token)
    assert user.id is not None
    set_email_frequency(session, user.id, EmailFrequency.never, now=now)
    return user


def check_unsubscribe_token(session: Session, secret_key: str, token: str) -> User:
    user_id = user_of_unsubscribe_token(secret_key, token)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or user.is_erased:
        raise InvalidUnsubscribeLink()
    return user


# --- personal data: erasure and export


@on_erasure
def _forget(session: Session, user_id: int, now: datetime) -> None:
    """Erasure: the person's follows, notifications and preference go (the account row stays, erased)."""
    for model in (Follow, Notification, NotificationPreference):
        session.execute(delete(model).where(col(model.user_id) == user_id))  # type: ignore[attr-defined]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@export_section("notifications")
def _export(session: Session, user_id: int) -> dict[str, Any]:
    follows = session.exec(
        sqlmodel_select(Follow).where(Follow.user_id == user_id).order_by(col(Follow.created_at), col(Follow.id))
    )
    notifications = session.exec(
        sqlmodel_select(Notification).where(Notification.user_id == user_id)
        .order_by(col(Notification.created_at), col(Notification.id))
    )
    preference = session.get(NotificationPreference, user_id)
    return {
        "email_frequency": preference.email_frequency if preference else EmailFrequency.immediate.value,
        "last_digest_at": _iso(preference.last_digest_at) if preference else None,
        "follows": [{"target_type": f.target_type, "target_id": f.target_id, "created_at": _iso(f.created_at)}
                    for f in follows],
        "notifications": [
            {"kind": n.kind, "title": n.title, "url": n.url, "created_at": _iso(n.created_at),
             "read_at": _iso(n.read_at), "emailed_at": _iso(n.emailed_at)} for n in notifications
        ],
    }
