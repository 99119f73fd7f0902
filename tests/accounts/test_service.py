"""Accounts rules, below the pages: users, mailed and personal tokens, roles, residence
verification, OpenID Connect sign-in, and the audit log they write to."""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, delete, select, update

from app.accounts import service
from app.accounts.models import (
    AccessToken,
    AccountToken,
    AccountTokenKind,
    OidcIdentity,
    Role,
    RoleGrant,
    User,
    VerificationLevel,
)
from app.accounts.policy import Principal
from app.audit import service as audit
from app.audit.models import AuditEntry
from app.core.errors import Forbidden, NotFound
from app.core.settings import OidcProvider
from app.territory.models import Axis
from tests.factories import make_consultation

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
LIEVIN, LENS = "62510", "62498"
CLI_LABEL = "carreau (ligne de commande)"
RESET = timedelta(hours=1)
BAD_EMAIL = "Saisissez une adresse électronique valide, par exemple nom@exemple.fr."


def person(session: Session, name: str = "Angela", *, email: str | None = None, commune: str | None = LIEVIN,
           confirmed: bool = True) -> User:
    return service.create_user(session, display_name=name, email=email, is_email_confirmed=confirmed,
                               commune_insee=commune, now=NOW)


def principal(session: Session, user: User) -> Principal:
    return service.load_principal(session, user)


def axis_id(session: Session, number: int) -> int:
    axis = session.exec(select(Axis).where(Axis.number == number)).one()
    assert axis.id is not None
    return axis.id


def insert(session: Session, row: object) -> None:
    """Write one row in a savepoint, so that a refusal by the database leaves the test's session usable."""
    with session.begin_nested():
        session.add(row)
        session.flush()


def entries(session: Session, user: User) -> list[AuditEntry]:
    return audit.entries_for(session, target_type="user", target_id=user.id)


# --- create_user


def test_create_user_normalises_name_and_address(session: Session) -> None:
    user = service.create_user(session, display_name="  Angela   Dubois ", email=" Angela.Dubois@Exemple.FR ",
                               now=NOW)
    assert user.id is not None
    assert user.display_name == "Angela Dubois"
    assert user.email == "angela.dubois@exemple.fr"
    assert user.is_email_confirmed is False
    assert user.password_hash is None
    assert user.verification_level == VerificationLevel.none
    assert user.created_at == NOW
    assert service.find_by_email(session, "ANGELA.DUBOIS@exemple.fr") == user


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"display_name": " A "}, "display_name", "Le nom affiché doit compter de 2 à 80 caractères."),
        ({"display_name": "x" * 81}, "display_name", "Le nom affiché doit compter de 2 à 80 caractères."),
        ({"email": "pas-une-adresse"}, "email", BAD_EMAIL),
        ({"email": "a b@exemple.fr"}, "email", BAD_EMAIL),
        ({"password": "court"}, "password", "Le mot de passe doit compter au moins 12 caractères."),
        ({"commune_insee": "75056"}, "commune", "Cette commune ne fait pas partie du territoire."),
    ],
    ids=["short-name", "long-name", "not-an-address", "space-in-address", "short-password", "commune-elsewhere"],
)
def test_create_user_validation(session: Session, values: dict[str, Any], field: str, message: str) -> None:
    arguments: dict[str, Any] = {"display_name": "Angela", "email": "angela@exemple.fr", **values}
    with pytest.raises(service.InvalidInput) as raised:
        service.create_user(session, now=NOW, **arguments)
    assert raised.value.errors == {field: [message]}
    assert raised.value.status_code == 422
    assert service.find_by_email(session, "angela@exemple.fr") is None


def test_create_user_reports_every_error_at_once(session: Session) -> None:
    with pytest.raises(service.InvalidInput) as raised:
        service.create_user(session, display_name="", email="non", password="court", commune_insee="00000", now=NOW)
    assert set(raised.value.errors) == {"display_name", "email", "password", "commune"}


