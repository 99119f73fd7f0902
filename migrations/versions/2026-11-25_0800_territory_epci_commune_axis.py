"""territory: epci, commune, commune_postal_code, axis

Revision ID: 8d373fc52b06
Revises:
Create Date: 2026-11-25 08:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8d373fc52b06"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "axis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint("number BETWEEN 1 AND 16", name=op.f("ck_axis_number_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_axis")),
        sa.UniqueConstraint("number", name=op.f("uq_axis_number")),
        sa.UniqueConstraint("slug", name=op.f("uq_axis_slug")),
    )
    op.create_table(
        "epci",
        sa.Column("siren", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("short_name", sa.String(length=80), nullable=True),
        sa.Column("departements", sa.String(length=20), nullable=False),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column("is_signatory", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("siren", name=op.f("pk_epci")),
    )
    op.create_index(op.f("ix_epci_is_signatory"), "epci", ["is_signatory"])
    op.create_table(
        "commune",
        sa.Column("insee_code", sa.String(length=5), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("search_name", sa.String(length=120), nullable=False),
        sa.Column("departement", sa.String(length=3), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("epci_siren", sa.String(length=9), nullable=False),
        sa.Column("is_in_perimeter", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["epci_siren"], ["epci.siren"], name=op.f("fk_commune_epci_siren_epci")),
        sa.PrimaryKeyConstraint("insee_code", name=op.f("pk_commune")),
    )
    op.create_index(op.f("ix_commune_epci_siren"), "commune", ["epci_siren"])
    op.create_index(op.f("ix_commune_search_name"), "commune", ["search_name"])
    op.create_table(
        "commune_postal_code",
        sa.Column("insee_code", sa.String(length=5), nullable=False),
        sa.Column("postal_code", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(
            ["insee_code"], ["commune.insee_code"],
            name=op.f("fk_commune_postal_code_insee_code_commune"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("insee_code", "postal_code", name=op.f("pk_commune_postal_code")),
    )
    op.create_index(op.f("ix_commune_postal_code_postal_code"), "commune_postal_code", ["postal_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_commune_postal_code_postal_code"), table_name="commune_postal_code")
    op.drop_table("commune_postal_code")
    op.drop_index(op.f("ix_commune_search_name"), table_name="commune")
    op.drop_index(op.f("ix_commune_epci_siren"), table_name="commune")
    op.drop_table("commune")
    op.drop_index(op.f("ix_epci_is_signatory"), table_name="epci")
    op.drop_table("epci")
    op.drop_table("axis")
