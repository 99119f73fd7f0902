"""Actions: what accepted proposals become, their dated progress updates, and residents' ratings.

Named `PublicAction` in Python so that it never meets the permission `Action` of accounts.policy."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UtcDateTime


class ActionStatus(StrEnum):
    planned = "planned"
    in_progress = "in_progress"
    done = "done"
    abandoned = "abandoned"


class PublicAction(SQLModel, table=True):
    __tablename__ = "public_action"
    __table_args__ = (
        CheckConstraint("status IN ('planned', 'in_progress', 'done', 'abandoned')", name="status_known"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        CheckConstraint("budget IS NULL OR budget >= 0", name="budget_positive"),
        CheckConstraint("planned_start IS NULL OR planned_end IS NULL OR planned_start <= planned_end",
                        name="dates_in_order"),
    )

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))  # Markdown
    description_html: str = Field(default="", sa_column=Column(Text, nullable=False))
    owner: str = Field(max_length=200)  # the service or body in charge
    budget: int | None = None  # euros
    planned_start: date | None = Field(default=None, sa_column=Column(Date))
    planned_end: date | None = Field(default=None, sa_column=Column(Date))
    status: str = Field(default=ActionStatus.planned, max_length=12)
    progress: int = 0  # per cent
    # Residents' evaluation, kept by the same transactions as the ratings they count.
    ratings_count: int = 0
    ratings_sum: int = 0
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class ActionProposal(SQLModel, table=True):
    """The proposals an action comes from (usually one; several after a merge)."""

    __tablename__ = "public_action_proposal"

    action_id: int = Field(
        sa_column=Column(Integer, ForeignKey("public_action.id", ondelete="CASCADE"), primary_key=True)
    )
    proposal_id: int = Field(foreign_key="proposal.id", primary_key=True, index=True)


class ActionUpdate(SQLModel, table=True):
    """A dated progress update: what happened, and the status and progress after it."""

    __tablename__ = "public_action_update"
    __table_args__ = (
        CheckConstraint("status IN ('planned', 'in_progress', 'done', 'abandoned')", name="status_known"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        Index("ix_public_action_update_action_date", "action_id", "occurred_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(
        sa_column=Column(Integer, ForeignKey("public_action.id", ondelete="CASCADE"), nullable=False)
    )
    occurred_on: date = Field(sa_column=Column(Date, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=12)
    progress: int
    author_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class ActionEvaluation(SQLModel, table=True):
    """A resident's rating (1-5) of an action during the follow-up phase, with an optional comment;
    one per resident and action (rating again replaces it)."""

    __tablename__ = "public_action_evaluation"
    __table_args__ = (
        UniqueConstraint("action_id", "user_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("channel IN ('online', 'assisted')", name="channel_known"),
        CheckConstraint("state IN ('published', 'hidden')", name="state_known"),
    )

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(
        sa_column=Column(Integer, ForeignKey("public_action.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    user_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    rating: int
    comment: str | None = Field(default=None, sa_column=Column(Text))
    comment_html: str | None = Field(default=None, sa_column=Column(Text))
    state: str = Field(default="published", max_length=10)
    channel: str = Field(default="online", max_length=10)
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
