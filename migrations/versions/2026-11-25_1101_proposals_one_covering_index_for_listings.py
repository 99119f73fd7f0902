"""proposals: one covering index for listings

Revision ID: 0406e6f0a24b
Revises: afe1d4c02aa0
Create Date: 2026-11-25 11:01:24.557750
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0406e6f0a24b'
down_revision: str | None = 'afe1d4c02aa0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


LISTING_COLUMNS = ["consultation_id", "state", "id", "supports_count", "comments_count", "created_at"]


def upgrade() -> None:
    """Listings take their count and their page's ids from one index that holds every column they
    filter and sort on (see proposals.service.list_proposals); it replaces two narrower ones."""
    op.drop_index("ix_proposal_consultation_state", table_name="proposal")
    op.drop_index("ix_proposal_consultation_supports", table_name="proposal")
    op.create_index("ix_proposal_listing", "proposal", LISTING_COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_proposal_listing", table_name="proposal")
    op.create_index("ix_proposal_consultation_supports", "proposal", ["consultation_id", "supports_count"], unique=False)
    op.create_index("ix_proposal_consultation_state", "proposal", ["consultation_id", "state"], unique=False)
