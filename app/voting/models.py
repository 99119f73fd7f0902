"""Votes. Every vote records its channel: `online`, or `assisted` (entered by a mediator, who is
named in the audit log)."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, Integer, UniqueConstraint
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


class Ballot(SQLModel, table=True):
    """One resident's ballot in a `majority_judgment` or `budget` consultation: one per resident
    and consultation (replacing it rewrites its lines in one transaction)."""

    __tablename__ = "ballot"
    __table_args__ = (
        UniqueConstraint("consultation_id", "voter_id"),
        CheckConstraint("channel IN ('online', 'assisted')", name="channel_known"),
    )

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    voter_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    channel: str = Field(default=Channel.online, max_length=10)
    cast_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class BallotGrade(SQLModel, table=True):
    """A grade given to one proposal in a majority-judgment ballot."""

    __tablename__ = "ballot_grade"
    __table_args__ = (
        CheckConstraint(
            "grade IN ('excellent', 'tres_bien', 'bien', 'assez_bien', 'passable', 'insuffisant', 'a_rejeter')",
            name="grade_known",
        ),
        Index("ix_ballot_grade_proposal_grade", "proposal_id", "grade"),
    )

    ballot_id: int = Field(
        sa_column=Column(Integer, ForeignKey("ballot.id", ondelete="CASCADE"), primary_key=True)
    )
    proposal_id: int = Field(foreign_key="proposal.id", primary_key=True)
    grade: str = Field(max_length=12)


class BallotChoice(SQLModel, table=True):
    """A proposal selected in a participatory-budget ballot."""

    __tablename__ = "ballot_choice"

    ballot_id: int = Field(
        sa_column=Column(Integer, ForeignKey("ballot.id", ondelete="CASCADE"), primary_key=True)
    )
    proposal_id: int = Field(foreign_key="proposal.id", primary_key=True, index=True)


class ResultSnapshot(SQLModel, table=True):
    """The results of a vote, computed once when its voting phase is over and kept as published."""

    __tablename__ = "result_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", unique=True)
    method: str = Field(max_length=20)
    participants: int
    items: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    computed_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
