"""Consultations: create, change, publish, list and read; who may take part; the back office's acts
(publish, archive, duplicate, close a phase early), each audited with its before and after.

Phase dates. A consultation stores the start of each of its five phases; a phase ends when the
next starts, so phases can neither overlap nor leave a gap (the model's design). What the service
checks on top, whenever dates are set (create, update, closing a phase early):
- the starts are in order (information ≤ proposals ≤ voting ≤ results ≤ follow-up);
- the proposals and voting phases last: a consultation without time to propose or to vote cannot
  explain itself to residents;
- the information and results phases may be empty (zero length), which is how a consultation says
  "it opens directly with proposals" or "the follow-up starts as soon as the results are out";
- the follow-up, when it has an end, ends strictly after it starts.

Publishing turns a draft into a published consultation (nothing else can be published). Archiving
applies to published ones only: an archived consultation stays readable and listed on the public
pages (the record of past participation, tagged "Archivée") but nobody can take part any more
(policy.eligibility wants a published consultation). A draft is never archived (it would become
public); it stays a draft.

Duplicating copies a consultation (texts, axis, scope, method, rules, moderation mode) into a new
draft titled "… (copie)", never its proposals or votes. Its dates keep their durations; when the
original's information phase starts less than a week from now (or in the past), all dates move
forward by whole weeks, in Paris wall-clock time, so that the copy starts at least a week from now
on the same weekday and hour.

Closing a phase early sets the next phase's start to now (for the follow-up, its end): published
consultations only, only the running phase, and never when it would leave the proposals or voting
phase empty or break the order."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from app.accounts.models import Role, User
from app.accounts.policy import Action, Decision, Principal, Scope, can
from app.audit import service as audit
from app.consultations import policy
from app.consultations.models import PHASES_IN_ORDER, Consultation, ConsultationStatus, Phase, ScopeKind
from app.consultations.phases import phase_at
from app.consultations.schemas import ConsultationIn, ConsultationPatch, PhasesIn, RulesIn, ScopeIn
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.i18n import N_, gettext
from app.territory.models import Axis, Commune, Epci
from app.territory.search import fold
from app.territory.service import epci_in_words


class ConsultationNotFound(NotFound):
    message = N_("Cette consultation n’existe pas.")


class InvalidConsultation(Conflict):
    status_code = 422
    message = N_("Cette consultation n’est pas valable.")

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field  # the form field at fault, when one is


class RulesFrozen(Conflict):
    code = "rules-frozen"
    message = N_("Le vote a commencé : la méthode de vote et les règles ne peuvent plus changer.")


# Sections that higher domains add to the axis page (e.g. the programme's trace, from evaluation):
# each returns the template to include and its context, or None to add nothing.
AxisSection = Callable[[Session, int, datetime], "tuple[str, dict[str, Any]] | None"]
_axis_sections: list[AxisSection] = []


def axis_section(section: AxisSection) -> AxisSection:
    _axis_sections.append(section)
    return section


def axis_sections(session: Session, axis_id: int, *, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    return [part for section in _axis_sections if (part := section(session, axis_id, now)) is not None]


def scope_of(consultation: Consultation) -> Scope:
    return Scope(axis_id=consultation.axis_id, consultation_id=consultation.id)


def scope_name(session: Session, consultation: Consultation, *, in_words: bool = True) -> str:
    """Who the consultation is for: "tout le Bassin minier", an EPCI, a commune. In words, as a
    sentence says it after "habitants de" ("la Communauté d’agglomération de …"), or the EPCI's
    official name (in_words=False)."""
    if consultation.scope_kind == ScopeKind.epci and consultation.scope_code:
        epci = session.get(Epci, consultation.scope_code)
        if epci is None:
            return consultation.scope_code
        return epci_in_words(epci.name) if in_words else epci.name
    if consultation.scope_kind == ScopeKind.commune and consultation.scope_code:
        commune = session.get(Commune, consultation.scope_code)
        return commune.name if commune else consultation.scope_code
    return gettext("tout le Bassin minier")


def check_eligibility(session: Session, user: User | None, consultation: Consultation, *, now: datetime) -> Decision:
    commune = session.get(Commune, user.commune_insee) if user is not None and user.commune_insee else None
    decision = policy.eligibility(user, consultation, commune=commune, scope_name="", now=now)
    if decision:
        return decision  # the scope's name (a query for an EPCI) is needed only to explain a refusal
    return policy.eligibility(user, consultation, commune=commune, scope_name=scope_name(session, consultation),
                              now=now)


def can_manage(principal: Principal | None, consultation: Consultation) -> bool:
    return bool(can(principal, Action.manage_consultations, scope_of(consultation)))


def get(session: Session, consultation_id: int, *, principal: Principal | None = None) -> Consultation:
    """A consultation the asker may see: published or archived ones for everyone, drafts for their moderators."""
    consultation = session.get(Consultation, consultation_id)
    if consultation is None:
        raise ConsultationNotFound()
    if consultation.status == ConsultationStatus.draft and not can_manage(principal, consultation):
        raise ConsultationNotFound()
    return consultation


def get_by_slug(session: Session, slug: str, *, principal: Principal | None = None) -> Consultation:
    consultation = session.exec(select(Consultation).where(Consultation.slug == slug)).first()
    if consultation is None:
        raise ConsultationNotFound()
    return get(session, consultation.id or 0, principal=principal)


@dataclass(frozen=True)
class ConsultationList:
    items: list[Consultation]
    total: int


def _phase_condition(phase: Phase, now: datetime) -> Any:
    c = Consultation
    nexts = {
        Phase.information: c.proposals_starts_at, Phase.proposals: c.voting_starts_at,
        Phase.voting: c.results_starts_at, Phase.results: c.follow_up_starts_at,
    }
    if phase == Phase.upcoming:
        return col(c.information_starts_at) > now
    if phase == Phase.closed:
        return col(c.follow_up_ends_at).is_not(None) & (col(c.follow_up_ends_at) <= now)
    start = {
        Phase.information: c.information_starts_at, Phase.proposals: c.proposals_starts_at,
        Phase.voting: c.voting_starts_at, Phase.results: c.results_starts_at,
        Phase.follow_up: c.follow_up_starts_at,
    }[phase]
    condition = col(start) <= now
    if phase in nexts:
        condition = condition & (col(nexts[phase]) > now)
    else:
        condition = condition & (col(c.follow_up_ends_at).is_(None) | (col(c.follow_up_ends_at) > now))
    return condition


def list_published(session: Session, *, now: datetime, axis_id: int | None = None, phase: Phase | None = None,
                   scope_kind: str | None = None, limit: int = 50, offset: int = 0) -> ConsultationList:
    """Published (and archived) consultations, those open to participation first, then the most recent."""
    query = select(Consultation).where(
        col(Consultation.status).in_([ConsultationStatus.published, ConsultationStatus.archived])
    )
    if axis_id is not None:
        query = query.where(Consultation.axis_id == axis_id)
    if phase is not None:
        query = query.where(_phase_condition(phase, now))
    if scope_kind:
        query = query.where(Consultation.scope_kind == scope_kind)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    open_now = (col(Consultation.proposals_starts_at) <= now) & (col(Consultation.results_starts_at) > now)
    ordering = case((open_now & (Consultation.status == ConsultationStatus.published), 0), else_=1)
    items = session.exec(
        query.order_by(ordering, col(Consultation.voting_starts_at).desc(), col(Consultation.id))
        .limit(limit).offset(offset)
    )
    return ConsultationList(list(items), total)


def _slug_for(session: Session, title: str) -> str:
    base = "-".join(fold(title).split())[:100] or "consultation"
    slug, n = base, 1
    while session.exec(select(Consultation.id).where(Consultation.slug == slug)).first() is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


def _axis_by_number(session: Session, number: int) -> Axis:
    axis = session.exec(select(Axis).where(Axis.number == number)).first()
    if axis is None:
        raise InvalidConsultation(N_("Cet axe n’existe pas."), field="axis")
    return axis


def _apply_scope(session: Session, consultation: Consultation, scope: ScopeIn) -> None:
    if scope.kind == ScopeKind.basin:
        code = None
    elif scope.kind == ScopeKind.epci:
        if not scope.code or session.get(Epci, scope.code) is None:
            raise InvalidConsultation(N_("Indiquez le SIREN d’une intercommunalité du territoire."), field="scope_code")
        code = scope.code
    else:
        if not scope.code or session.get(Commune, scope.code) is None:
            raise InvalidConsultation(N_("Indiquez le code INSEE d’une commune du territoire."), field="scope_code")
        code = scope.code
    consultation.scope_kind = scope.kind
    consultation.scope_code = code


def check_phases(starts: dict[Phase, datetime], follow_up_ends_at: datetime | None) -> None:
    """The rules of the module docstring; the error names the field of the first phase at fault."""
    names = {phase: f"{phase.value}_starts_at" for phase in PHASES_IN_ORDER}
    for earlier, later in pairwise(PHASES_IN_ORDER):
        if starts[later] < starts[earlier]:
            raise InvalidConsultation(N_("Les phases doivent se suivre : chaque phase commence après la précédente."),
                                      field=names[later])
        if earlier in (Phase.proposals, Phase.voting) and starts[later] == starts[earlier]:
            message = (N_("La phase de propositions doit durer : elle ne peut pas finir à l’instant où elle commence.")
                       if earlier == Phase.proposals else
                       N_("La phase de vote doit durer : elle ne peut pas finir à l’instant où elle commence."))
            raise InvalidConsultation(message, field=names[later])
    if follow_up_ends_at is not None and follow_up_ends_at <= starts[Phase.follow_up]:
        raise InvalidConsultation(N_("La fin du suivi doit venir après son début."), field="follow_up_ends_at")


def _apply_phases(consultation: Consultation, phases: PhasesIn) -> None:
    check_phases({Phase.information: phases.information.start, Phase.proposals: phases.proposals.start,
                  Phase.voting: phases.voting.start, Phase.results: phases.results.start,
                  Phase.follow_up: phases.follow_up.start}, phases.follow_up.end)
    consultation.information_starts_at = phases.information.start
    consultation.proposals_starts_at = phases.proposals.start
    consultation.voting_starts_at = phases.voting.start
    consultation.results_starts_at = phases.results.start
    consultation.follow_up_starts_at = phases.follow_up.start
    consultation.follow_up_ends_at = phases.follow_up.end


def _apply_rules(consultation: Consultation, method: str, rules: RulesIn) -> None:
    if method == "budget" and not rules.budget_total:
        raise InvalidConsultation(N_("Un budget participatif a besoin d’un budget total."), field="budget_total")
    consultation.voting_method = method
    consultation.max_supports = rules.max_supports
    consultation.min_age = rules.min_age
    consultation.required_verification = rules.required_verification
    consultation.results_hidden_until_end = rules.results_hidden_until_end
    consultation.budget_total = rules.budget_total


def _snapshot(consultation: Consultation) -> dict[str, Any]:
    return {
        key: (value.isoformat() if isinstance(value, datetime) else value)
        for key, value in consultation.model_dump(
            exclude={"body", "summary", "easy_read_summary", "easy_read_rules"}
        ).items()
    }


def create(session: Session, principal: Principal, data: ConsultationIn, *, now: datetime) -> Consultation:
    """Create a consultation on an axis; moderators of that axis and admins only."""
    axis = _axis_by_number(session, data.axis)
    if not can(principal, Action.manage_consultations, Scope(axis_id=axis.id)):
        raise Forbidden(can(principal, Action.manage_consultations, Scope(axis_id=axis.id)).reason)
    consultation = Consultation(
        slug=_slug_for(session, data.title), title=data.title, summary=data.summary, body=data.body,
        easy_read_summary=data.easy_read_summary, easy_read_rules=data.easy_read_rules, axis_id=axis.id or 0,
        information_starts_at=data.phases.information.start, proposals_starts_at=data.phases.proposals.start,
        voting_starts_at=data.phases.voting.start, results_starts_at=data.phases.results.start,
        follow_up_starts_at=data.phases.follow_up.start, status=data.status, created_at=now, updated_at=now,
        created_by_id=principal.id, is_premoderated=data.is_premoderated,
    )
    _apply_scope(session, consultation, data.scope)
    _apply_phases(consultation, data.phases)
    _apply_rules(consultation, data.voting_method, data.rules)
    session.add(consultation)
    session.flush()
    audit.record(session, actor_id=principal.id, actor_label=principal.user.display_name or "", now=now,
                 action="consultation.created", target_type="consultation", target_id=consultation.id,
                 after=_snapshot(consultation))
    return consultation


def update(session: Session, principal: Principal, consultation: Consultation, changes: ConsultationPatch, *,
           now: datetime) -> Consultation:
    """Change a consultation. Once voting has started, its method and rules are frozen; dates may move."""
    if not can_manage(principal, consultation):
        raise Forbidden(can(principal, Action.manage_consultations, scope_of(consultation)).reason)
    before = _snapshot(consultation)
    fields = changes.model_dump(exclude_unset=True)
    if consultation.first_vote_at is not None and ({"voting_method", "rules", "scope"} & fields.keys()):
        changed_method = changes.voting_method is not None and changes.voting_method != consultation.voting_method
        changed_rules = changes.rules is not None and changes.rules.model_dump() != RulesIn(
            max_supports=consultation.max_supports, min_age=consultation.min_age,
            required_verification=consultation.required_verification,
            results_hidden_until_end=consultation.results_hidden_until_end,
            budget_total=consultation.budget_total).model_dump()
        changed_scope = changes.scope is not None and (
            changes.scope.kind != consultation.scope_kind or changes.scope.code != consultation.scope_code)
        if changed_method or changed_rules or changed_scope:
            raise RulesFrozen()
    for name in ("title", "summary", "body", "easy_read_summary", "easy_read_rules", "status", "is_premoderated"):
        if name in fields and (fields[name] is not None or name.startswith("easy_read")):
            setattr(consultation, name, fields[name])
    if changes.scope is not None:
        _apply_scope(session, consultation, changes.scope)
    if changes.phases is not None:
        _apply_phases(consultation, changes.phases)
    if changes.voting_method is not None or changes.rules is not None:
        rules = changes.rules or RulesIn(
            max_supports=consultation.max_supports, min_age=consultation.min_age,
            required_verification=consultation.required_verification,
            results_hidden_until_end=consultation.results_hidden_until_end, budget_total=consultation.budget_total)
        _apply_rules(consultation, changes.voting_method or consultation.voting_method, rules)
    consultation.updated_at = now
    session.add(consultation)
    session.flush()
    audit.record(session, actor_id=principal.id, actor_label=principal.user.display_name or "", now=now,
                 action="consultation.updated", target_type="consultation", target_id=consultation.id,
                 before=before, after=_snapshot(consultation))
    return consultation


def mark_first_vote(session: Session, consultation: Consultation, *, now: datetime) -> None:
    """Freeze the rules at the first vote (one UPDATE, safe under concurrency)."""
    if consultation.first_vote_at is None:
        session.execute(
            Consultation.__table__.update()  # type: ignore[attr-defined]
            .where(Consultation.__table__.c.id == consultation.id, Consultation.__table__.c.first_vote_at.is_(None))
            .values(first_vote_at=now)
        )


def phases_of(consultation: Consultation) -> dict[str, dict[str, datetime | None]]:
    starts = consultation.phase_starts()
    result: dict[str, dict[str, datetime | None]] = {}
    for index, phase in enumerate(PHASES_IN_ORDER):
        last = index + 1 == len(PHASES_IN_ORDER)
        end = consultation.follow_up_ends_at if last else starts[PHASES_IN_ORDER[index + 1]]
        result[phase.value] = {"start": starts[phase], "end": end}
    return result


def current_phase(consultation: Consultation, now: datetime) -> Phase:
    return phase_at(consultation, now)


def results_visible(consultation: Consultation, now: datetime) -> bool:
    """Counts and the "most supported" order stay hidden until the vote ends when the rules say so."""
    if not consultation.results_hidden_until_end:
        return True
    return phase_at(consultation, now) in (Phase.results, Phase.follow_up, Phase.closed)


def communes_in_scope(session: Session, consultation: Consultation) -> list[Commune]:
    """The communes whose residents may take part, by name (for the commune of a proposal)."""
    query = select(Commune)
    if consultation.scope_kind == ScopeKind.epci:
        query = query.where(Commune.epci_siren == consultation.scope_code)
    elif consultation.scope_kind == ScopeKind.commune:
        query = query.where(Commune.insee_code == consultation.scope_code)
    return list(session.exec(query.order_by(col(Commune.search_name), col(Commune.insee_code))))


# --- the back office: who manages what, and the acts on a consultation

PARIS = ZoneInfo("Europe/Paris")
COPY_SUFFIX = " (copie)"
COPY_LEAD_TIME = timedelta(days=7)


class NotInBackOffice(Forbidden):
    message = N_("Cet espace est réservé aux modérateurs et aux administrateurs.")


class WrongStatus(Conflict):
    code = "wrong-status"


class CannotClosePhase(Conflict):
    code = "cannot-close-phase"


def check_back_office(principal: Principal) -> None:
    """Moderators (of anything) and admins enter the consultations' back office; nobody else."""
    if not (principal.is_admin or principal.has_role(Role.moderator)):
        raise NotInBackOffice()


