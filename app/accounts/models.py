"""Accounts: people, their sign-in identities, server-side sessions, roles and tokens."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.db import UtcDateTime


def _at(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(), nullable=nullable, index=index))


def _user_fk(*, nullable: bool = False, ondelete: str = "CASCADE", index: bool = True) -> Any:
    return Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("user_account.id", ondelete=ondelete), nullable=nullable, index=index),
    )


class VerificationLevel(StrEnum):
    """How sure we are that the person lives in their commune."""

    none = "none"
    declared = "declared"  # said so at onboarding
    verified = "verified"  # checked in person by a mediator or an admin


VERIFICATION_ORDER = {VerificationLevel.none: 0, VerificationLevel.declared: 1, VerificationLevel.verified: 2}


class Role(StrEnum):
    resident = "resident"
    mediator = "mediator"
    moderator = "moderator"
    evaluator = "evaluator"
    admin = "admin"


class User(SQLModel, table=True):
    """A person. Erasure empties every personal field and keeps the row, so that contributions
    stay (anonymously) and tallies do not move."""

    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint("verification_level IN ('none', 'declared', 'verified')", name="verification_known"),
        CheckConstraint("birth_year IS NULL OR birth_year BETWEEN 1900 AND 2100", name="birth_year_range"),
    )

    id: int | None = Field(default=None, primary_key=True)
    display_name: str | None = Field(default=None, max_length=80)
    email: str | None = Field(default=None, max_length=254, unique=True)
    is_email_confirmed: bool = Field(default=False)
    password_hash: str | None = Field(default=None, max_length=255)
    given_name: str | None = Field(default=None, max_length=200)  # from a trusted identity provider
    family_name: str | None = Field(default=None, max_length=200)
    commune_insee: str | None = Field(default=None, foreign_key="commune.insee_code", max_length=5, index=True)
    birth_year: int | None = None
    verification_level: str = Field(default=VerificationLevel.none, max_length=16)
    verified_by_id: int | None = _user_fk(nullable=True, ondelete="SET NULL", index=False)
    verified_at: datetime | None = _at()
    # The person's identity (not residence) was proven by a trusted provider such as FranceConnect.
    is_identity_verified: bool = Field(default=False)
    terms_version: str | None = Field(default=None, max_length=20)
    terms_accepted_at: datetime | None = _at()
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    last_sign_in_at: datetime | None = _at()
    erased_at: datetime | None = _at()
    # A moderator may bar someone from participating for a while; sign-in and data rights stay.
    participation_blocked_until: datetime | None = _at()
    participation_block_reason: str | None = Field(default=None, max_length=500)
    # Set when a mediator registered the person at a counter (assisted participation).
    registered_by_id: int | None = _user_fk(nullable=True, ondelete="SET NULL", index=False)

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    def is_blocked(self, now: datetime) -> bool:
        return self.participation_blocked_until is not None and self.participation_blocked_until > now

    @property
    def needs_onboarding(self) -> bool:
        return self.commune_insee is None or self.terms_accepted_at is None


class OidcIdentity(SQLModel, table=True):
    """A sign-in through an OpenID Connect provider: (issuer, subject) names one person there."""

    __tablename__ = "oidc_identity"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _user_fk()
    provider: str = Field(max_length=40)
    issuer: str = Field(max_length=255)
    subject: str = Field(max_length=255)
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    last_used_at: datetime | None = _at()


class UserSession(SQLModel, table=True):
    """A server-side session; the cookie holds a random token whose hash is the key."""

    __tablename__ = "user_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int | None = _user_fk(nullable=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    user_agent: str | None = Field(default=None, max_length=200)


class RoleGrant(SQLModel, table=True):
    """A role given to a person, for the whole platform or scoped to an axis, a consultation or a commune."""

    __tablename__ = "role_grant"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "scope_key"),
        CheckConstraint("role IN ('resident', 'mediator', 'moderator', 'evaluator', 'admin')", name="role_known"),
        CheckConstraint(
            "(CASE WHEN axis_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN consultation_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN commune_insee IS NULL THEN 0 ELSE 1 END) <= 1",
            name="one_scope",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _user_fk()
    role: str = Field(max_length=16)
    axis_id: int | None = Field(default=None, foreign_key="axis.id")
    # Named by table, not imported: accounts sit below the consultations domain.
    consultation_id: int | None = Field(default=None, foreign_key="consultation.id", ondelete="CASCADE")
    commune_insee: str | None = Field(default=None, foreign_key="commune.insee_code", max_length=5)
    # "" for the whole platform, else "axis:3", "consultation:12" or "commune:62510": unique with NULLs too.
    scope_key: str = Field(default="", max_length=40)
    granted_by_id: int | None = _user_fk(nullable=True, ondelete="SET NULL", index=False)
    granted_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))


class AccessToken(SQLModel, table=True):
    """A personal access token for programs; only its hash is kept."""

    __tablename__ = "access_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _user_fk()
    name: str = Field(max_length=80)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)  # shown in lists so the owner recognises it
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    last_used_at: datetime | None = _at()
    revoked_at: datetime | None = _at()


class AccountTokenKind(StrEnum):
    confirm_email = "confirm_email"
    reset_password = "reset_password"
    claim_account = "claim_account"


class AccountToken(SQLModel, table=True):
    """A single-use token sent by mail (confirmation, password reset); only its hash is kept."""

    __tablename__ = "account_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _user_fk()
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    used_at: datetime | None = _at()
