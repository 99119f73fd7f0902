"""Writing and reading the audit log. Entries are never changed once written."""

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.audit.models import AuditEntry


def record(
    session: Session,
    *,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_type: str,
    target_id: object,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    channel: str = "online",
) -> AuditEntry:
    """Append one entry; flushed with the change it describes, so both commit or neither."""
    entry = AuditEntry(
        at=now, actor_id=actor_id, actor_label=actor_label[:200], action=action,
        target_type=target_type, target_id=str(target_id), channel=channel, before=before, after=after,
    )
    session.add(entry)
    session.flush()
    return entry


def entries_for(session: Session, *, target_type: str, target_id: object) -> list[AuditEntry]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.target_type == target_type, AuditEntry.target_id == str(target_id))
        .order_by(col(AuditEntry.at), col(AuditEntry.id))
    )
    return list(session.exec(query))
