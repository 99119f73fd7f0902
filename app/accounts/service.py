"""Accounts: sign-up and sign-in, onboarding, residence, roles, personal data rights.

Services flush and never commit; the route (or the CLI) commits once."""

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, delete, select

from app.accounts.models import (
    VERIFICATION_ORDER,
    AccessToken,
    AccountToken,
    AccountTokenKind,
    OidcIdentity,
    Role,
    RoleGrant,
    User,
    VerificationLevel,
)
from app.accounts.passwords import hash_password, password_problems, verify_password
from app.accounts.policy import Action, Principal, can
from app.accounts.sessions import SessionStore
from app.audit import service as audit
from app.core.db import keep_loaded
from app.core.errors import Conflict, DomainError, Forbidden, NotFound
from app.core.i18n import N_
from app.core.settings import OidcProvider
from app.territory.models import Commune

ANONYMOUS_NAME = N_("Habitant·e anonyme")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
CONFIRMATION_TTL = timedelta(days=2)
RESET_TTL = timedelta(hours=1)
TOKEN_PREFIX = "carreau_"


class InvalidCredentials(DomainError):
    status_code = 400
    message = N_("Adresse électronique ou mot de passe incorrect.")


class EmailNotConfirmed(DomainError):
    status_code = 403
    message = N_("Confirmez d’abord votre adresse électronique : suivez le lien du message que nous vous avons envoyé.")


class InvalidLink(DomainError):
    status_code = 400
    message = N_("Ce lien n’est plus valable : il a déjà servi ou il a expiré. Demandez-en un nouveau.")


class InvalidInput(DomainError):
    """A form field is wrong; `errors` maps field names to French messages."""

    status_code = 422
    message = N_("Le formulaire contient des erreurs.")

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__()
        self.errors = errors


class UserNotFound(NotFound):
    message = N_("Cette personne n’existe pas.")


class RoleAlreadyGranted(Conflict):
    message = N_("Cette personne a déjà ce rôle.")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


def display_name_of(user: User | None) -> str:
    """The name shown beside contributions; erased accounts show as an anonymous resident."""
    if user is None or user.is_erased or not user.display_name:
        return ANONYMOUS_NAME
    return user.display_name


# --- hooks that later domains register (they sit above accounts and may not be imported here)

ErasureHook = Callable[[Session, int, datetime], None]
ExportSection = Callable[[Session, int], Any]
_erasure_hooks: list[ErasureHook] = []
_export_sections: dict[str, ExportSection] = {}


def on_erasure(hook: ErasureHook) -> ErasureHook:
    """Register what another domain must do when an account is erased (e.g. unlink votes)."""
    _erasure_hooks.append(hook)
    return hook


def export_section(name: str) -> Callable[[ExportSection], ExportSection]:
    """Register a section of the personal data export (e.g. the person's proposals)."""

    def register(section: ExportSection) -> ExportSection:
        _export_sections[name] = section
        return section

    return register


# --- users


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.is_erased:
        raise UserNotFound()
    return user


def find_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


def _validate_display_name(name: str, errors: dict[str, list[str]]) -> str:
    cleaned = " ".join(name.split())
    if not 2 <= len(cleaned) <= 80:
        errors.setdefault("display_name", []).append(N_("Le nom affiché doit compter de 2 à 80 caractères."))
    return cleaned


def _validate_email(email: str, errors: dict[str, list[str]]) -> str:
    cleaned = normalize_email(email)
    if not EMAIL_PATTERN.match(cleaned) or len(cleaned) > 254:
        errors.setdefault("email", []).append(
            N_("Saisissez une adresse électronique valide, par exemple nom@exemple.fr.")
        )
    return cleaned


def create_user(
    session: Session, *, display_name: str, now: datetime, email: str | None = None, password: str | None = None,
    is_email_confirmed: bool = False, commune_insee: str | None = None, birth_year: int | None = None,
) -> User:
    """Create an account (CLI, mediators, sign-up). Refuses a taken e-mail address."""
    errors: dict[str, list[str]] = {}
    name = _validate_display_name(display_name, errors)
    address = _validate_email(email, errors) if email else None
    if password is not None:
        for problem in password_problems(password, email=address):
            errors.setdefault("password", []).append(problem)
    if commune_insee is not None and session.get(Commune, commune_insee) is None:
        errors.setdefault("commune", []).append(N_("Cette commune ne fait pas partie du territoire."))
    if errors:
        raise InvalidInput(errors)
    if address and find_by_email(session, address) is not None:
        raise InvalidInput({"email": [N_("Un compte existe déjà avec cette adresse.")]})
    user = User(
        display_name=name, email=address, is_email_confirmed=is_email_confirmed,
        password_hash=hash_password(password) if password else None, commune_insee=commune_insee,
        birth_year=birth_year, created_at=now,
    )
    session.add(user)
    session.flush()
    return user


