"""Consultations in the database: create and change (moderators of the axis, admins), rules frozen
by the first vote, drafts hidden, listing by phase, eligibility by scope, database checks."""

from contextlib import nullcontext
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.accounts.policy import Principal
from app.accounts.sessions import DatabaseSessionStore
from app.audit import service as audit
from app.consultations import service
from app.consultations.models import Consultation, Phase
from app.consultations.phases import phase_at
from app.consultations.schemas import ConsultationIn, ConsultationPatch, PhasesIn, RulesIn, ScopeIn
from app.core.errors import Forbidden
from app.territory.models import Axis
from app.voting import service as voting
from tests.factories import NOW, make_consultation, make_proposal, make_user, phase_dates

DAY = timedelta(days=1)
LENS_LIEVIN = "246200364"


def axis_id(session: Session, number: int) -> int:
    axis = session.exec(select(Axis).where(Axis.number == number)).one()
    assert axis.id is not None
    return axis.id


def moderator(session: Session, axis_number: int = 1) -> Principal:
    user = make_user(session)
    accounts.grant_role(session, user, Role.moderator, now=NOW, axis_id=axis_id(session, axis_number))
    return accounts.load_principal(session, user)


def admin(session: Session) -> Principal:
    user = make_user(session)
    accounts.grant_role(session, user, Role.admin, now=NOW)
    return accounts.load_principal(session, user)


def resident(session: Session, **fields: object) -> Principal:
    return accounts.load_principal(session, make_user(session, **fields))


def phases(phase: str = "proposals") -> PhasesIn:
    dates = phase_dates(phase)
    return PhasesIn.model_validate({name: {"start": dates[f"{name}_starts_at"]} for name in
                                    ("information", "proposals", "voting", "results", "follow_up")})


def new(axis: int = 1, **fields: object) -> ConsultationIn:
    data: dict[str, object] = {"title": "Rénover les cités minières", "summary": "Que faire des cités minières ?",
                               "axis": axis, "scope": ScopeIn(kind="basin"), "phases": phases()}
    return ConsultationIn(**(data | fields))


# --- create


def test_a_moderator_of_the_axis_creates_a_consultation(session: Session) -> None:
    principal = moderator(session)
    consultation = service.create(session, principal, new(rules=RulesIn(max_supports=3, min_age=16)), now=NOW)
    assert consultation.id is not None
    assert consultation.slug == "renover-les-cites-minieres"
    assert consultation.axis_id == axis_id(session, 1)
    assert consultation.status == "draft"  # until published
    assert consultation.max_supports == 3
    assert consultation.min_age == 16
    assert consultation.created_by_id == principal.id
    assert phase_at(consultation, NOW) == Phase.proposals
    (entry,) = audit.entries_for(session, target_type="consultation", target_id=consultation.id)
    assert entry.action == "consultation.created"
    assert entry.actor_id == principal.id
    assert entry.after is not None
    assert entry.after["max_supports"] == 3


def test_an_admin_creates_a_consultation_on_any_axis(session: Session) -> None:
    assert service.create(session, admin(session), new(axis=16), now=NOW).id is not None


@pytest.mark.parametrize("who", ["resident", "other_axis", "consultation_moderator", "evaluator", "erased"])
def test_others_may_not_create_consultations(session: Session, who: str) -> None:
    if who == "resident":
        principal = resident(session)
    elif who == "other_axis":
        principal = moderator(session, axis_number=2)
    elif who == "consultation_moderator":
        user = make_user(session)
        accounts.grant_role(session, user, Role.moderator, now=NOW, consultation_id=make_consultation(session).id)
        principal = accounts.load_principal(session, user)
    elif who == "evaluator":
        user = make_user(session)
        accounts.grant_role(session, user, Role.evaluator, now=NOW, axis_id=axis_id(session, 1))
        principal = accounts.load_principal(session, user)
    else:
        principal = moderator(session)
        principal.user.erased_at = NOW
    with pytest.raises(Forbidden):
        service.create(session, principal, new(axis=1), now=NOW)


