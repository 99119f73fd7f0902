"""Assisted participation: at a counter (guichet), a mediator finds or registers a resident who is
present, verifies their residence, and records a proposal, a support or a ballot for them, through
the same services as online participation (so that they count exactly alike) with the channel
`assisted`; every act is in the audit log under the mediator's name. The mediator can also print
a one-time code with which the resident later claims the account and signs in themselves.

Every function checks that the mediator may help residents of the resident's commune: a mediator
of one commune can neither find, register nor act for a resident of another. Services flush and
never commit; the route commits once."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from app.accounts import service as accounts
from app.accounts.models import AccountToken, AccountTokenKind, OidcIdentity, Role, User, VerificationLevel
from app.accounts.passwords import hash_password, password_problems
from app.accounts.policy import Action, Principal, Scope, can
from app.assisted.schemas import (
    CLAIM_LENGTH,
    ResidentIn,
    ResidentSearch,
    new_claim_code,
    normalize_claim_code,
)
from app.audit import service as audit
from app.consultations import service as consultations
from app.consultations.models import Consultation, Phase, VotingMethod
from app.consultations.policy import phase_allows
from app.core.errors import Conflict, DomainError, Forbidden, NotFound
from app.core.i18n import N_
from app.proposals import service as proposals
from app.proposals.models import Proposal
from app.proposals.schemas import ProposalDraft
from app.territory.models import Commune
from app.territory.search import fold
from app.voting import ballots
from app.voting import service as supports
from app.voting.models import Ballot, Channel, SupportVote

CLAIM_TTL = timedelta(days=30)
MAX_SEARCH_RESULTS = 20
CHANNEL = Channel.assisted


class NotAMediator(Forbidden):
    code = "not-a-mediator"
    message = N_("Le guichet est réservé aux médiateurs et médiatrices.")


class OutsideCommunes(Forbidden):
    code = "outside-communes"
    message = N_("Vous n’êtes pas médiateur ou médiatrice de la commune de cette personne.")


class ResidentNotFound(NotFound):
    message = N_("Cette personne n’existe pas.")


class HasOnlineAccount(Conflict):
    code = "has-online-account"
    message = N_("Cette personne a déjà un compte en ligne : elle se connecte elle-même, sans code.")


class PossibleDuplicate(Conflict):
    code = "possible-duplicate"
    message = N_("Une personne du même nom, née la même année, est déjà inscrite dans cette commune. Vérifiez que "
                 "ce n’est pas elle ; si c’est bien une autre personne, confirmez-le.")

    def __init__(self, rows: list["ResidentRow"]) -> None:
        super().__init__()
        self.rows = rows


class InvalidClaimCode(DomainError):
    """One message for every refusal (unknown, used, expired): nothing to learn by trying."""

    status_code = 400
    code = "invalid-claim-code"
    message = N_("Ce code n’est pas valable : vérifiez-le, ou demandez-en un nouveau à votre médiateur ou médiatrice.")


# --- who may use the counter, for which communes


def counter_communes(principal: Principal) -> frozenset[str] | None:
    """The communes whose residents this person may help; None for every commune (an admin, or a
    mediator of the whole platform). Anyone else is refused the counter."""
    if principal.is_admin:
        return None
    communes: set[str] = set()
    for grant in principal.grants:
        if grant.role != Role.mediator:
            continue
        if grant.scope_key == "":
            return None
        if grant.commune_insee:
            communes.add(grant.commune_insee)
    if not communes:
        raise NotAMediator()
    return frozenset(communes)


def is_counter_agent(principal: Principal | None) -> bool:
    """For menus: may this person open the counter at all?"""
    return principal is not None and (principal.is_admin or principal.has_role(Role.mediator))


def check_commune(principal: Principal, commune_insee: str | None) -> None:
    """The mediator may help residents of this commune (else 403)."""
    counter_communes(principal)
    decision = can(principal, Action.assist_residents, Scope(commune_insee=commune_insee or "-"))
    if not decision:
        raise OutsideCommunes()


def commune_choices(session: Session, principal: Principal) -> list[Commune]:
    """The communes a resident may be registered in by this mediator, by name."""
    communes = counter_communes(principal)
    query = select(Commune)
    if communes is not None:
        query = query.where(col(Commune.insee_code).in_(communes))
    return list(session.exec(query.order_by(col(Commune.search_name), col(Commune.insee_code))))


# --- finding and registering residents


@dataclass(frozen=True)
class ResidentRow:
    user: User
    commune_name: str
    has_online_account: bool


def _has_online_account(session: Session, user: User) -> bool:
    if user.email or user.password_hash:
        return True
    return session.exec(select(OidcIdentity.id).where(OidcIdentity.user_id == user.id)).first() is not None


def _row(session: Session, user: User, names: dict[str, str] | None = None) -> ResidentRow:
    code = user.commune_insee or ""
    if names is not None and code in names:
        name = names[code]
    else:
        commune = session.get(Commune, code) if code else None
        name = commune.name if commune else code
    return ResidentRow(user, name, _has_online_account(session, user))


def search_residents(session: Session, principal: Principal, search: ResidentSearch) -> list[ResidentRow]:
    """Residents of the mediator's communes whose names contain every word typed (case and accents
    do not matter), narrowed by birth year and commune; at most MAX_SEARCH_RESULTS, by name."""
    allowed = counter_communes(principal)
    if search.commune:
        check_commune(principal, search.commune)
    words = fold(search.name).split()
    if not words:
        return []
    query = select(User.id, User.display_name, User.given_name, User.family_name).where(
        col(User.erased_at).is_(None), col(User.commune_insee).is_not(None))
    if search.commune:
        query = query.where(User.commune_insee == search.commune)
    elif allowed is not None:
        query = query.where(col(User.commune_insee).in_(allowed))
    if search.birth_year is not None:
        query = query.where(User.birth_year == search.birth_year)
    # Names are folded here, not in SQL (SQLite and PostgreSQL fold accents differently): only the
    # names of the mediator's communes are read, then the few people found.
    ids = [user_id for user_id, *names in session.exec(query.order_by(col(User.display_name), col(User.id)))
           if all(word in fold(" ".join(filter(None, names))) for word in words)][:MAX_SEARCH_RESULTS]
    by_id = {user.id: user for user in session.exec(select(User).where(col(User.id).in_(ids)))} if ids else {}
    found = [by_id[user_id] for user_id in ids]
    codes = {user.commune_insee for user in found}
    names = {c.insee_code: c.name for c in session.exec(select(Commune).where(col(Commune.insee_code).in_(codes)))}
    return [_row(session, user, names) for user in found]


def get_resident(session: Session, principal: Principal, user_id: int) -> User:
    """A resident the mediator may help (404 if there is no such person, 403 if from elsewhere)."""
    counter_communes(principal)
    user = session.get(User, user_id)
    if user is None or user.is_erased:
        raise ResidentNotFound()
    check_commune(principal, user.commune_insee)
    return user


def resident_row(session: Session, principal: Principal, user_id: int) -> ResidentRow:
    return _row(session, get_resident(session, principal, user_id))


def _label(principal: Principal) -> str:
    return accounts.display_name_of(principal.user)


def _names(display_name: str | None, given_name: str | None, family_name: str | None) -> set[str]:
    names = {fold(display_name or "")}
    if given_name and family_name:
        names.add(fold(f"{given_name} {family_name}"))
    return names - {""}


def possible_duplicates(session: Session, principal: Principal, data: ResidentIn) -> list[ResidentRow]:
    """Residents of the commune born the same year whose name is the same (as folded for search)."""
    check_commune(principal, data.commune)
    wanted = _names(data.display_name, data.given_name, data.family_name)
    query = select(User).where(col(User.erased_at).is_(None), User.commune_insee == data.commune,
                               User.birth_year == data.birth_year).order_by(col(User.id))
    return [_row(session, user) for user in session.exec(query)
            if wanted & _names(user.display_name, user.given_name, user.family_name)]


def register_resident(session: Session, principal: Principal, data: ResidentIn, *, terms_version: str,
                      now: datetime) -> User:
    """Register a resident who is present: residence verified by the mediator, the terms of use
    accepted (read to them), no e-mail address; they may claim the account later."""
    errors: dict[str, list[str]] = {}
    if not data.terms_accepted:
        errors["terms_accepted"] = [N_("Confirmez que la personne a pris connaissance des conditions d’utilisation "
                                       "et les accepte.")]
    if not now.year - 120 <= data.birth_year <= now.year:
        errors["birth_year"] = [N_("Saisissez une année de naissance valide, par exemple 1985.")]
    if errors:
        raise accounts.InvalidInput(errors)
    check_commune(principal, data.commune)
    if not data.confirmed_new:
        duplicates = possible_duplicates(session, principal, data)
        if duplicates:
            raise PossibleDuplicate(duplicates)
    user = accounts.create_user(session, display_name=data.display_name, commune_insee=data.commune,
                                birth_year=data.birth_year, now=now)
    user.given_name = " ".join((data.given_name or "").split()) or None
    user.family_name = " ".join((data.family_name or "").split()) or None
    user.verification_level = VerificationLevel.verified
    user.verified_by_id = principal.id
    user.verified_at = now
    user.terms_version = terms_version
    user.terms_accepted_at = now
    user.registered_by_id = principal.id
    session.add(user)
    session.flush()
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="resident.registered",
                 target_type="user", target_id=user.id, now=now, channel=CHANNEL,
                 after={"display_name": user.display_name, "commune_insee": user.commune_insee,
                        "birth_year": user.birth_year, "verification_level": user.verification_level,
                        "terms_version": terms_version, "terms_read_by_mediator": True,
                        "confirmed_not_a_duplicate": data.confirmed_new})
    return user


def verify_residence(session: Session, principal: Principal, user_id: int, *, now: datetime) -> User:
    """The mediator checked, in person, that the resident lives in their commune."""
    user = get_resident(session, principal, user_id)
    return accounts.verify_residence(session, principal, user, now=now, channel=CHANNEL)


# --- contributions recorded for the resident


def resident_principal(session: Session, principal: Principal, user_id: int) -> Principal:
    """The resident, as the participation services see a person taking part (after the checks)."""
    return accounts.load_principal(session, get_resident(session, principal, user_id))


@dataclass(frozen=True)
class OpenConsultations:
    """Where the resident can take part now, and why not elsewhere."""

    proposals: list[Consultation]
    votes: list[Consultation]
    refused: list[tuple[Consultation, str]]


def open_consultations(session: Session, principal: Principal, user_id: int, *, now: datetime) -> OpenConsultations:
    user = get_resident(session, principal, user_id)
    open_now = [
        *consultations.list_published(session, now=now, phase=Phase.proposals, limit=200).items,
        *consultations.list_published(session, now=now, phase=Phase.voting, limit=200).items,
    ]
    result = OpenConsultations([], [], [])
    for consultation in open_now:
        eligible = consultations.check_eligibility(session, user, consultation, now=now)
        if not eligible:
            result.refused.append((consultation, eligible.reason))
        elif consultations.current_phase(consultation, now) == Phase.proposals:
            result.proposals.append(consultation)
        else:
            result.votes.append(consultation)
    return result


@dataclass(frozen=True)
class ResidentParticipation:
    """What the resident has done, online or at a counter: proposals, supports, ballots."""

    proposals: list[tuple[Proposal, Consultation]]
    supports: list[tuple[Consultation, int]]  # supports given in each consultation
    ballots: list[Consultation]


def participation_of(session: Session, principal: Principal, user_id: int) -> ResidentParticipation:
    user = get_resident(session, principal, user_id)
    proposal_rows = session.exec(
        select(Proposal, Consultation).join(Consultation, col(Consultation.id) == Proposal.consultation_id)
        .where(Proposal.author_id == user.id).order_by(col(Proposal.created_at).desc(), col(Proposal.id))
    ).all()
    support_rows = session.exec(
        select(Consultation, func.count()).join(SupportVote, col(SupportVote.consultation_id) == Consultation.id)
        .where(SupportVote.voter_id == user.id).group_by(col(Consultation.id)).order_by(col(Consultation.id))
    ).all()
    ballot_rows = session.exec(
        select(Consultation).join(Ballot, col(Ballot.consultation_id) == Consultation.id)
        .where(Ballot.voter_id == user.id).order_by(col(Consultation.id))
    ).all()
    return ResidentParticipation([(p, c) for p, c in proposal_rows], [(c, int(n)) for c, n in support_rows],
                         list(ballot_rows))


def record_proposal(session: Session, principal: Principal, user_id: int, consultation: Consultation,
                    draft: ProposalDraft, *, now: datetime) -> Proposal:
    """Submit the resident's proposal (their words, written down by the mediator)."""
    resident = resident_principal(session, principal, user_id)
    proposal = proposals.submit(session, resident, consultation, draft, now=now, channel=CHANNEL)
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="proposal.submitted",
                 target_type="proposal", target_id=proposal.id, now=now, channel=CHANNEL,
                 after={"author_id": resident.id, "consultation_id": consultation.id, "title": proposal.title,
                        "state": proposal.state})
    return proposal