def test_create_user_refuses_a_taken_address(session: Session) -> None:
    person(session, email="angela@exemple.fr")
    with pytest.raises(service.InvalidInput) as raised:
        person(session, "Another", email=" ANGELA@exemple.fr")
    assert raised.value.errors == {"email": ["Un compte existe déjà avec cette adresse."]}
    assert len(session.exec(select(User).where(User.email == "angela@exemple.fr")).all()) == 1


def test_email_is_unique_in_the_database(session: Session) -> None:
    person(session, email="angela@exemple.fr")
    with pytest.raises(IntegrityError):
        insert(session, User(display_name="Copie", email="angela@exemple.fr", created_at=NOW))


def test_accounts_without_email_may_be_many(session: Session) -> None:
    first, second = person(session, "Un"), person(session, "Deux")
    assert first.id != second.id
    assert first.email is None
    assert second.email is None


# --- single-use mailed tokens


def test_account_token_works_once(session: Session) -> None:
    user = person(session, email="angela@exemple.fr", confirmed=False)
    raw = service.issue_account_token(session, user, AccountTokenKind.confirm_email, now=NOW,
                                      ttl=service.CONFIRMATION_TTL)
    assert service.confirm_email(session, raw, now=NOW + timedelta(minutes=1)) == user
    assert user.is_email_confirmed is True
    stored = session.exec(select(AccountToken).where(AccountToken.user_id == user.id)).one()
    assert stored.used_at == NOW + timedelta(minutes=1)
    with pytest.raises(service.InvalidLink):
        service.confirm_email(session, raw, now=NOW + timedelta(minutes=2))


def test_account_token_expires(session: Session) -> None:
    user = person(session, email="angela@exemple.fr")
    raw = service.issue_account_token(session, user, AccountTokenKind.reset_password, now=NOW, ttl=service.RESET_TTL)
    with pytest.raises(service.InvalidLink):
        service.consume_account_token(session, raw, AccountTokenKind.reset_password, now=NOW + service.RESET_TTL)
    just_in_time = NOW + service.RESET_TTL - timedelta(seconds=1)
    assert service.consume_account_token(session, raw, AccountTokenKind.reset_password, now=just_in_time) == user


def test_account_token_is_for_one_purpose(session: Session) -> None:
    user = person(session, email="angela@exemple.fr")
    raw = service.issue_account_token(session, user, AccountTokenKind.confirm_email, now=NOW, ttl=timedelta(hours=1))
    with pytest.raises(service.InvalidLink):
        service.consume_account_token(session, raw, AccountTokenKind.reset_password, now=NOW)
    with pytest.raises(service.InvalidLink):
        service.consume_account_token(session, "inconnu", AccountTokenKind.confirm_email, now=NOW)


def test_a_new_account_token_replaces_the_unused_one(session: Session) -> None:
    user = person(session, email="angela@exemple.fr")
    def issue() -> str:
        return service.issue_account_token(session, user, AccountTokenKind.reset_password, now=NOW, ttl=RESET)

    first, second = issue(), issue()
    with pytest.raises(service.InvalidLink):
        service.consume_account_token(session, first, AccountTokenKind.reset_password, now=NOW)
    assert service.consume_account_token(session, second, AccountTokenKind.reset_password, now=NOW) == user


def raw_rows(session: Session, table: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.connection().execute(text(f"SELECT * FROM {table}"))]


def test_only_the_sha256_of_tokens_is_stored(session: Session) -> None:
    user = person(session, email="angela@exemple.fr")
    mailed = service.issue_account_token(session, user, AccountTokenKind.confirm_email, now=NOW, ttl=timedelta(days=1))
    token, personal = service.create_access_token(session, user, name="tableur", now=NOW)
    session.flush()
    for table, raw in (("account_token", mailed), ("access_token", personal)):
        rows = raw_rows(session, table)
        assert rows, table
        for row in rows:
            for value in row:
                assert raw not in str(value), f"{table} keeps the raw token"
        assert hashlib.sha256(raw.encode()).hexdigest() in {str(v) for row in rows for v in row}
    assert token.token_hash == hashlib.sha256(personal.encode()).hexdigest()
    assert token.prefix == personal[:12]
    assert personal.startswith("carreau_")