def test_slugs_stay_unique(session: Session) -> None:
    principal = moderator(session)
    first = service.create(session, principal, new(), now=NOW)
    second = service.create(session, principal, new(), now=NOW)
    assert (first.slug, second.slug) == ("renover-les-cites-minieres", "renover-les-cites-minieres-2")
    assert service.get_by_slug(session, second.slug, principal=principal).id == second.id


def test_scopes(session: Session) -> None:
    principal = moderator(session)
    epci = service.create(session, principal, new(scope=ScopeIn(kind="epci", code=LENS_LIEVIN)), now=NOW)
    assert (epci.scope_kind, epci.scope_code) == ("epci", LENS_LIEVIN)
    assert service.scope_name(session, epci) == "la Communauté d’agglomération de Lens - Liévin"
    assert service.scope_name(session, epci, in_words=False) == "CA de Lens - Liévin"
    commune = service.create(session, principal, new(scope=ScopeIn(kind="commune", code="62498")), now=NOW)
    assert service.scope_name(session, commune) == "Lens"
    basin = service.create(session, principal, new(scope=ScopeIn(kind="basin", code="62498")), now=NOW)
    assert (basin.scope_kind, basin.scope_code) == ("basin", None)  # a code means nothing for the basin
    assert service.scope_name(session, basin) == "tout le Bassin minier"


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        (ScopeIn(kind="epci", code="123456789"), "Indiquez le SIREN d’une intercommunalité du territoire."),
        (ScopeIn(kind="epci"), "Indiquez le SIREN d’une intercommunalité du territoire."),
        (ScopeIn(kind="commune", code="75056"), "Indiquez le code INSEE d’une commune du territoire."),
        (ScopeIn(kind="commune"), "Indiquez le code INSEE d’une commune du territoire."),
    ],
)
def test_scopes_outside_the_territory_are_refused(session: Session, scope: ScopeIn, message: str) -> None:
    with pytest.raises(service.InvalidConsultation) as refused:
        service.create(session, moderator(session), new(scope=scope), now=NOW)
    assert refused.value.status_code == 422
    assert refused.value.message == message


def test_a_budget_needs_its_total(session: Session) -> None:
    with pytest.raises(service.InvalidConsultation):
        service.create(session, moderator(session), new(voting_method="budget"), now=NOW)
    created = service.create(session, moderator(session),
                             new(voting_method="budget", rules=RulesIn(budget_total=100_000)), now=NOW)
    assert created.budget_total == 100_000


def test_phases_out_of_order_are_refused_before_anything_is_stored() -> None:
    dates = phases().model_dump()
    dates["voting"], dates["results"] = dates["results"], dates["voting"]
    with pytest.raises(ValueError, match="phases must follow each other"):
        PhasesIn.model_validate(dates)
    naive = phases().model_dump()
    naive["information"]["start"] = naive["information"]["start"].replace(tzinfo=None)
    with pytest.raises(ValueError, match="time zone"):
        PhasesIn.model_validate(naive)
    ends_too_soon = phases().model_dump()
    ends_too_soon["follow_up"]["end"] = ends_too_soon["follow_up"]["start"] - DAY
    with pytest.raises(ValueError, match="must end after it starts"):
        PhasesIn.model_validate(ends_too_soon)


# --- the database's own checks


def test_the_database_refuses_phases_out_of_order(session: Session) -> None:
    consultation = make_consultation(session)
    consultation.voting_starts_at = consultation.results_starts_at + DAY
    with pytest.raises(IntegrityError), session.begin_nested():
        session.flush()


def test_the_database_refuses_an_end_before_the_follow_up(session: Session) -> None:
    consultation = make_consultation(session)
    consultation.follow_up_ends_at = consultation.follow_up_starts_at - DAY
    with pytest.raises(IntegrityError), session.begin_nested():
        session.flush()