def voting_refusal(session: Session, resident: Principal, consultation: Consultation, *,
                   now: datetime) -> DomainError | None:
    """Why the resident cannot vote in this consultation now, in the words the voting services
    use; None when they can."""
    is_ballot = consultation.voting_method in (VotingMethod.majority_judgment, VotingMethod.budget)
    allowed = phase_allows(consultation, "vote", now)
    if not allowed:
        return (ballots.VotingClosed if is_ballot else supports.VotingClosed)(allowed.reason)
    eligible = consultations.check_eligibility(session, resident.user, consultation, now=now)
    if not eligible:
        return (ballots.NotEligible if is_ballot else supports.NotEligible)(eligible.reason)
    return None


def record_support(session: Session, principal: Principal, user_id: int, proposal_id: int, *,
                   now: datetime) -> supports.SupportState:
    resident = resident_principal(session, principal, user_id)
    proposal = proposals.get(session, proposal_id, principal=resident)
    return supports.add_support(session, resident, proposal, now=now, channel=CHANNEL, mediator=principal)


def withdraw_support(session: Session, principal: Principal, user_id: int, proposal_id: int, *,
                     now: datetime) -> supports.SupportState:
    """Take back a support recorded for the resident (a mistake, or they changed their mind)."""
    resident = resident_principal(session, principal, user_id)
    proposal = proposals.get(session, proposal_id, principal=resident)
    had = proposal_id in supports.supported_ids(session, resident.id, [proposal_id])
    state = supports.withdraw_support(session, resident, proposal, now=now)
    if had and not state.supported:
        audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="support.removed",
                     target_type="proposal", target_id=proposal.id, now=now, channel=CHANNEL,
                     before={"voter_id": resident.id})
    return state


