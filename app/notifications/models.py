"""Follows, notifications and each person's email preference."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UtcDateTime


class FollowTarget(StrEnum):
    consultation = "consultation"
    proposal = "proposal"
    action = "action"


class EmailFrequency(StrEnum):
    immediate = "immediate"
    daily = "daily"  # one digest a day
    never = "never"


class NotificationKind(StrEnum):
    phase_started = "phase_started"
    official_answer = "official_answer"
    comment_reply = "comment_reply"
    action_progress = "action_progress"
    content_hidden = "content_hidden"
    content_restored = "content_restored"


def _user_fk() -> int:
    return Field(sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False))


class Follow(SQLModel, table=True):
    """A person follows a consultation, a proposal or an action (authors and supporters automatically)."""

    __tablename__ = "follow"
    __table_args__ = (
        UniqueConstraint("user_id", "target_type", "target_id"),
        CheckConstraint("target_type IN ('consultation', 'proposal', 'action')", name="target_type_known"),
        Index("ix_follow_target", "target_type", "target_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _user_fk()
    target_type: str = Field(max_length=16)
    target_id: int
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class Notification(SQLModel, table=True):
    """One thing to tell one person; shown in their list, and emailed unless they said never."""

    __tablename__ = "notification"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('phase_started', 'official_answer', 'comment_reply', 'action_progress', 'content_hidden',"
            " 'content_restored')",
            name="kind_known",
        ),
        Index("ix_notification_user_created", "user_id", "created_at"),
        Index("ix_notification_unsent", "emailed_at", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _user_fk()
    kind: str = Field(max_length=20)
    target_type: str = Field(max_length=16)
    target_id: int
    title: str = Field(max_length=300)  # plain text, in French (the msgid) with its values
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    url: str = Field(max_length=300)  # a path within the site
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    # Emailed (alone or in a digest), or skipped because the person asked for no email.
    emailed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class NotificationPreference(SQLModel, table=True):
    """How a person wants their notifications by email; no row means immediate."""

    __tablename__ = "notification_preference"
    __table_args__ = (
        CheckConstraint("email_frequency IN ('immediate', 'daily', 'never')", name="email_frequency_known"),
    )

    user_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    )
    email_frequency: str = Field(default=EmailFrequency.immediate, max_length=10)
    last_digest_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class PhaseAnnouncement(SQLModel, table=True):
    """A phase start already announced to followers, so that the job announces it once."""

    __tablename__ = "phase_announcement"
    __table_args__ = (UniqueConstraint("consultation_id", "phase"),)

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(
        sa_column=Column(Integer, ForeignKey("consultation.id", ondelete="CASCADE"), nullable=False)
    )
    phase: str = Field(max_length=12)
    announced_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