# --- single-use mail tokens


def issue_account_token(session: Session, user: User, kind: AccountTokenKind, *, now: datetime,
                        ttl: timedelta) -> str:
    """A fresh single-use token; earlier unused tokens of the same kind stop working."""
    assert user.id is not None
    session.exec(
        delete(AccountToken).where(
            col(AccountToken.user_id) == user.id, col(AccountToken.kind) == kind, col(AccountToken.used_at).is_(None)
        )
    )
    raw = secrets.token_urlsafe(32)
    session.add(AccountToken(user_id=user.id, kind=kind, token_hash=digest(raw), created_at=now, expires_at=now + ttl))
    session.flush()
    return raw


def consume_account_token(session: Session, raw: str, kind: AccountTokenKind, *, now: datetime) -> User:
    token = session.exec(select(AccountToken).where(AccountToken.token_hash == digest(raw))).first()
    if token is None or token.kind != kind or token.used_at is not None or token.expires_at <= now:
        raise InvalidLink()
    token.used_at = now
    session.add(token)
    user = session.get(User, token.user_id)
    if user is None or user.is_erased:
        raise InvalidLink()
    session.flush()
    return user


# --- local accounts


def sign_up(
    session: Session, *, email: str, display_name: str, password: str, now: datetime
) -> tuple[User, str] | None:
    """Create an unconfirmed account and return it with its confirmation token. When the address
    is taken, return None: the page says the same thing either way (no account enumeration)."""
    errors: dict[str, list[str]] = {}
    _validate_display_name(display_name, errors)
    address = _validate_email(email, errors)
    for problem in password_problems(password, email=address):
        errors.setdefault("password", []).append(problem)
    if errors:
        raise InvalidInput(errors)
    if find_by_email(session, address) is not None:
        hash_password(password)  # same work as a real sign-up
        return None
    user = create_user(session, display_name=display_name, email=address, password=password, now=now)
    return user, issue_account_token(session, user, AccountTokenKind.confirm_email, now=now, ttl=CONFIRMATION_TTL)


def confirm_email(session: Session, raw: str, *, now: datetime) -> User:
    user = consume_account_token(session, raw, AccountTokenKind.confirm_email, now=now)
    user.is_email_confirmed = True
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> User:
    user = find_by_email(session, email) if email else None
    # Always verify (a dummy hash when there is no account): the time taken must not reveal accounts.
    password_ok = verify_password(password, user.password_hash if user else None)
    if user is None or user.is_erased or not password_ok:
        raise InvalidCredentials()
    if not user.is_email_confirmed:
        raise EmailNotConfirmed()
    user.last_sign_in_at = now
    session.add(user)
    session.flush()
    return user


def request_password_reset(session: Session, *, email: str, now: datetime) -> tuple[User, str] | None:
    """A reset token for an account with a confirmed address, else None (the page does not say which)."""
    user = find_by_email(session, email)
    if user is None or user.is_erased or not user.email:
        return None
    return user, issue_account_token(session, user, AccountTokenKind.reset_password, now=now, ttl=RESET_TTL)


def reset_password(session: Session, sessions: SessionStore, raw: str, *, password: str, now: datetime) -> User:
    """Set a new password from a mailed link; every open session of the account is closed."""
    token = session.exec(select(AccountToken).where(AccountToken.token_hash == digest(raw))).first()
    user = session.get(User, token.user_id) if token else None
    problems = password_problems(password, email=user.email if user else None)
    if problems:
        raise InvalidInput({"password": problems})
    user = consume_account_token(session, raw, AccountTokenKind.reset_password, now=now)
    user.password_hash = hash_password(password)
    user.is_email_confirmed = True  # the link proved the address
    session.add(user)
    session.flush()
    assert user.id is not None
    sessions.delete_for_user(user.id, within=session)
    return user