def record_ballot(session: Session, principal: Principal, user_id: int, consultation: Consultation, *,
                  grades: dict[int, str] | None = None, proposal_ids: list[int] | None = None,
                  now: datetime) -> ballots.BallotView:
    resident = resident_principal(session, principal, user_id)
    return ballots.cast_ballot(session, resident, consultation, grades=grades, proposal_ids=proposal_ids, now=now,
                               channel=CHANNEL, mediator=principal)


# --- claiming the account


def issue_claim_code(session: Session, principal: Principal, user_id: int, *,
                     now: datetime) -> tuple[User, str, datetime]:
    """A one-time code for the resident to claim their account (only its hash is kept); an earlier
    unused code stops working. Returns the resident, the code and when it expires."""
    user = get_resident(session, principal, user_id)
    if _has_online_account(session, user):
        raise HasOnlineAccount()
    session.exec(delete(AccountToken).where(
        col(AccountToken.user_id) == user.id, col(AccountToken.kind) == AccountTokenKind.claim_account,
        col(AccountToken.used_at).is_(None)))
    code = new_claim_code()
    expires_at = now + CLAIM_TTL
    assert user.id is not None
    session.add(AccountToken(user_id=user.id, kind=AccountTokenKind.claim_account, token_hash=accounts.digest(code),
                             created_at=now, expires_at=expires_at))
    audit.record(session, actor_id=principal.id, actor_label=_label(principal), action="claim_code.issued",
                 target_type="user", target_id=user.id, now=now, channel=CHANNEL,
                 after={"expires_at": expires_at.isoformat()})
    return user, code, expires_at