# --- personal access tokens


def test_access_token_authenticates_and_records_its_use(session: Session) -> None:
    user = person(session)
    token, raw = service.create_access_token(session, user, name="  tableur   de suivi ", now=NOW)
    assert token.name == "tableur de suivi"
    assert token.last_used_at is None
    assert service.principal_for_access_token(session, raw, now=NOW).user == user
    assert token.last_used_at == NOW
    # Not written at every request: only when the last write is more than 5 minutes old.
    assert service.principal_for_access_token(session, raw, now=NOW + timedelta(minutes=4)).user == user
    assert token.last_used_at == NOW
    assert service.principal_for_access_token(session, raw, now=NOW + timedelta(minutes=6)).user == user
    assert token.last_used_at == NOW + timedelta(minutes=6)


def test_revoked_access_token_no_longer_works(session: Session) -> None:
    user = person(session)
    token, raw = service.create_access_token(session, user, name="script", now=NOW)
    assert token.id is not None
    service.revoke_access_token(session, user, token.id, now=NOW + timedelta(hours=1))
    assert token.revoked_at == NOW + timedelta(hours=1)
    assert service.principal_for_access_token(session, raw, now=NOW + timedelta(hours=2)) is None
    service.revoke_access_token(session, user, token.id, now=NOW + timedelta(hours=3))  # idempotent
    assert token.revoked_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize("raw", ["", "carreau_", "carreau_inconnu", "Bearer carreau_x", "ghp_0123456789"])
def test_unknown_access_tokens(session: Session, raw: str) -> None:
    assert service.principal_for_access_token(session, raw, now=NOW) is None


def test_only_the_owner_revokes_a_token(session: Session) -> None:
    owner, other = person(session, "Angela"), person(session, "Bruno")
    token, raw = service.create_access_token(session, owner, name="script", now=NOW)
    assert token.id is not None
    with pytest.raises(NotFound):
        service.revoke_access_token(session, other, token.id, now=NOW)
    assert service.principal_for_access_token(session, raw, now=NOW).user == owner


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_access_token_needs_a_name(session: Session, name: str) -> None:
    with pytest.raises(service.InvalidInput) as raised:
        service.create_access_token(session, person(session), name=name, now=NOW)
    assert raised.value.errors == {"name": ["Donnez un nom de 1 à 80 caractères à ce jeton."]}


def test_access_token_of_an_erased_account_no_longer_works(session: Session) -> None:
    user = person(session)
    _, raw = service.create_access_token(session, user, name="script", now=NOW)
    user.erased_at = NOW
    session.add(user)
    assert service.principal_for_access_token(session, raw, now=NOW) is None


# --- roles


def test_grant_roles_with_each_scope(session: Session) -> None:
    user = person(session)
    axis = axis_id(session, 3)
    consultation = make_consultation(session)
    grants = [
        service.grant_role(session, user, Role.admin, now=NOW),
        service.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis),
        service.grant_role(session, user, Role.evaluator, now=NOW, consultation_id=consultation.id),
        service.grant_role(session, user, Role.mediator, now=NOW, commune_insee=LIEVIN),
    ]
    assert [g.scope_key for g in grants] == ["", f"axis:{axis}", f"consultation:{consultation.id}", f"commune:{LIEVIN}"]
    assert all(g.granted_by_id is None and g.granted_at == NOW for g in grants)
    assert user.id is not None
    assert [g.role for g in service.grants_of(session, user.id)] == ["admin", "evaluator", "mediator", "moderator"]
    me = principal(session, user)
    assert me.has_role(Role.mediator)
    assert me.is_admin


