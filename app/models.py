"""Every table model, imported so that SQLModel.metadata is complete (Alembic, tests)."""

from typing import Any

from sqlmodel import SQLModel

from app.accounts.models import AccessToken, AccountToken, OidcIdentity, RoleGrant, User, UserSession
from app.actions.models import ActionEvaluation, ActionProposal, ActionUpdate, PublicAction
from app.audit.models import AuditEntry
from app.consultations.models import Consultation
from app.moderation.models import Report
from app.notifications.models import Follow, Notification, NotificationPreference, PhaseAnnouncement
from app.proposals.models import Comment, Proposal
from app.territory.models import Axis, Commune, CommunePostalCode, Epci
from app.voting.models import Ballot, BallotChoice, BallotGrade, Participation, ResultSnapshot, SupportVote

metadata = SQLModel.metadata

# Full-text search lives outside the models (FTS5 tables on SQLite, a generated tsvector and its
# index on PostgreSQL): see the participation migration.
FULL_TEXT_SEARCH_OBJECTS = ("search_vector", "ix_proposal_search_vector")


def is_full_text_search_object(name: str | None) -> bool:
    return bool(name) and (str(name).startswith("proposal_fts") or name in FULL_TEXT_SEARCH_OBJECTS)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """For Alembic's autogenerate: compare everything but the full-text search objects."""
    return not (reflected and compare_to is None and is_full_text_search_object(name))

__all__ = [
    "AccessToken",
    "AccountToken",
    "ActionEvaluation",
    "ActionProposal",
    "ActionUpdate",
    "AuditEntry",
    "Axis",
    "Ballot",
    "BallotChoice",
    "BallotGrade",
    "Comment",
    "Commune",
    "CommunePostalCode",
    "Consultation",
    "Epci",
    "Follow",
    "Notification",
    "NotificationPreference",
    "OidcIdentity",
    "Participation",
    "PhaseAnnouncement",
    "Proposal",
    "PublicAction",
    "Report",
    "ResultSnapshot",
    "RoleGrant",
    "SupportVote",
    "User",
    "UserSession",
    "include_object",
    "is_full_text_search_object",
    "metadata",
]
