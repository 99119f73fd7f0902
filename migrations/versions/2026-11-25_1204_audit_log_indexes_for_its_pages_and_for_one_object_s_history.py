"""audit log: indexes for its pages and for one object's history

Revision ID: f39d00771448
Revises: 0406e6f0a24b
Create Date: 2026-11-25 12:04:33.896617
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'f39d00771448'
down_revision: str | None = '0406e6f0a24b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The log's pages go newest first by (at, id); an object's history looks up (target_type, target_id)."""
    op.drop_index("ix_audit_entry_at", table_name="audit_entry")
    op.create_index("ix_audit_entry_at_id", "audit_entry", ["at", "id"], unique=False)
    op.create_index("ix_audit_entry_target", "audit_entry", ["target_type", "target_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_entry_target", table_name="audit_entry")
    op.drop_index("ix_audit_entry_at_id", table_name="audit_entry")
    op.create_index("ix_audit_entry_at", "audit_entry", ["at"], unique=False)