def change_password(session: Session, sessions: SessionStore, user: User, *, current: str, new: str,
                    keep_session: str | None) -> None:
    """Change the password; other sessions are closed, this one stays."""
    if user.password_hash and not verify_password(current, user.password_hash):
        raise InvalidInput({"current_password": [N_("Le mot de passe actuel est incorrect.")]})
    problems = password_problems(new, email=user.email)
    if problems:
        raise InvalidInput({"new_password": problems})
    user.password_hash = hash_password(new)
    session.add(user)
    session.flush()
    assert user.id is not None
    sessions.delete_for_user(user.id, keep=keep_session, within=session)


# --- OpenID Connect


def _birth_year(claims: dict[str, Any]) -> int | None:
    try:
        return date.fromisoformat(str(claims.get("birthdate", ""))).year
    except ValueError:
        return None


def _name_from_claims(claims: dict[str, Any]) -> str:
    given = str(claims.get("given_name") or claims.get("preferred_username") or "").split()
    family = str(claims.get("family_name") or "").strip()
    if given and family:
        return f"{given[0].capitalize()} {family[0].upper()}."
    if given:
        return given[0].capitalize()
    return "Habitant·e"


def sign_in_with_oidc(session: Session, provider: OidcProvider, issuer: str, claims: dict[str, Any], *,
                      now: datetime) -> User:
    """Find or create the account for (issuer, sub). An existing local account is joined only when
    the provider vouches for the e-mail address and that account confirmed the same address."""
    subject = str(claims["sub"])
    identity = session.exec(
        select(OidcIdentity).where(OidcIdentity.issuer == issuer, OidcIdentity.subject == subject)
    ).first()
    user: User | None = session.get(User, identity.user_id) if identity else None
    email = normalize_email(str(claims["email"])) if claims.get("email") else None
    email_verified = claims.get("email_verified") is True
    if user is None:
        if email and email_verified:
            existing = find_by_email(session, email)
            if existing is not None and existing.is_email_confirmed and not existing.is_erased:
                user = existing
        if user is None:
            free_email = email if email and email_verified and find_by_email(session, email) is None else None
            user = User(display_name=_name_from_claims(claims), email=free_email, is_email_confirmed=bool(free_email),
                        created_at=now)
            session.add(user)
            session.flush()
        assert user.id is not None
        identity = OidcIdentity(user_id=user.id, provider=provider.name, issuer=issuer, subject=subject,
                                created_at=now)
    if user.is_erased:
        raise InvalidCredentials()
    identity.last_used_at = now
    session.add(identity)
    if provider.trusted:
        # Certified identity data (identité pivot): recorded as given, never editable by the person.
        user.is_identity_verified = True
        user.given_name = str(claims.get("given_name") or "") or None
        user.family_name = str(claims.get("family_name") or "") or None
        user.birth_year = _birth_year(claims) or user.birth_year
    user.last_sign_in_at = now
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:  # the same identity created by a concurrent callback
        raise Conflict(N_("La connexion a été faite deux fois en même temps : réessayez.")) from error
    return user


# --- onboarding and profile


def _check_birth_year(birth_year: int | None, now: datetime, errors: dict[str, list[str]]) -> None:
    if birth_year is not None and not now.year - 120 <= birth_year <= now.year:
        errors.setdefault("birth_year", []).append(N_("Saisissez une année de naissance valide, par exemple 1985."))


def _set_commune(user: User, commune_insee: str) -> None:
    if user.commune_insee != commune_insee:
        user.commune_insee = commune_insee
        # A new commune has not been checked by anyone: back to "declared".
        user.verification_level = VerificationLevel.declared
        user.verified_by_id = None
        user.verified_at = None
    elif VERIFICATION_ORDER[VerificationLevel(user.verification_level)] < 1:
        user.verification_level = VerificationLevel.declared


def complete_onboarding(session: Session, user: User, *, commune_insee: str, birth_year: int | None,
                        accepts_terms: bool, terms_version: str, now: datetime) -> User:
    """First sign-in: the commune of residence (declared), an optional birth year, the terms."""
    errors: dict[str, list[str]] = {}
    if not commune_insee or session.get(Commune, commune_insee) is None:
        errors["commune"] = [N_("Choisissez votre commune dans la liste.")]
    if user.is_identity_verified and birth_year is None:
        birth_year = user.birth_year
    _check_birth_year(birth_year, now, errors)
    if not accepts_terms:
        errors["accept_terms"] = [N_("Acceptez les conditions d’utilisation pour participer.")]
    if errors:
        raise InvalidInput(errors)
    _set_commune(user, commune_insee)
    if not user.is_identity_verified:
        user.birth_year = birth_year
    user.terms_version = terms_version
    user.terms_accepted_at = now
    session.add(user)
    session.flush()
    return user