def _claim_token(session: Session, raw_code: str, now: datetime) -> AccountToken:
    code = normalize_claim_code(raw_code)
    if len(code) != CLAIM_LENGTH:
        raise InvalidClaimCode()
    token = session.exec(select(AccountToken).where(AccountToken.token_hash == accounts.digest(code))).first()
    if (token is None or token.kind != AccountTokenKind.claim_account or token.used_at is not None
            or token.expires_at <= now):
        raise InvalidClaimCode()
    return token


def claim_account(session: Session, *, code: str, email: str, password: str, now: datetime) -> tuple[User, str]:
    """The resident takes their account with the printed code: an e-mail address (to confirm, for
    signing in later and resetting the password) and a password. The code serves once. Returns
    the account and the token confirming the address."""
    errors: dict[str, list[str]] = {}
    address = accounts.normalize_email(email)
    if not accounts.EMAIL_PATTERN.match(address) or len(address) > 254:
        errors["email"] = [N_("Saisissez une adresse électronique valide, par exemple nom@exemple.fr.")]
    problems = password_problems(password, email=address or None)
    if problems:
        errors["password"] = list(problems)
    if errors:
        raise accounts.InvalidInput(errors)
    token = _claim_token(session, code, now)
    user = session.get(User, token.user_id)
    if user is None or user.is_erased or _has_online_account(session, user):
        raise InvalidClaimCode()
    if accounts.find_by_email(session, address) is not None:
        raise accounts.InvalidInput({"email": [N_("Un compte existe déjà avec cette adresse.")]})
    # One conditional UPDATE: of two claims with the same code at once, only one gets it.
    taken = session.execute(
        update(AccountToken).where(col(AccountToken.id) == token.id, col(AccountToken.used_at).is_(None))
        .values(used_at=now)
    ).rowcount
    if not taken:
        raise InvalidClaimCode()
    session.exec(delete(AccountToken).where(
        col(AccountToken.user_id) == user.id, col(AccountToken.kind) == AccountTokenKind.claim_account,
        col(AccountToken.used_at).is_(None)))
    user.email = address
    user.is_email_confirmed = False
    user.password_hash = hash_password(password)
    user.last_sign_in_at = now
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:  # the same address taken by a concurrent sign-up
        raise accounts.InvalidInput({"email": [N_("Un compte existe déjà avec cette adresse.")]}) from error
    confirmation = accounts.issue_account_token(session, user, AccountTokenKind.confirm_email, now=now,
                                                ttl=accounts.CONFIRMATION_TTL)
    audit.record(session, actor_id=user.id, actor_label=accounts.display_name_of(user), action="account.claimed",
                 target_type="user", target_id=user.id, now=now, after={"registered_by_id": user.registered_by_id})
    return user, confirmation