@pytest.mark.parametrize(
    "fields",
    [
        {"scope_kind": "basin", "scope_code": "62510"},
        {"scope_kind": "epci", "scope_code": None},
        {"scope_kind": "district"},
        {"voting_method": "lottery"},
        {"status": "hidden"},
        {"required_verification": "sworn"},
        {"max_supports": -1},
        {"min_age": 121},
        {"budget_total": 0},
    ],
)
def test_the_database_checks_the_rules(session: Session, fields: dict[str, object]) -> None:
    with pytest.raises(IntegrityError), session.begin_nested():
        make_consultation(session, **fields)


# --- change


def voted(session: Session, consultation: Consultation) -> None:
    """Cast the consultation's first vote."""
    proposal = make_proposal(session, consultation, make_user(session))
    voting.add_support(session, resident(session), proposal, now=NOW)
    session.refresh(consultation)
    assert consultation.first_vote_at == NOW


def test_changes_before_the_first_vote(session: Session) -> None:
    principal = moderator(session)
    consultation = make_consultation(session, phase="proposals")
    service.update(session, principal, consultation, ConsultationPatch(
        title="Un autre titre", voting_method="budget", rules=RulesIn(max_supports=5, budget_total=50_000),
        scope=ScopeIn(kind="commune", code="62510"), status="archived"), now=NOW + DAY)
    assert consultation.title == "Un autre titre"
    assert (consultation.voting_method, consultation.max_supports, consultation.budget_total) == ("budget", 5, 50_000)
    assert (consultation.scope_kind, consultation.scope_code) == ("commune", "62510")
    assert consultation.status == "archived"
    assert consultation.updated_at == NOW + DAY
    (entry,) = audit.entries_for(session, target_type="consultation", target_id=consultation.id)
    assert entry.action == "consultation.updated"
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["max_supports"], entry.after["max_supports"]) == (0, 5)
    assert (entry.before["title"], entry.after["title"]) != ("Un autre titre",) * 2


