"""Who may take part (scope, verification, age, account state) and what each phase allows; every
refusal says why in plain words."""

from datetime import timedelta

import pytest

from app.accounts.models import User, VerificationLevel
from app.consultations.models import Consultation, ConsultationStatus, Phase
from app.consultations.policy import eligibility, in_scope, phase_allows
from app.territory.models import Commune
from tests.factories import NOW, phase_dates

LENS_LIEVIN = "la Communauté d’agglomération de Lens - Liévin"

LENS_LIEVIN = "246200364"
PORTE_DU_HAINAUT = "200042190"
LIEVIN = Commune(insee_code="62510", name="Liévin", search_name="lievin", departement="62", population=30063,
                 epci_siren=LENS_LIEVIN)
LENS = Commune(insee_code="62498", name="Lens", search_name="lens", departement="62", population=32920,
               epci_siren=LENS_LIEVIN)
ABSCON = Commune(insee_code="59002", name="Abscon", search_name="abscon", departement="59", population=4108,
                 epci_siren=PORTE_DU_HAINAUT)
COMMUNES = {c.insee_code: c for c in (LIEVIN, LENS, ABSCON)}


def consultation(phase: str = "voting", *, scope_kind: str = "basin", scope_code: str | None = None,
                 status: str = ConsultationStatus.published, **rules: object) -> Consultation:
    return Consultation(slug="c", title="Consultation", summary="Pour les tests.", axis_id=1, scope_kind=scope_kind,
                        scope_code=scope_code, status=status, created_at=NOW, updated_at=NOW,
                        **phase_dates(phase), **rules)


def resident(*, commune: str | None = "62510", verification: str = VerificationLevel.declared,
             birth_year: int | None = 1980, erased: bool = False) -> User:
    return User(id=7, display_name="Angela", commune_insee=commune, verification_level=verification,
                birth_year=birth_year, created_at=NOW, terms_accepted_at=NOW, erased_at=NOW if erased else None)


def decide(user: User | None, c: Consultation, scope_name: str = "tout le Bassin minier"):
    commune = COMMUNES.get(user.commune_insee) if user is not None and user.commune_insee else None
    return eligibility(user, c, commune=commune, scope_name=scope_name, now=NOW)


# --- scope


def test_the_basin_takes_every_commune_of_the_territory() -> None:
    for commune in COMMUNES.values():
        assert in_scope(consultation(), commune)
    assert not in_scope(consultation(), None)


def test_an_epci_scope_takes_its_communes_only() -> None:
    c = consultation(scope_kind="epci", scope_code=LENS_LIEVIN)
    assert in_scope(c, LIEVIN)
    assert in_scope(c, LENS)
    assert not in_scope(c, ABSCON)
    assert not in_scope(c, None)


def test_a_commune_scope_takes_that_commune_only() -> None:
    c = consultation(scope_kind="commune", scope_code="62498")
    assert in_scope(c, LENS)
    assert not in_scope(c, LIEVIN)  # same EPCI, other commune


def test_outside_an_epci_scope_the_refusal_names_who_may_take_part() -> None:
    c = consultation(scope_kind="epci", scope_code=LENS_LIEVIN)
    decision = decide(resident(commune="59002"), c, scope_name=LENS_LIEVIN)
    assert not decision
    assert decision.reason == f"Cette consultation est réservée aux habitants de {LENS_LIEVIN}."
    assert decide(resident(commune="62510"), c, scope_name=LENS_LIEVIN)


def test_outside_a_commune_scope_the_refusal_names_the_commune() -> None:
    c = consultation(scope_kind="commune", scope_code="62498")
    decision = decide(resident(commune="62510"), c, scope_name="Lens")
    assert not decision
    assert decision.reason == "Cette consultation est réservée aux habitants de Lens."
    assert decide(resident(commune="62498"), c, scope_name="Lens")


# --- the person


def test_an_onboarded_resident_may_take_part() -> None:
    decision = decide(resident(), consultation())
    assert decision.allowed
    assert decision.reason == ""


