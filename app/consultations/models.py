"""Consultations: tied to one axis, open to a territory, run through dated phases."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Text
from sqlmodel import Field, SQLModel

from app.core.db import UtcDateTime


class Phase(StrEnum):
    upcoming = "upcoming"  # before the information phase starts
    information = "information"
    proposals = "proposals"
    voting = "voting"
    results = "results"
    follow_up = "follow_up"
    closed = "closed"  # after the follow-up ends


PHASES_IN_ORDER = (Phase.information, Phase.proposals, Phase.voting, Phase.results, Phase.follow_up)


class ScopeKind(StrEnum):
    basin = "basin"
    epci = "epci"
    commune = "commune"


class VotingMethod(StrEnum):
    support = "support"
    majority_judgment = "majority_judgment"
    budget = "budget"


class ConsultationStatus(StrEnum):
    draft = "draft"
    published = "published"
    archived = "archived"


class Consultation(SQLModel, table=True):
    """A consultation. Phase dates are the start of each phase; a phase ends when the next starts,
    so phases can neither overlap nor leave gaps."""

    __tablename__ = "consultation"
    __table_args__ = (
        CheckConstraint("scope_kind IN ('basin', 'epci', 'commune')", name="scope_kind_known"),
        CheckConstraint("(scope_kind = 'basin') = (scope_code IS NULL)", name="scope_code_matches_kind"),
        CheckConstraint("voting_method IN ('support', 'majority_judgment', 'budget')", name="voting_method_known"),
        CheckConstraint("status IN ('draft', 'published', 'archived')", name="status_known"),
        CheckConstraint("required_verification IN ('none', 'declared', 'verified')", name="verification_known"),
        CheckConstraint("max_supports >= 0", name="max_supports_positive"),
        CheckConstraint("min_age IS NULL OR min_age BETWEEN 0 AND 120", name="min_age_range"),
        CheckConstraint("budget_total IS NULL OR budget_total > 0", name="budget_positive"),
        CheckConstraint(
            "information_starts_at <= proposals_starts_at AND proposals_starts_at <= voting_starts_at"
            " AND voting_starts_at <= results_starts_at AND results_starts_at <= follow_up_starts_at"
            " AND (follow_up_ends_at IS NULL OR follow_up_starts_at <= follow_up_ends_at)",
            name="phases_in_order",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=120, unique=True)
    title: str = Field(max_length=200)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(default="", sa_column=Column(Text, nullable=False))  # Markdown
    easy_read_summary: str | None = Field(default=None, sa_column=Column(Text))  # FALC version
    easy_read_rules: str | None = Field(default=None, sa_column=Column(Text))
    axis_id: int = Field(foreign_key="axis.id", index=True)
    scope_kind: str = Field(default=ScopeKind.basin, max_length=10)
    scope_code: str | None = Field(default=None, max_length=9)  # EPCI SIREN or commune INSEE code
    information_starts_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    proposals_starts_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    voting_starts_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    results_starts_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    follow_up_starts_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    follow_up_ends_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    voting_method: str = Field(default=VotingMethod.support, max_length=20)
    max_supports: int = 0  # 0: no limit
    min_age: int | None = None
    required_verification: str = Field(default="declared", max_length=16)
    results_hidden_until_end: bool = False
    # Pre-moderation: proposals appear only once a moderator approves them.
    is_premoderated: bool = False
    budget_total: int | None = None
    status: str = Field(default=ConsultationStatus.draft, max_length=12, index=True)
    # Set by the first vote; from then on the voting method and rules cannot change.
    first_vote_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", ondelete="SET NULL")

    def phase_starts(self) -> dict[Phase, datetime]:
        return {
            Phase.information: self.information_starts_at,
            Phase.proposals: self.proposals_starts_at,
            Phase.voting: self.voting_starts_at,
            Phase.results: self.results_starts_at,
            Phase.follow_up: self.follow_up_starts_at,
        }