def test_changing_only_the_method_keeps_the_rules(session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", max_supports=4, min_age=16)
    service.update(session, moderator(session), consultation,
                   ConsultationPatch(voting_method="majority_judgment"), now=NOW)
    assert (consultation.voting_method, consultation.max_supports, consultation.min_age) == (
        "majority_judgment", 4, 16)


@pytest.mark.parametrize(
    "patch",
    [
        ConsultationPatch(voting_method="majority_judgment"),
        ConsultationPatch(rules=RulesIn(max_supports=10)),
        ConsultationPatch(rules=RulesIn(max_supports=3, min_age=18)),
        ConsultationPatch(rules=RulesIn(max_supports=3, required_verification="verified")),
        ConsultationPatch(rules=RulesIn(max_supports=3, results_hidden_until_end=True)),
        ConsultationPatch(scope=ScopeIn(kind="epci", code=LENS_LIEVIN)),
    ],
)
def test_the_first_vote_freezes_the_method_the_rules_and_the_scope(session: Session,
                                                                    patch: ConsultationPatch) -> None:
    consultation = make_consultation(session, max_supports=3)
    voted(session, consultation)
    with pytest.raises(service.RulesFrozen) as refused:
        service.update(session, moderator(session), consultation, patch, now=NOW)
    assert refused.value.status_code == 409
    assert refused.value.code == "rules-frozen"
    session.refresh(consultation)
    assert (consultation.voting_method, consultation.max_supports, consultation.scope_kind) == (
        "support", 3, "basin")


def test_after_the_first_vote_dates_texts_and_unchanged_rules_may_still_be_sent(session: Session) -> None:
    consultation = make_consultation(session, max_supports=3)
    voted(session, consultation)
    principal = moderator(session)
    # Closing the vote early: the results start now.
    moved = phases("voting").model_dump()
    moved["results"]["start"] = NOW - timedelta(minutes=1)
    service.update(session, principal, consultation, ConsultationPatch(
        title="Titre corrigé", phases=PhasesIn.model_validate(moved), voting_method="support",
        rules=RulesIn(max_supports=3), scope=ScopeIn(kind="basin")), now=NOW)
    assert consultation.title == "Titre corrigé"
    assert phase_at(consultation, NOW) == Phase.results
    # And extending it again.
    service.update(session, principal, consultation, ConsultationPatch(phases=phases("voting")), now=NOW)
    assert phase_at(consultation, NOW) == Phase.voting


@pytest.mark.parametrize("who", ["resident", "other_axis"])
def test_others_may_not_change_a_consultation(session: Session, who: str) -> None:
    consultation = make_consultation(session, axis_number=1)
    principal = resident(session) if who == "resident" else moderator(session, axis_number=2)
    with pytest.raises(Forbidden):
        service.update(session, principal, consultation, ConsultationPatch(title="Pris en main"), now=NOW)


def test_a_moderator_of_the_consultation_itself_may_change_it(session: Session) -> None:
    consultation = make_consultation(session)
    user = make_user(session)
    accounts.grant_role(session, user, Role.moderator, now=NOW, consultation_id=consultation.id)
    service.update(session, accounts.load_principal(session, user), consultation,
                   ConsultationPatch(title="Changé par sa modératrice"), now=NOW)
    assert consultation.title == "Changé par sa modératrice"


def test_mark_first_vote_sets_the_date_once(session: Session) -> None:
    consultation = make_consultation(session)
    service.mark_first_vote(session, consultation, now=NOW)
    session.refresh(consultation)
    service.mark_first_vote(session, consultation, now=NOW + DAY)
    stale = Consultation(id=consultation.id, first_vote_at=None)  # as read by a request before the first vote
    service.mark_first_vote(session, stale, now=NOW + 2 * DAY)
    session.refresh(consultation)
    assert consultation.first_vote_at == NOW


# --- read


def test_drafts_are_seen_by_their_moderators_only(session: Session) -> None:
    draft = make_consultation(session, status="draft", axis_number=1)
    assert draft.id is not None
    for principal in (None, resident(session), moderator(session, axis_number=2)):
        with pytest.raises(service.ConsultationNotFound):
            service.get(session, draft.id, principal=principal)
        with pytest.raises(service.ConsultationNotFound):
            service.get_by_slug(session, draft.slug, principal=principal)
    assert service.get(session, draft.id, principal=moderator(session, axis_number=1)) is draft
    assert service.get(session, draft.id, principal=admin(session)) is draft


def test_unknown_consultations(session: Session) -> None:
    with pytest.raises(service.ConsultationNotFound):
        service.get(session, 10**9)
    with pytest.raises(service.ConsultationNotFound):
        service.get_by_slug(session, "nulle-part")


def test_published_and_archived_are_public(session: Session) -> None:
    for status in ("published", "archived"):
        consultation = make_consultation(session, status=status)
        assert service.get(session, consultation.id or 0) is consultation


def dated(session: Session, **dates: object) -> Consultation:
    """A published consultation with these phase dates (`information_starts_at=…`, …)."""
    consultation = make_consultation(session)
    for name, value in dates.items():
        setattr(consultation, name, value)
    session.flush()
    return consultation


def ids(items: list[Consultation]) -> list[int | None]:
    return [c.id for c in items]


def test_list_the_published_open_ones_first(session: Session) -> None:
    upcoming = dated(session, information_starts_at=NOW + DAY, proposals_starts_at=NOW + 2 * DAY,
                     voting_starts_at=NOW + 3 * DAY, results_starts_at=NOW + 4 * DAY,
                     follow_up_starts_at=NOW + 5 * DAY)
    results = make_consultation(session, phase="results")
    archived = make_consultation(session, phase="voting", status="archived")
    proposals = make_consultation(session, phase="proposals")
    voting = make_consultation(session, phase="voting")
    make_consultation(session, phase="voting", status="draft")
    page = service.list_published(session, now=NOW)
    assert page.total == 5
    # Open to participation first (the latest vote first), then the rest by the same order.
    assert ids(page.items) == ids([proposals, voting, upcoming, archived, results])
    second = service.list_published(session, now=NOW, limit=2, offset=2)
    assert (second.total, ids(second.items)) == (5, ids([upcoming, archived]))


def test_list_by_axis_and_scope(session: Session) -> None:
    mine = make_consultation(session, axis_number=3, scope_kind="epci", scope_code=LENS_LIEVIN)
    make_consultation(session, axis_number=3)
    make_consultation(session, axis_number=4, scope_kind="epci", scope_code=LENS_LIEVIN)
    page = service.list_published(session, now=NOW, axis_id=axis_id(session, 3), scope_kind="epci")
    assert (page.total, ids(page.items)) == (1, [mine.id])
    assert service.list_published(session, now=NOW, axis_id=axis_id(session, 3)).total == 2
    assert service.list_published(session, now=NOW, scope_kind="commune").total == 0


def test_the_phase_filter_agrees_with_phase_at_on_every_boundary(session: Session) -> None:
    """Consultations whose phases start (or end) exactly now, and in the middle of each phase: the
    SQL filter and phase_at name the same phase for each."""
    made: list[Consultation] = []
    order = ["information", "proposals", "voting", "results", "follow_up"]
    for index in range(-1, len(order) + 1):
        # Phases before `index` started in the past, the one at `index` starts now (-1: all to come).
        starts = {name: NOW + (i - index) * DAY for i, name in enumerate(order)}
        made.append(dated(session, **{f"{name}_starts_at": at for name, at in starts.items()}))
    for phase in order:
        made.append(make_consultation(session, phase=phase))
    made.append(make_consultation(session, phase="follow_up", follow_up_ends_at=NOW))  # closed right now
    made.append(make_consultation(session, phase="follow_up", follow_up_ends_at=NOW + DAY))
    made.append(make_consultation(session, phase="follow_up", follow_up_ends_at=NOW - DAY))
    expected = {phase: {c.id for c in made if phase_at(c, NOW) == phase} for phase in Phase}
    assert all(expected[phase] for phase in Phase), expected  # every phase is represented
    for phase in Phase:
        page = service.list_published(session, now=NOW, phase=phase, limit=100)
        assert {c.id for c in page.items} == expected[phase], phase
        assert page.total == len(expected[phase])


# --- eligibility with the territory from the database


def test_check_eligibility_names_the_epci(session: Session) -> None:
    consultation = make_consultation(session, scope_kind="epci", scope_code=LENS_LIEVIN)
    outsider = make_user(session, commune="59002")  # Abscon, Porte du Hainaut
    decision = service.check_eligibility(session, outsider, consultation, now=NOW)
    assert decision.reason == (
        "Cette consultation est réservée aux habitants de la Communauté d’agglomération de Lens - Liévin."
    )
    assert service.check_eligibility(session, make_user(session, commune="62498"), consultation, now=NOW)


def test_check_eligibility_names_the_commune(session: Session) -> None:
    consultation = make_consultation(session, scope_kind="commune", scope_code="62498")
    decision = service.check_eligibility(session, make_user(session, commune="62510"), consultation, now=NOW)
    assert decision.reason == "Cette consultation est réservée aux habitants de Lens."


def test_check_eligibility_of_an_erased_resident(session: Session) -> None:
    consultation = make_consultation(session)
    user = make_user(session)
    accounts.erase_account(session, DatabaseSessionStore(lambda **_options: nullcontext(session)), user, now=NOW)
    erased = session.get(User, user.id)
    decision = service.check_eligibility(session, erased, consultation, now=NOW)
    assert not decision
    assert decision.reason == "Connectez-vous pour participer."
