"""What the audit API answers."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_id: int | None = Field(description="The actor's account (null: the platform itself or the command line)")
    actor_label: str = Field(description="The actor's name when they acted")
    action: str = Field(examples=["proposal.hidden"])
    target_type: str = Field(examples=["proposal"])
    target_id: str
    channel: str = Field(examples=["online", "assisted"])
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next (older) entries; null at the end")