def test_grants_and_revocations_are_audited(session: Session) -> None:
    user = person(session)
    service.grant_role(session, user, Role.mediator, now=NOW, commune_insee=LIEVIN)
    service.revoke_role(session, user, Role.mediator, now=NOW + timedelta(days=1), commune_insee=LIEVIN)
    assert user.id is not None
    assert service.grants_of(session, user.id) == ()
    granted, revoked = entries(session, user)
    assert (granted.action, granted.actor_id, granted.actor_label, granted.at) == ("role.granted", None, CLI_LABEL, NOW)
    assert granted.after == {"role": "mediator", "scope": f"commune:{LIEVIN}"}
    assert (revoked.action, revoked.at) == ("role.revoked", NOW + timedelta(days=1))
    assert revoked.before == {"role": "mediator", "scope": f"commune:{LIEVIN}"}
    assert granted.target_type == "user"
    assert granted.target_id == str(user.id)


def test_a_role_is_granted_once_per_scope(session: Session) -> None:
    user = person(session)
    service.grant_role(session, user, Role.mediator, now=NOW, commune_insee=LIEVIN)
    with pytest.raises(service.RoleAlreadyGranted) as raised:
        service.grant_role(session, user, Role.mediator, now=NOW, commune_insee=LIEVIN)
    assert raised.value.status_code == 409
    service.grant_role(session, user, Role.mediator, now=NOW, commune_insee=LENS)  # another scope: fine
    service.grant_role(session, user, Role.mediator, now=NOW)  # platform-wide: fine
    with pytest.raises(service.RoleAlreadyGranted):
        service.grant_role(session, user, Role.mediator, now=NOW)


def test_a_role_has_one_scope_at_most(session: Session) -> None:
    user = person(session)
    with pytest.raises(service.InvalidInput) as raised:
        service.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis_id(session, 3), commune_insee=LIEVIN)
    assert set(raised.value.errors) == {"scope"}
    assert user.id is not None
    assert service.grants_of(session, user.id) == ()


def test_revoking_a_role_not_held(session: Session) -> None:
    user = person(session)
    service.grant_role(session, user, Role.mediator, now=NOW, commune_insee=LIEVIN)
    with pytest.raises(NotFound):
        service.revoke_role(session, user, Role.mediator, now=NOW, commune_insee=LENS)
    with pytest.raises(NotFound):
        service.revoke_role(session, user, Role.mediator, now=NOW)


def test_only_admins_grant_roles_online(session: Session) -> None:
    admin, mediator, user = person(session, "Admin"), person(session, "Médiatrice"), person(session, "Angela")
    service.grant_role(session, admin, Role.admin, now=NOW)
    service.grant_role(session, mediator, Role.mediator, now=NOW, commune_insee=LIEVIN)
    with pytest.raises(Forbidden):
        service.grant_role(session, user, Role.mediator, now=NOW, actor=principal(session, mediator),
                           commune_insee=LIEVIN)
    grant = service.grant_role(session, user, Role.mediator, now=NOW, actor=principal(session, admin),
                               commune_insee=LIEVIN)
    assert grant.granted_by_id == admin.id
    (entry,) = entries(session, user)
    assert (entry.actor_id, entry.actor_label) == (admin.id, "Admin")
    with pytest.raises(Forbidden):
        service.revoke_role(session, user, Role.mediator, now=NOW, actor=principal(session, mediator),
                            commune_insee=LIEVIN)


def grant_row(user: User, **values: Any) -> RoleGrant:
    assert user.id is not None
    return RoleGrant(user_id=user.id, granted_at=NOW, **values)


