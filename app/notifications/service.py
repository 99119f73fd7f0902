"""Follows and notifications. Other domains call `follow` and `notify` inside their own
transaction, so a notification exists exactly when the event it tells of was committed."""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from app.notifications.models import Follow, FollowTarget, Notification, NotificationKind


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
    if not recipients:
        return 0
    session.execute(insert(Notification), [
        {"user_id": user_id, "kind": kind, "target_type": target_type, "target_id": target_id, "title": title[:300],
         "body": body, "url": url[:300], "created_at": now}
        for user_id in recipients
    ])
    return len(recipients)
