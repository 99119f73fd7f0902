"""Who may take part in a consultation (commune in scope, verification, age), and what each
phase allows. Every refusal says why in plain words."""

from datetime import datetime

from app.accounts.models import VERIFICATION_ORDER, User, VerificationLevel
from app.accounts.policy import Decision
from app.consultations.models import Consultation, ConsultationStatus, Phase, ScopeKind
from app.consultations.phases import phase_at
from app.core.i18n import N_, gettext
from app.core.templating import format_day
from app.territory.models import Commune


def in_scope(consultation: Consultation, commune: Commune | None) -> bool:
    if commune is None:
        return False
    if consultation.scope_kind == ScopeKind.basin:
        return True  # every commune of the territory (the signatory EPCIs and the MBM outline)
    if consultation.scope_kind == ScopeKind.epci:
        return commune.epci_siren == consultation.scope_code
    return commune.insee_code == consultation.scope_code


def participation_block(user: User | None, now: datetime) -> Decision:
    """A person a moderator barred from participating, until when and why (sign-in, the account
    and data rights stay theirs)."""
    if user is None or not user.is_blocked(now):
        return Decision(True)
    return Decision(False, gettext(
        "Votre participation est suspendue par la modération jusqu’au %(date)s inclus. Raison : %(reason)s",
        date=format_day(user.participation_blocked_until, end=True), reason=user.participation_block_reason or "—"))


def eligibility(user: User | None, consultation: Consultation, *, commune: Commune | None, scope_name: str,
                now: datetime) -> Decision:
    """May this person take part (propose, vote)? Phase rules are checked separately."""
    if user is None or user.is_erased:
        return Decision(False, gettext("Connectez-vous pour participer."))
    blocked = participation_block(user, now)
    if not blocked:
        return blocked
    if consultation.status != ConsultationStatus.published:
        return Decision(False, gettext("Cette consultation n’est pas ouverte."))
    if user.commune_insee is None:
        return Decision(False, gettext("Indiquez d’abord votre commune de résidence, depuis votre compte."))
    if not in_scope(consultation, commune):
        return Decision(False, gettext("Cette consultation est réservée aux habitants de %(scope)s.", scope=scope_name))
    required = VerificationLevel(consultation.required_verification)
    if VERIFICATION_ORDER[VerificationLevel(user.verification_level)] < VERIFICATION_ORDER[required]:
        if required == VerificationLevel.verified:
            return Decision(False, gettext(
                "Cette consultation demande une résidence vérifiée : un médiateur de votre mairie ou d’un espace "
                "France Services peut la vérifier avec vous."))
        return Decision(False, gettext("Déclarez votre commune de résidence depuis votre compte pour participer."))
    if consultation.min_age:
        if user.birth_year is None:
            return Decision(False, gettext(
                "Cette consultation est ouverte à partir de %(age)s ans : indiquez votre année de naissance "
                "depuis votre compte.", age=consultation.min_age))
        # By year of birth: whoever turns the minimum age this year may take part.
        if now.year - user.birth_year < consultation.min_age:
            return Decision(False, gettext("Cette consultation est ouverte à partir de %(age)s ans.",
                                           age=consultation.min_age))
    return Decision(True)


PHASE_CLOSED_MESSAGES = {
    "propose": N_(
        "Les propositions ne sont pas ouvertes en ce moment : cette consultation n’est pas en phase de propositions."
    ),
    "vote": N_("Le vote n’est pas ouvert en ce moment : cette consultation n’est pas en phase de vote."),
}


def phase_allows(consultation: Consultation, action: str, now: datetime) -> Decision:
    wanted = {"propose": Phase.proposals, "vote": Phase.voting}[action]
    if consultation.status != ConsultationStatus.published or phase_at(consultation, now) != wanted:
        return Decision(False, gettext(PHASE_CLOSED_MESSAGES[action]))
    return Decision(True)