@pytest.mark.parametrize(
    "values",
    [
        {"role": "mediator", "commune_insee": LIEVIN, "scope_key": f"commune:{LIEVIN}"},
        {"role": "admin"},  # platform-wide: every scope column NULL, scope_key "" keeps it unique
    ],
)
def test_scope_key_is_unique_in_the_database(session: Session, values: dict[str, Any]) -> None:
    user = person(session)
    session.add(grant_row(user, **values))
    session.flush()
    with pytest.raises(IntegrityError):
        insert(session, grant_row(user, **values))


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"role": "moderator", "commune_insee": LIEVIN, "consultation_id": 12, "scope_key": "deux"}, "one_scope"),
        ({"role": "moderator", "axis_id": "axis 3", "commune_insee": LIEVIN, "scope_key": "deux"}, "one_scope"),
        ({"role": "roi"}, "role_known"),
    ],
    ids=["commune-and-consultation", "axis-and-commune", "unknown-role"],
)
def test_the_database_checks_grants(session: Session, values: dict[str, Any], constraint: str) -> None:
    if values.get("axis_id") == "axis 3":
        values = {**values, "axis_id": axis_id(session, 3)}
    user = person(session)
    with pytest.raises(IntegrityError, match=constraint):
        insert(session, grant_row(user, **values))


# --- residence


def resident_of(session: Session, commune: str = LIEVIN) -> User:
    user = person(session, "Habitante", commune=commune)
    user.verification_level = VerificationLevel.declared
    session.add(user)
    session.flush()
    return user


def mediator_of(session: Session, commune: str) -> User:
    mediator = person(session, f"Médiateur {commune}", commune=commune)
    service.grant_role(session, mediator, Role.mediator, now=NOW, commune_insee=commune)
    return mediator


def test_a_mediator_of_the_commune_verifies_residence(session: Session) -> None:
    resident, mediator = resident_of(session), mediator_of(session, LIEVIN)
    later = NOW + timedelta(days=3)
    service.verify_residence(session, principal(session, mediator), resident, now=later)
    assert resident.verification_level == VerificationLevel.verified
    assert resident.verified_by_id == mediator.id
    assert resident.verified_at == later
    (entry,) = entries(session, resident)
    assert (entry.action, entry.actor_id, entry.channel, entry.at) == ("residence.verified", mediator.id, "assisted",
                                                                      later)
    assert entry.actor_label == f"Médiateur {LIEVIN}"
    assert entry.before == {"verification_level": "declared", "commune_insee": LIEVIN}
    assert entry.after == {"verification_level": "verified", "commune_insee": LIEVIN}


def test_a_mediator_of_another_commune_may_not(session: Session) -> None:
    resident, mediator = resident_of(session), mediator_of(session, LENS)
    with pytest.raises(Forbidden) as raised:
        service.verify_residence(session, principal(session, mediator), resident, now=NOW)
    assert raised.value.message == (
        "Seuls les médiateurs de la commune de cette personne peuvent vérifier sa résidence."
    )
    assert resident.verification_level == VerificationLevel.declared
    assert entries(session, resident) == []


def test_residents_may_not_verify_residence(session: Session) -> None:
    resident, neighbour = resident_of(session), resident_of(session)
    with pytest.raises(Forbidden):
        service.verify_residence(session, principal(session, neighbour), resident, now=NOW)
    with pytest.raises(Forbidden):
        service.verify_residence(session, principal(session, resident), resident, now=NOW)


def test_an_admin_verifies_residence_anywhere(session: Session) -> None:
    resident, admin = resident_of(session), person(session, "Admin", commune=None)
    service.grant_role(session, admin, Role.admin, now=NOW)
    service.verify_residence(session, principal(session, admin), resident, now=NOW, channel="in_person")
    assert resident.verification_level == VerificationLevel.verified
    assert entries(session, resident)[-1].channel == "in_person"


def test_changing_commune_drops_verification_back_to_declared(session: Session) -> None:
    resident, mediator = resident_of(session), mediator_of(session, LIEVIN)
    service.verify_residence(session, principal(session, mediator), resident, now=NOW)
    # The same commune again: still verified.
    service.update_profile(session, resident, display_name="Habitante", commune_insee=LIEVIN, birth_year=1980, now=NOW)
    assert resident.verification_level == VerificationLevel.verified
    service.update_profile(session, resident, display_name="Habitante", commune_insee=LENS, birth_year=1980, now=NOW)
    assert resident.commune_insee == LENS
    assert resident.verification_level == VerificationLevel.declared
    assert resident.verified_by_id is None
    assert resident.verified_at is None