def update_profile(session: Session, user: User, *, display_name: str, commune_insee: str,
                   birth_year: int | None, now: datetime) -> User:
    errors: dict[str, list[str]] = {}
    name = _validate_display_name(display_name, errors)
    if not commune_insee or session.get(Commune, commune_insee) is None:
        errors["commune"] = [N_("Choisissez votre commune dans la liste.")]
    if not user.is_identity_verified:
        _check_birth_year(birth_year, now, errors)
    if errors:
        raise InvalidInput(errors)
    user.display_name = name
    _set_commune(user, commune_insee)
    if not user.is_identity_verified:  # certified by the provider otherwise
        user.birth_year = birth_year
    session.add(user)
    session.flush()
    return user


def verify_residence(
    session: Session, actor: Principal, user: User, *, now: datetime, channel: str = "assisted"
) -> User:
    """A mediator of the person's commune (or an admin) has checked their residence in person."""
    decision = can(actor, Action.verify_residence, user)
    if not decision:
        raise Forbidden(decision.reason)
    before = {"verification_level": user.verification_level, "commune_insee": user.commune_insee}
    user.verification_level = VerificationLevel.verified
    user.verified_by_id = actor.id
    user.verified_at = now
    session.add(user)
    audit.record(session, actor_id=actor.id, actor_label=display_name_of(actor.user), action="residence.verified",
                 target_type="user", target_id=user.id, now=now, before=before,
                 after={"verification_level": user.verification_level, "commune_insee": user.commune_insee},
                 channel=channel)
    return user


# --- roles


def scope_key(*, axis_id: int | None = None, consultation_id: int | None = None,
              commune_insee: str | None = None) -> str:
    if sum(value is not None for value in (axis_id, consultation_id, commune_insee)) > 1:
        message = N_("Un rôle porte sur un seul périmètre : un axe, une consultation ou une commune.")
        raise InvalidInput({"scope": [message]})
    if axis_id is not None:
        return f"axis:{axis_id}"
    if consultation_id is not None:
        return f"consultation:{consultation_id}"
    if commune_insee is not None:
        return f"commune:{commune_insee}"
    return ""


def grants_of(session: Session, user_id: int) -> tuple[RoleGrant, ...]:
    query = (
        select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(col(RoleGrant.role), col(RoleGrant.scope_key))
    )
    return tuple(session.exec(query))


def load_principal(session: Session, user: User) -> Principal:
    assert user.id is not None
    return Principal(user=user, grants=grants_of(session, user.id))


def grant_role(session: Session, user: User, role: Role, *, now: datetime, actor: Principal | None = None,
               axis_id: int | None = None, consultation_id: int | None = None,
               commune_insee: str | None = None) -> RoleGrant:
    """Give a role. `actor` None means the command line (an operator on the server)."""
    if actor is not None and not can(actor, Action.grant_role):
        raise Forbidden(can(actor, Action.grant_role).reason)
    key = scope_key(axis_id=axis_id, consultation_id=consultation_id, commune_insee=commune_insee)
    assert user.id is not None
    if session.exec(select(RoleGrant).where(RoleGrant.user_id == user.id, RoleGrant.role == role,
                                            RoleGrant.scope_key == key)).first():
        raise RoleAlreadyGranted()
    grant = RoleGrant(user_id=user.id, role=role, axis_id=axis_id, consultation_id=consultation_id,
                      commune_insee=commune_insee, scope_key=key, granted_by_id=actor.id if actor else None,
                      granted_at=now)
    try:
        with session.begin_nested():
            session.add(grant)
            session.flush()
    except IntegrityError as error:  # the axis, consultation or commune does not exist
        message = N_("Ce périmètre n’existe pas (axe, consultation ou commune inconnu).")
        raise InvalidInput({"scope": [message]}) from error
    audit.record(session, actor_id=actor.id if actor else None,
                 actor_label=display_name_of(actor.user) if actor else "carreau (ligne de commande)",
                 action="role.granted", target_type="user", target_id=user.id, now=now,
                 after={"role": role, "scope": key})
    return grant