def _manages_everything(principal: Principal) -> bool:
    return principal.is_admin or principal.has_role(Role.moderator, Scope())


def axes_for_new_consultations(session: Session, principal: Principal) -> list[Axis]:
    """The axes where this person may create a consultation: all for admins and platform-wide
    moderators, their own axes for axis moderators, none for a moderator of one consultation."""
    axes = list(session.exec(select(Axis).order_by(col(Axis.number))))
    return [axis for axis in axes if can(principal, Action.manage_consultations, Scope(axis_id=axis.id))]


def list_managed(session: Session, principal: Principal, *, status: str | None = None, axis_id: int | None = None,
                 limit: int = 50, offset: int = 0) -> ConsultationList:
    """The consultations this person manages, drafts included: the most recently changed first."""
    check_back_office(principal)
    query = select(Consultation)
    if not _manages_everything(principal):
        axis_ids = [g.axis_id for g in principal.grants if g.role == Role.moderator and g.axis_id is not None]
        consultation_ids = [g.consultation_id for g in principal.grants
                            if g.role == Role.moderator and g.consultation_id is not None]
        query = query.where(col(Consultation.axis_id).in_(axis_ids) | col(Consultation.id).in_(consultation_ids))
    if status:
        query = query.where(Consultation.status == status)
    if axis_id is not None:
        query = query.where(Consultation.axis_id == axis_id)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    items = session.exec(query.order_by(col(Consultation.updated_at).desc(), col(Consultation.id).desc())
                         .limit(limit).offset(offset))
    return ConsultationList(list(items), total)