def test_onboarding_in_another_commune_drops_verification(session: Session) -> None:
    resident, mediator = resident_of(session), mediator_of(session, LIEVIN)
    service.verify_residence(session, principal(session, mediator), resident, now=NOW)
    service.complete_onboarding(session, resident, commune_insee=LENS, birth_year=None, accepts_terms=True,
                                terms_version="2026-11", now=NOW)
    assert resident.verification_level == VerificationLevel.declared
    assert resident.terms_version == "2026-11"
    assert resident.terms_accepted_at == NOW


def test_onboarding_declares_the_commune(session: Session) -> None:
    user = person(session, commune=None)
    assert user.needs_onboarding
    service.complete_onboarding(session, user, commune_insee=LIEVIN, birth_year=1985, accepts_terms=True,
                                terms_version="2026-11", now=NOW)
    assert (user.commune_insee, user.birth_year, user.verification_level) == (LIEVIN, 1985, "declared")
    assert not user.needs_onboarding


@pytest.mark.parametrize(
    ("commune", "birth_year", "terms", "field"),
    [("", None, True, "commune"), ("75056", None, True, "commune"), (LIEVIN, 1850, True, "birth_year"),
     (LIEVIN, 2027, True, "birth_year"), (LIEVIN, None, False, "accept_terms")],
)
def test_onboarding_validation(session: Session, commune: str, birth_year: int | None, terms: bool,
                               field: str) -> None:
    user = person(session, commune=None)
    with pytest.raises(service.InvalidInput) as raised:
        service.complete_onboarding(session, user, commune_insee=commune, birth_year=birth_year, accepts_terms=terms,
                                    terms_version="2026-11", now=NOW)
    assert set(raised.value.errors) == {field}
    assert user.commune_insee is None
    assert user.terms_accepted_at is None


# --- OpenID Connect sign-in


def provider(*, trusted: bool = False) -> OidcProvider:
    return OidcProvider(name="fc" if trusted else "test-op", display_name="Fournisseur", issuer="https://op.test",
                        client_id="carreau", client_secret="secret", trusted=trusted)


def oidc(session: Session, claims: dict[str, Any], *, trusted: bool = False, issuer: str = "https://op.test",
         now: datetime = NOW) -> User:
    return service.sign_in_with_oidc(session, provider(trusted=trusted), issuer, claims, now=now)


def identities_of(session: Session, user: User) -> list[OidcIdentity]:
    return list(session.exec(select(OidcIdentity).where(OidcIdentity.user_id == user.id)))


def test_a_new_identity_creates_a_user(session: Session) -> None:
    user = oidc(session, {"sub": "angela", "given_name": "angela claire", "family_name": "Dubois"})
    assert user.id is not None
    assert user.display_name == "Angela D."
    assert (user.email, user.password_hash, user.is_identity_verified) == (None, None, False)
    assert user.given_name is None
    assert user.birth_year is None
    assert user.last_sign_in_at == NOW
    assert user.needs_onboarding
    (identity,) = identities_of(session, user)
    assert (identity.provider, identity.issuer, identity.subject) == ("test-op", "https://op.test", "angela")
    assert identity.created_at == identity.last_used_at == NOW


def test_the_same_identity_returns_the_same_user(session: Session) -> None:
    first = oidc(session, {"sub": "angela"})
    later = NOW + timedelta(days=1)
    again = oidc(session, {"sub": "angela", "given_name": "Autre"}, now=later)
    assert again.id == first.id
    (identity,) = identities_of(session, first)
    assert identity.last_used_at == later
    assert again.display_name == "Habitant·e"  # kept: a name is chosen once
    # The same subject at another issuer is someone else.
    assert oidc(session, {"sub": "angela"}, issuer="https://autre.test").id != first.id


