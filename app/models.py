"""Every table model, imported so that SQLModel.metadata is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from app.accounts.models import AccessToken, AccountToken, OidcIdentity, RoleGrant, User, UserSession
from app.audit.models import AuditEntry
from app.territory.models import Axis, Commune, CommunePostalCode, Epci

metadata = SQLModel.metadata

__all__ = [
    "AccessToken", "AccountToken", "AuditEntry", "Axis", "Commune", "CommunePostalCode", "Epci", "OidcIdentity",
    "RoleGrant", "User", "UserSession", "metadata",
]
