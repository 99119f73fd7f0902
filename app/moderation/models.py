"""Reports raised by residents on proposals and comments."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UtcDateTime


class ReportReason(StrEnum):
    spam = "spam"
    offensive = "offensive"
    off_topic = "off_topic"
    personal_data = "personal_data"
    other = "other"


class Report(SQLModel, table=True):
    """One person's report of one item; `target_key` ("proposal:12") makes it count once."""

    __tablename__ = "report"
    __table_args__ = (
        UniqueConstraint("reporter_id", "target_key"),
        CheckConstraint("target_type IN ('proposal', 'comment')", name="target_type_known"),
        CheckConstraint("reason IN ('spam', 'offensive', 'off_topic', 'personal_data', 'other')", name="reason_known"),
        CheckConstraint("(proposal_id IS NULL) <> (comment_id IS NULL)", name="one_target"),
        CheckConstraint("resolution IS NULL OR resolution IN ('hidden', 'restored', 'approved')",
                        name="resolution_known"),
        Index("ix_report_open", "resolved_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    target_type: str = Field(max_length=10)
    target_key: str = Field(max_length=30, index=True)
    proposal_id: int | None = Field(default=None, foreign_key="proposal.id", index=True)
    comment_id: int | None = Field(default=None, foreign_key="comment.id", index=True)
    reporter_id: int = Field(foreign_key="user_account.id", index=True)
    reason: str = Field(max_length=16)
    text: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    resolved_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")
    # What the moderator decided: hidden, restored (kept visible) or approved.
    resolution: str | None = Field(default=None, max_length=12)
