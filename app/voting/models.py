"""Votes. Every vote records its channel: `online`, or `assisted` (entered by a mediator, who is
named in the audit log)."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UtcDateTime


class Channel(StrEnum):
    online = "online"
    assisted = "assisted"


class SupportVote(SQLModel, table=True):
    """One resident's support for one proposal (voting method `support`). Withdrawing deletes it,
    so the unique constraint always holds; erasing the account cuts `voter_id` and keeps the vote."""

    __tablename__ = "support_vote"
    __table_args__ = (
        UniqueConstraint("proposal_id", "voter_id"),
        CheckConstraint("channel IN ('online', 'assisted')", name="channel_known"),
    )

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    voter_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    channel: str = Field(default=Channel.online, max_length=10)
    cast_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class Participation(SQLModel, table=True):
    """How many supports a resident has used in a consultation. Every support goes through one
    conditional UPDATE of this row, which serialises a resident's concurrent votes and enforces
    `max_supports` in the database."""

    __tablename__ = "participation"
    __table_args__ = (
        UniqueConstraint("consultation_id", "voter_id"),
        CheckConstraint("supports_used >= 0", name="supports_used_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id")
    voter_id: int = Field(
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    supports_used: int = 0