def test_visitors_are_asked_to_sign_in() -> None:
    decision = decide(None, consultation())
    assert not decision
    assert decision.reason == "Connectez-vous pour participer."


def test_erased_accounts_are_refused_even_with_a_commune_left() -> None:
    decision = decide(resident(erased=True), consultation())
    assert not decision
    assert decision.reason == "Connectez-vous pour participer."


def test_without_a_commune_the_resident_is_sent_to_finish_onboarding() -> None:
    decision = decide(resident(commune=None, verification=VerificationLevel.none), consultation())
    assert not decision
    assert decision.reason == "Indiquez d’abord votre commune de résidence, depuis votre compte."


@pytest.mark.parametrize(
    ("required", "level", "allowed"),
    [
        ("none", "none", True),
        ("declared", "none", False),
        ("declared", "declared", True),
        ("declared", "verified", True),
        ("verified", "declared", False),
        ("verified", "none", False),
        ("verified", "verified", True),
    ],
)
def test_verification_level(required: str, level: str, allowed: bool) -> None:
    c = consultation(required_verification=required)
    assert decide(resident(verification=level), c).allowed is allowed


def test_below_the_required_verification_the_refusal_says_how_to_get_it() -> None:
    verified_only = decide(resident(verification="declared"), consultation(required_verification="verified"))
    assert "résidence vérifiée" in verified_only.reason
    assert "médiateur" in verified_only.reason
    declared = decide(resident(verification="none"), consultation(required_verification="declared"))
    assert declared.reason == "Déclarez votre commune de résidence depuis votre compte pour participer."


def test_minimum_age_by_year_of_birth() -> None:
    c = consultation(min_age=16)
    assert decide(resident(birth_year=NOW.year - 16), c)  # turns 16 this year
    too_young = decide(resident(birth_year=NOW.year - 15), c)
    assert not too_young
    assert too_young.reason == "Cette consultation est ouverte à partir de 16 ans."


def test_minimum_age_without_a_birth_year_asks_for_it() -> None:
    decision = decide(resident(birth_year=None), consultation(min_age=18))
    assert not decision
    assert decision.reason == ("Cette consultation est ouverte à partir de 18 ans : indiquez votre année de naissance "
                               "depuis votre compte.")


def test_no_minimum_age_needs_no_birth_year() -> None:
    assert decide(resident(birth_year=None), consultation(min_age=None))
    assert decide(resident(birth_year=None), consultation(min_age=0))


@pytest.mark.parametrize("status", [ConsultationStatus.draft, ConsultationStatus.archived])
def test_only_published_consultations_take_participants(status: str) -> None:
    decision = decide(resident(), consultation(status=status))
    assert not decision
    assert decision.reason == "Cette consultation n’est pas ouverte."


# --- phases


@pytest.mark.parametrize("phase", ["information", "proposals", "voting", "results", "follow_up"])
def test_proposals_only_in_the_proposals_phase_and_votes_only_in_the_voting_phase(phase: str) -> None:
    c = consultation(phase)
    assert phase_allows(c, "propose", NOW).allowed is (phase == Phase.proposals)
    assert phase_allows(c, "vote", NOW).allowed is (phase == Phase.voting)


def test_phase_refusals_say_why() -> None:
    c = consultation("results")
    assert phase_allows(c, "propose", NOW).reason == (
        "Les propositions ne sont pas ouvertes en ce moment : cette consultation n’est pas en phase de propositions.")
    assert phase_allows(c, "vote", NOW).reason == (
        "Le vote n’est pas ouvert en ce moment : cette consultation n’est pas en phase de vote.")


def test_a_draft_in_its_voting_dates_takes_no_vote() -> None:
    assert not phase_allows(consultation("voting", status=ConsultationStatus.draft), "vote", NOW)
    assert not phase_allows(consultation("voting", status=ConsultationStatus.archived), "vote", NOW)


def test_the_phase_follows_the_clock() -> None:
    c = consultation("proposals")
    assert phase_allows(c, "propose", NOW)
    assert not phase_allows(c, "propose", NOW + timedelta(days=10))  # voting by then
    assert phase_allows(c, "vote", NOW + timedelta(days=10))