def revoke_role(session: Session, user: User, role: Role, *, now: datetime, actor: Principal | None = None,
                axis_id: int | None = None, consultation_id: int | None = None,
                commune_insee: str | None = None) -> None:
    if actor is not None and not can(actor, Action.grant_role):
        raise Forbidden(can(actor, Action.grant_role).reason)
    key = scope_key(axis_id=axis_id, consultation_id=consultation_id, commune_insee=commune_insee)
    grant = session.exec(select(RoleGrant).where(RoleGrant.user_id == user.id, RoleGrant.role == role,
                                                 RoleGrant.scope_key == key)).first()
    if grant is None:
        raise NotFound(N_("Cette personne n’a pas ce rôle."))
    session.delete(grant)
    audit.record(session, actor_id=actor.id if actor else None,
                 actor_label=display_name_of(actor.user) if actor else "carreau (ligne de commande)",
                 action="role.revoked", target_type="user", target_id=user.id, now=now,
                 before={"role": role, "scope": key})
    session.flush()


# --- personal access tokens


def create_access_token(session: Session, user: User, *, name: str, now: datetime) -> tuple[AccessToken, str]:
    """A token for programs. The raw value is returned once; only its hash is kept."""
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 80:
        raise InvalidInput({"name": [N_("Donnez un nom de 1 à 80 caractères à ce jeton.")]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert user.id is not None
    token = AccessToken(user_id=user.id, name=cleaned, token_hash=digest(raw), prefix=raw[: len(TOKEN_PREFIX) + 4],
                        created_at=now)
    session.add(token)
    session.flush()
    return token, raw


def list_access_tokens(session: Session, user: User) -> list[AccessToken]:
    query = select(AccessToken).where(AccessToken.user_id == user.id).order_by(col(AccessToken.created_at).desc())
    return list(session.exec(query))


def revoke_access_token(session: Session, user: User, token_id: int, *, now: datetime) -> AccessToken:
    token = session.get(AccessToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(N_("Ce jeton n’existe pas."))
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
        session.flush()
    return token


def _with_commune_and_grants(query: Any) -> Any:
    return (query.outerjoin(Commune, col(Commune.insee_code) == col(User.commune_insee))
            .outerjoin(RoleGrant, col(RoleGrant.user_id) == col(User.id))
            .order_by(col(RoleGrant.role), col(RoleGrant.scope_key)))


def _principal_of(session: Session, user: User, commune: Commune | None, grants: Any) -> Principal:
    # The commune comes with the person: eligibility checks read it on every vote.
    keep_loaded(session, commune)
    return Principal(user=user, grants=tuple(grant for grant in grants if grant is not None))


def principal_for(session: Session, user_id: int) -> Principal | None:
    """The person with their commune and role grants, in one query (every signed-in request asks);
    None if the account is gone or erased."""
    rows = session.execute(_with_commune_and_grants(select(User, Commune, RoleGrant).where(col(User.id) == user_id)))
    rows = rows.all()
    if not rows or rows[0][0].is_erased:
        return None
    return _principal_of(session, rows[0][0], rows[0][1], (row[2] for row in rows))


def principal_for_access_token(session: Session, raw: str, *, now: datetime) -> Principal | None:
    """The person a personal access token stands for (token, person, commune and grants in one
    query), its last use recorded at most every five minutes; None for an unknown, revoked or
    orphaned token."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    rows = session.execute(_with_commune_and_grants(
        select(AccessToken, User, Commune, RoleGrant).join(User, col(User.id) == col(AccessToken.user_id))
        .where(col(AccessToken.token_hash) == digest(raw))
    )).all()
    if not rows:
        return None
    token, user, commune = rows[0][0], rows[0][1], rows[0][2]
    if token.revoked_at is not None or user.is_erased:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        # One statement, not the ORM's flush: the token may have been deleted meanwhile (the
        # account erased from another tab), which the flush would turn into a StaleDataError (500).
        # On SQLite in a savepoint: a reading request's transaction (it began with the SELECT above)
        # cannot take the write lock once another request has written since (SQLITE_BUSY_SNAPSHOT,
        # no busy timeout): the last use is then recorded by a later request, not turned into a 500
        # (found by sqlmap, docs/scans.md). PostgreSQL needs no savepoint (two round trips saved).
        record = (update(AccessToken).where(col(AccessToken.id) == token.id).values(last_used_at=now)
                  .execution_options(synchronize_session=False))
        if session.get_bind().dialect.name == "sqlite":
            try:
                with session.begin_nested():
                    used = session.execute(record)
            except OperationalError:
                return _principal_of(session, user, commune, (row[3] for row in rows))
        else:
            used = session.execute(record)
        if not used.rowcount:
            return None
        session.expire(token, ["last_used_at"])
    return _principal_of(session, user, commune, (row[3] for row in rows))


class AccountErased(DomainError):
    status_code = 401
    code = "account-erased"
    message = N_("Ce compte a été effacé.")


def hold_person(session: Session, user_id: int) -> None:
    """Hold the person's row (shared) until the end of the transaction, and refuse if the account
    was erased meanwhile: a vote cast while the same person erases their account from another tab
    lands either before the erasure (which then unlinks it) or not at all. PostgreSQL: FOR SHARE
    here, FOR UPDATE in erase_account; SQLite's writing transactions are serialised already."""
    erased = session.execute(select(User.erased_at).where(col(User.id) == user_id)
                             .with_for_update(read=True)).first()
    if erased is None or erased[0] is not None:
        raise AccountErased()


# --- personal data rights


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def export_data(session: Session, sessions: SessionStore, user: User, *, now: datetime) -> dict[str, Any]:
    """Everything held about the person and everything they contributed (RGPD art. 15 and 20)."""
    assert user.id is not None
    identities = session.exec(select(OidcIdentity).where(OidcIdentity.user_id == user.id))
    data: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "profile": {
            "id": user.id, "display_name": user.display_name, "email": user.email,
            "is_email_confirmed": user.is_email_confirmed, "given_name": user.given_name,
            "family_name": user.family_name, "commune_insee": user.commune_insee, "birth_year": user.birth_year,
            "verification_level": user.verification_level, "verified_at": _iso(user.verified_at),
            "is_identity_verified": user.is_identity_verified, "terms_version": user.terms_version,
            "terms_accepted_at": _iso(user.terms_accepted_at), "created_at": _iso(user.created_at),
            "last_sign_in_at": _iso(user.last_sign_in_at), "has_password": user.password_hash is not None,
        },
        "identities": [
            {"provider": i.provider, "issuer": i.issuer, "subject": i.subject, "created_at": _iso(i.created_at),
             "last_used_at": _iso(i.last_used_at)} for i in identities
        ],
        "roles": [
            {"role": g.role, "axis_id": g.axis_id, "consultation_id": g.consultation_id,
             "commune_insee": g.commune_insee, "granted_at": _iso(g.granted_at)} for g in grants_of(session, user.id)
        ],
        "sessions": [
            {"created_at": _iso(s.created_at), "last_seen_at": _iso(s.last_seen_at), "user_agent": s.user_agent}
            for _, s in sessions.list_for_user(user.id)
        ],
        "access_tokens": [
            {"name": t.name, "prefix": t.prefix, "created_at": _iso(t.created_at), "last_used_at": _iso(t.last_used_at),
             "revoked_at": _iso(t.revoked_at)} for t in list_access_tokens(session, user)
        ],
    }
    for name, section in _export_sections.items():
        data[name] = section(session, user.id)
    return data


def erase_account(session: Session, sessions: SessionStore, user: User, *, now: datetime) -> None:
    """Delete the person's data. Their contributions stay, shown as an anonymous resident; their
    votes stay counted but nothing links them to anyone any more."""
    assert user.id is not None
    user_id = user.id
    # Waits for the person's votes in progress (hold_person), and makes those that follow refuse.
    session.execute(select(User.id).where(col(User.id) == user_id).with_for_update())
    for hook in _erasure_hooks:
        hook(session, user_id, now)
    for model in (OidcIdentity, AccessToken, AccountToken, RoleGrant):
        session.exec(delete(model).where(col(model.user_id) == user_id))  # type: ignore[attr-defined]
    for field_name in ("display_name", "email", "password_hash", "given_name", "family_name", "commune_insee",
                       "birth_year", "verified_by_id", "verified_at", "terms_version", "terms_accepted_at",
                       "last_sign_in_at"):
        setattr(user, field_name, None)
    user.is_email_confirmed = False
    user.is_identity_verified = False
    user.verification_level = VerificationLevel.none
    user.erased_at = now
    session.add(user)
    audit.record(session, actor_id=user_id, actor_label="habitant·e (effacement)", action="account.erased",
                 target_type="user", target_id=user_id, now=now)
    session.flush()
    sessions.delete_for_user(user_id, within=session)
