"""The audit log: append-only (the database refuses UPDATE and DELETE on it, see the migration)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from app.core.db import UtcDateTime


class AuditEntry(SQLModel, table=True):
    """Who did what to which object, when, with the state before and after."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_at_id", "at", "id"),  # the log's pages, newest first
        Index("ix_audit_entry_target", "target_type", "target_id"),  # one object's history
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    # The actor's account; kept as a plain number so the entry survives whatever happens to it.
    actor_id: int | None = Field(default=None, index=True)
    actor_label: str = Field(max_length=200)
    action: str = Field(max_length=80, index=True)
    target_type: str = Field(max_length=40)
    target_id: str = Field(max_length=40)
    channel: str = Field(default="online", max_length=16)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