def get_managed(session: Session, principal: Principal, consultation_id: int) -> Consultation:
    """A consultation this person manages. Others get 403, except that a draft stays unknown (404)
    to whoever is not in the back office at all."""
    consultation = session.get(Consultation, consultation_id)
    if consultation is None:
        raise ConsultationNotFound()
    decision = can(principal, Action.manage_consultations, scope_of(consultation))
    if not decision:
        if consultation.status == ConsultationStatus.draft and not (
                principal.is_admin or principal.has_role(Role.moderator)):
            raise ConsultationNotFound()
        raise Forbidden(decision.reason)
    return consultation


def _check_manage(principal: Principal, consultation: Consultation) -> None:
    decision = can(principal, Action.manage_consultations, scope_of(consultation))
    if not decision:
        raise Forbidden(decision.reason)


def _audit(session: Session, principal: Principal, consultation: Consultation, action: str, *, now: datetime,
           before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    audit.record(session, actor_id=principal.id, actor_label=principal.user.display_name or "", now=now,
                 action=action, target_type="consultation", target_id=consultation.id, before=before, after=after)


def publish(session: Session, principal: Principal, consultation: Consultation, *, now: datetime) -> Consultation:
    """A draft becomes public: listed on its axis, open to participation as its phases come."""
    _check_manage(principal, consultation)
    if consultation.status != ConsultationStatus.draft:
        raise WrongStatus(N_("Seul un brouillon peut être publié : cette consultation l’est déjà."))
    before = _snapshot(consultation)
    consultation.status = ConsultationStatus.published
    consultation.updated_at = now
    session.add(consultation)
    session.flush()
    _audit(session, principal, consultation, "consultation.published", now=now, before=before,
           after=_snapshot(consultation))
    return consultation


def archive(session: Session, principal: Principal, consultation: Consultation, *, now: datetime) -> Consultation:
    """A published consultation is archived: still readable, closed to participation."""
    _check_manage(principal, consultation)
    if consultation.status == ConsultationStatus.archived:
        raise WrongStatus(N_("Cette consultation est déjà archivée."))
    if consultation.status != ConsultationStatus.published:
        raise WrongStatus(N_("Un brouillon ne s’archive pas : seule une consultation publiée peut être archivée."))
    before = _snapshot(consultation)
    consultation.status = ConsultationStatus.archived
    consultation.updated_at = now
    session.add(consultation)
    session.flush()
    _audit(session, principal, consultation, "consultation.archived", now=now, before=before,
           after=_snapshot(consultation))
    return consultation


def _shift_in_paris(moment: datetime, days: int) -> datetime:
    local = moment.astimezone(PARIS)
    return (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=PARIS).astimezone(moment.tzinfo)


def copy_shift_days(consultation: Consultation, now: datetime) -> int:
    """By how many days a copy's dates move (whole weeks; 0 when the original starts late enough)."""
    late = now + COPY_LEAD_TIME - consultation.information_starts_at
    if late <= timedelta(0):
        return 0
    weeks = -(-late // timedelta(days=7))
    return 7 * weeks


def duplicate(session: Session, principal: Principal, consultation: Consultation, *, now: datetime) -> Consultation:
    """A new draft with the same texts, axis, scope, method and rules (see the module docstring for dates)."""
    _check_manage(principal, consultation)
    days = copy_shift_days(consultation, now)
    title = consultation.title[: 200 - len(COPY_SUFFIX)] + COPY_SUFFIX

    def moved(moment: datetime) -> datetime:
        return _shift_in_paris(moment, days)

    copy = Consultation(
        slug=_slug_for(session, title), title=title, summary=consultation.summary, body=consultation.body,
        easy_read_summary=consultation.easy_read_summary, easy_read_rules=consultation.easy_read_rules,
        axis_id=consultation.axis_id, scope_kind=consultation.scope_kind, scope_code=consultation.scope_code,
        information_starts_at=moved(consultation.information_starts_at),
        proposals_starts_at=moved(consultation.proposals_starts_at),
        voting_starts_at=moved(consultation.voting_starts_at),
        results_starts_at=moved(consultation.results_starts_at),
        follow_up_starts_at=moved(consultation.follow_up_starts_at),
        follow_up_ends_at=moved(consultation.follow_up_ends_at) if consultation.follow_up_ends_at else None,
        voting_method=consultation.voting_method, max_supports=consultation.max_supports,
        min_age=consultation.min_age, required_verification=consultation.required_verification,
        results_hidden_until_end=consultation.results_hidden_until_end,
        is_premoderated=consultation.is_premoderated, budget_total=consultation.budget_total,
        status=ConsultationStatus.draft, created_at=now, updated_at=now, created_by_id=principal.id,
    )
    session.add(copy)
    session.flush()
    _audit(session, principal, copy, "consultation.duplicated", now=now, before=None,
           after=_snapshot(copy) | {"copied_from": consultation.id, "days_shifted": days})
    return copy


_NEXT_START = {
    Phase.information: "proposals_starts_at", Phase.proposals: "voting_starts_at",
    Phase.voting: "results_starts_at", Phase.results: "follow_up_starts_at", Phase.follow_up: "follow_up_ends_at",
}


def closable_phase(consultation: Consultation, now: datetime) -> Phase | None:
    """The phase a moderator could close now, if any."""
    if consultation.status != ConsultationStatus.published:
        return None
    phase = phase_at(consultation, now)
    return phase if phase in _NEXT_START else None


def close_phase_early(session: Session, principal: Principal, consultation: Consultation, *, phase: Phase,
                      now: datetime) -> Consultation:
    """End the running phase now: the next one starts at once (the follow-up gets its end).
    `phase` is the one the moderator saw running, so that a page shown before the clock moved on
    cannot close the following phase by mistake."""
    _check_manage(principal, consultation)
    if consultation.status != ConsultationStatus.published:
        raise CannotClosePhase(
            N_("Seule une consultation publiée a des phases à clore ; modifiez les dates d’un brouillon."))
    running = phase_at(consultation, now)
    if running != phase or running not in _NEXT_START:
        raise CannotClosePhase(N_("Cette phase n’est pas en cours : elle ne peut pas être close."))
    field = _NEXT_START[running]
    starts = consultation.phase_starts()
    follow_up_ends_at = consultation.follow_up_ends_at
    if running == Phase.follow_up:
        follow_up_ends_at = now
    else:
        starts[PHASES_IN_ORDER[PHASES_IN_ORDER.index(running) + 1]] = now
    try:
        check_phases(starts, follow_up_ends_at)
    except InvalidConsultation as error:
        raise CannotClosePhase(error.message) from error
    before = _snapshot(consultation)
    setattr(consultation, field, now)
    consultation.updated_at = now
    session.add(consultation)
    session.flush()
    _audit(session, principal, consultation, "consultation.phase_closed", now=now, before=before,
           after=_snapshot(consultation) | {"closed_phase": running.value})
    return consultation


def scope_choices(session: Session) -> tuple[list[Epci], list[Commune]]:
    """What a consultation can be open to, for the back office's form: EPCIs (signatories first), communes by name."""
    epcis = list(session.exec(select(Epci).order_by(col(Epci.is_signatory).desc(), col(Epci.name))))
    communes = list(session.exec(select(Commune).order_by(col(Commune.search_name), col(Commune.insee_code))))
    return epcis, communes


def history(session: Session, principal: Principal, consultation: Consultation) -> list[Any]:
    """The audit entries of this consultation, oldest first (for those who manage it)."""
    _check_manage(principal, consultation)
    return audit.entries_for(session, target_type="consultation", target_id=consultation.id)