def test_a_verified_email_joins_the_confirmed_local_account(session: Session) -> None:
    local = person(session, email="angela@exemple.fr", confirmed=True)
    user = oidc(session, {"sub": "angela", "email": "Angela@Exemple.FR", "email_verified": True})
    assert user.id == local.id
    assert [i.subject for i in identities_of(session, local)] == ["angela"]


@pytest.mark.parametrize("verified", [False, "true", 1, None], ids=["false", "string", "one", "missing"])
def test_an_unverified_email_never_joins_an_account(session: Session, verified: Any) -> None:
    local = person(session, email="angela@exemple.fr", confirmed=True)
    claims: dict[str, Any] = {"sub": "angela", "email": "angela@exemple.fr"}
    if verified is not None:
        claims["email_verified"] = verified
    user = oidc(session, claims)
    assert user.id != local.id
    assert user.email is None  # the address belongs to someone else
    assert identities_of(session, local) == []


def test_a_verified_email_never_joins_an_unconfirmed_account(session: Session) -> None:
    """Whoever signed up with the address never proved it: it may not be theirs."""
    local = person(session, email="angela@exemple.fr", confirmed=False)
    user = oidc(session, {"sub": "angela", "email": "angela@exemple.fr", "email_verified": True})
    assert user.id != local.id
    assert user.email is None


def test_a_verified_free_email_is_kept(session: Session) -> None:
    user = oidc(session, {"sub": "angela", "email": "Angela@Exemple.fr", "email_verified": True})
    assert (user.email, user.is_email_confirmed) == ("angela@exemple.fr", True)
    unverified = oidc(session, {"sub": "bruno", "email": "bruno@exemple.fr", "email_verified": False})
    assert (unverified.email, unverified.is_email_confirmed) == (None, False)


def test_a_trusted_provider_certifies_the_identity(session: Session) -> None:
    claims = {"sub": "fc-angela", "given_name": "Angela Claire", "family_name": "DUBOIS", "birthdate": "1962-08-24"}
    user = oidc(session, claims, trusted=True)
    assert user.is_identity_verified is True
    assert (user.given_name, user.family_name, user.birth_year) == ("Angela Claire", "DUBOIS", 1962)
    assert user.display_name == "Angela D."
    # Residence is still the person's word: FranceConnect says who, not where.
    assert user.verification_level == VerificationLevel.none
    # A birthdate the provider does not give (or gives badly) keeps the known year.
    again = oidc(session, {**claims, "birthdate": "1962"}, trusted=True)
    assert again.id == user.id
    assert again.birth_year == 1962


def test_erased_accounts_cannot_come_back_through_an_identity(session: Session) -> None:
    user = oidc(session, {"sub": "angela"})
    user.erased_at = NOW
    session.add(user)
    with pytest.raises(service.InvalidCredentials):
        oidc(session, {"sub": "angela"})


# --- the audit log


def test_the_audit_log_is_append_only(session: Session) -> None:
    entry = audit.record(session, actor_id=None, actor_label="test", action="test.done", target_type="user",
                         target_id=1, now=NOW)
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.exec(update(AuditEntry).where(col(AuditEntry.id) == entry.id).values(action="test.undone"))
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.exec(delete(AuditEntry).where(col(AuditEntry.id) == entry.id))
    session.expire_all()
    kept = session.get(AuditEntry, entry.id)
    assert kept is not None
    assert kept.action == "test.done"


# --- names


def test_display_name_of(session: Session) -> None:
    user = person(session, "Angela")
    assert service.display_name_of(user) == "Angela"
    assert service.display_name_of(None) == "Habitant·e anonyme"
    user.erased_at = NOW
    assert service.display_name_of(user) == "Habitant·e anonyme"


def test_access_token_table_is_not_orphaned(session: Session) -> None:
    """Personal tokens belong to someone: a token for no user is refused by the database."""
    orphan = AccessToken(user_id=999_999, name="x", token_hash="0" * 64, prefix="carreau_0000", created_at=NOW)
    with pytest.raises(IntegrityError):
        insert(session, orphan)
