"""Pages of the consultations domain: an axis and its consultations (open ones first), filtered
by phase and scope. The consultation page itself lists proposals, so app.proposals.routes serves it.

Also the consultations' back office, under /gestion/consultations, for moderators (of an axis or
a consultation) and admins: the list, the create and edit forms, the preview, and the acts
(publish, duplicate, archive, close a phase early). Plain forms and POST-redirect-GET throughout."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session

from app.accounts.deps import CurrentPrincipal
from app.accounts.policy import Principal
from app.consultations import service
from app.consultations.models import Consultation, ConsultationStatus, Phase, ScopeKind
from app.consultations.phases import PhaseSpan, timeline
from app.consultations.schemas import ConsultationIn, ConsultationPatch
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.i18n import N_
from app.core.i18n import gettext as _
from app.core.markdown import render_markdown
from app.core.templating import render
from app.territory import service as territory
from app.territory.models import Axis

router = APIRouter(include_in_schema=False)

CONSULTATIONS_PER_PAGE = 12
PHASE_FILTERS = tuple(phase.value for phase in Phase)
SCOPE_FILTERS = tuple(kind.value for kind in ScopeKind)


@dataclass(frozen=True)
class ConsultationCard:
    consultation: Consultation
    phase: Phase
    current: PhaseSpan | None  # the running phase, None before the first and after the last
    scope_name: str


def card(session: Session, consultation: Consultation, now: datetime) -> ConsultationCard:
    spans = timeline(consultation, now)
    current = next((span for span in spans if span.state == "current"), None)
    return ConsultationCard(consultation, service.current_phase(consultation, now), current,
                            service.scope_name(session, consultation))


@router.get("/axes/{slug}", response_class=HTMLResponse, name="consultations:axis")
def axis_page(
    request: Request, slug: str, session: SessionDep, now: NowDep,
    phase: Annotated[str, Query(max_length=20)] = "",
    scope: Annotated[str, Query(max_length=10)] = "",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> HTMLResponse:
    axis = territory.get_axis(session, slug)
    axes = territory.list_axes(session)
    position = next(i for i, other in enumerate(axes) if other.id == axis.id)
    # Unknown filter values (an old or hand-made link) mean "all" rather than an error page.
    phase = phase if phase in PHASE_FILTERS else ""
    scope = scope if scope in SCOPE_FILTERS else ""
    listing = service.list_published(
        session, now=now, axis_id=axis.id, phase=Phase(phase) if phase else None, scope_kind=scope or None,
        limit=CONSULTATIONS_PER_PAGE, offset=(page - 1) * CONSULTATIONS_PER_PAGE,
    )
    page_count = max(1, -(-listing.total // CONSULTATIONS_PER_PAGE))
    return render(
        request, "territory/axis.html", fragment="consultations/_list.html",
        axis=axis, previous_axis=axes[position - 1] if position > 0 else None,
        next_axis=axes[position + 1] if position + 1 < len(axes) else None,
        cards=[card(session, consultation, now) for consultation in listing.items], total=listing.total,
        phase=phase, scope=scope, page=page, page_count=page_count,
        sections=service.axis_sections(session, axis.id or 0, now=now),
    )


# --- the back office: /gestion/consultations

MANAGED_PER_PAGE = 20
STATUS_FILTERS = tuple(status.value for status in ConsultationStatus)
DATE_FIELDS = ("information_starts_at", "proposals_starts_at", "voting_starts_at", "results_starts_at",
               "follow_up_starts_at", "follow_up_ends_at")
FORM_ERRORS = {
    "title": N_("Le titre doit compter entre 5 et 200 caractères."),
    "summary": N_("Le résumé doit compter entre 10 et 2 000 caractères."),
    "body": N_("Le texte doit compter au plus 20 000 caractères."),
    "easy_read_summary": N_("Le texte facile à lire doit compter au plus 4 000 caractères."),
    "easy_read_rules": N_("Les règles faciles à lire doivent compter au plus 4 000 caractères."),
    "axis": N_("Choisissez un axe dans la liste."),
    "scope_kind": N_("Choisissez à qui la consultation est ouverte."),
    "scope_epci": N_("Choisissez une intercommunalité dans la liste."),
    "scope_commune": N_("Choisissez une commune dans la liste."),
    "information_starts_at": N_("Indiquez la date et l’heure du début de l’information."),
    "proposals_starts_at": N_("Indiquez la date et l’heure du début des propositions."),
    "voting_starts_at": N_("Indiquez la date et l’heure du début du vote."),
    "results_starts_at": N_("Indiquez la date et l’heure de la publication des résultats."),
    "follow_up_starts_at": N_("Indiquez la date et l’heure du début du suivi."),
    "follow_up_ends_at": N_("Indiquez une date et une heure de fin du suivi, ou laissez vide."),
    "voting_method": N_("Choisissez une méthode de vote dans la liste."),
    "max_supports": N_("Indiquez un nombre entier entre 0 et 1 000 (0 : sans limite)."),
    "min_age": N_("Indiquez un âge entre 0 et 120 ans, ou laissez vide."),
    "required_verification": N_("Choisissez un niveau de vérification dans la liste."),
    "budget_total": N_("Indiquez le budget total en euros, en chiffres (par exemple 500000)."),
    "is_premoderated": N_("Choisissez quand les propositions sont publiées."),
}
_RULE_FIELDS = {"max_supports", "min_age", "required_verification", "results_hidden_until_end", "budget_total"}

Errors = dict[str, list[str]]


class ConsultationFormData(BaseModel):
    """The back office's form as sent: every field a string, kept as typed."""

    title: str = Field(default="", max_length=400)
    summary: str = Field(default="", max_length=4000)
    body: str = Field(default="", max_length=40000)
    easy_read_summary: str = Field(default="", max_length=8000)
    easy_read_rules: str = Field(default="", max_length=8000)
    axis: str = Field(default="", max_length=4)
    scope_kind: str = Field(default="basin", max_length=10)
    scope_epci: str = Field(default="", max_length=9)
    scope_commune: str = Field(default="", max_length=5)
    information_starts_at: str = Field(default="", max_length=30)
    proposals_starts_at: str = Field(default="", max_length=30)
    voting_starts_at: str = Field(default="", max_length=30)
    results_starts_at: str = Field(default="", max_length=30)
    follow_up_starts_at: str = Field(default="", max_length=30)
    follow_up_ends_at: str = Field(default="", max_length=30)
    voting_method: str = Field(default="support", max_length=20)
    max_supports: str = Field(default="0", max_length=10)
    min_age: str = Field(default="", max_length=10)
    required_verification: str = Field(default="declared", max_length=10)
    results_hidden_until_end: str = Field(default="", max_length=5)
    budget_total: str = Field(default="", max_length=20)
    is_premoderated: str = Field(default="", max_length=5)


def _local(moment: datetime | None) -> str:
    """A moment as a datetime-local field shows it: Paris wall-clock time, to the minute."""
    return "" if moment is None else moment.astimezone(service.PARIS).strftime("%Y-%m-%dT%H:%M")


def _parse_local(text: str) -> datetime | None:
    """What a datetime-local field sends, or what a browser without one lets people type (10/03/2027 09:00)."""
    text = " ".join(text.replace("h", ":").split())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        for pattern in ("%d/%m/%Y %H:%M", "%d/%m/%Y"):
            try:
                moment = datetime.strptime(text, pattern)  # Paris time, set below
                break
            except ValueError:
                continue
        else:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=service.PARIS)
    return moment


def _parse_int(text: str) -> int | str:
    """An integer typed with or without spaces or a euro sign; "" for an empty field; the text when it is not one."""
    cleaned = "".join(ch for ch in text if not ch.isspace()).removesuffix("€")
    if not cleaned:
        return ""
    return int(cleaned) if cleaned.isdigit() else text


def form_of(consultation: Consultation, axis: Axis) -> ConsultationFormData:
    return ConsultationFormData(
        title=consultation.title, summary=consultation.summary, body=consultation.body,
        easy_read_summary=consultation.easy_read_summary or "", easy_read_rules=consultation.easy_read_rules or "",
        axis=str(axis.number), scope_kind=consultation.scope_kind,
        scope_epci=consultation.scope_code or "" if consultation.scope_kind == ScopeKind.epci else "",
        scope_commune=consultation.scope_code or "" if consultation.scope_kind == ScopeKind.commune else "",
        **{name: _local(getattr(consultation, name)) for name in DATE_FIELDS},
        voting_method=consultation.voting_method, max_supports=str(consultation.max_supports),
        min_age="" if consultation.min_age is None else str(consultation.min_age),
        required_verification=consultation.required_verification,
        results_hidden_until_end="on" if consultation.results_hidden_until_end else "",
        budget_total="" if consultation.budget_total is None else str(consultation.budget_total),
        is_premoderated="yes" if consultation.is_premoderated else "no",
    )


def _error_field(form: ConsultationFormData, location: tuple[Any, ...]) -> str:
    """The form field behind a location in ConsultationIn."""
    parts = [str(part) for part in location]
    if not parts:
        return "title"
    if parts[0] == "scope":
        if len(parts) > 1 and parts[1] == "code":
            return "scope_commune" if form.scope_kind == ScopeKind.commune else "scope_epci"
        return "scope_kind"
    if parts[0] == "rules" and len(parts) > 1:
        return parts[1]
    if parts[0] == "phases":
        if len(parts) > 1 and parts[1] in {"information", "proposals", "voting", "results", "follow_up"}:
            return f"{parts[1]}_starts_at"
        return "information_starts_at"
    return parts[0] if parts[0] in FORM_ERRORS else "title"


def parse_form(form: ConsultationFormData, *, creating: bool,
               current: Consultation | None = None) -> tuple[dict[str, Any] | None, Errors]:
    """The fields as ConsultationIn wants them, or the errors by field (in the form's order). A date
    left as the form showed it keeps its exact value (the field shows minutes, the API may set seconds)."""
    errors: Errors = {}
    moments: dict[str, datetime | None] = {}
    for name in DATE_FIELDS:
        raw = getattr(form, name).strip()
        moments[name] = _parse_local(raw) if raw else None
        if current is not None and raw and raw == _local(getattr(current, name)):
            moments[name] = getattr(current, name)
        if (raw and moments[name] is None) or (not raw and name != "follow_up_ends_at"):
            errors[name] = [_(FORM_ERRORS[name])]
    numbers: dict[str, int | None] = {}
    for name in ("max_supports", "min_age", "budget_total"):
        value = _parse_int(getattr(form, name))
        if isinstance(value, str) and value:
            errors[name] = [_(FORM_ERRORS[name])]
            numbers[name] = None
        else:
            numbers[name] = value if isinstance(value, int) else None
    if not errors:
        starts = {phase: moments[f"{phase.value}_starts_at"] for phase in service.PHASES_IN_ORDER}
        try:
            service.check_phases(starts, moments["follow_up_ends_at"])  # type: ignore[arg-type]
        except service.InvalidConsultation as error:
            errors[error.field or "information_starts_at"] = [_(error.message)]
    if form.is_premoderated not in ("yes", "no"):
        errors["is_premoderated"] = [_(FORM_ERRORS["is_premoderated"])]
    scope_code = {"epci": form.scope_epci, "commune": form.scope_commune}.get(form.scope_kind, "")
    data: dict[str, Any] = {
        "title": form.title.strip(), "summary": form.summary.strip(), "body": form.body,
        "easy_read_summary": form.easy_read_summary.strip() or None,
        "easy_read_rules": form.easy_read_rules.strip() or None,
        "scope": {"kind": form.scope_kind, "code": scope_code or None},
        "phases": {phase.value: {"start": moments[f"{phase.value}_starts_at"]} for phase in service.PHASES_IN_ORDER},
        "voting_method": form.voting_method,
        "rules": {"max_supports": 0 if numbers["max_supports"] is None else numbers["max_supports"],
                  "min_age": numbers["min_age"], "required_verification": form.required_verification,
                  "results_hidden_until_end": bool(form.results_hidden_until_end),
                  "budget_total": numbers["budget_total"]},
        "is_premoderated": form.is_premoderated == "yes",
    }
    data["phases"]["follow_up"]["end"] = moments["follow_up_ends_at"]
    if creating:
        data["axis"] = int(form.axis) if form.axis.isdigit() else 0
    if form.scope_kind in (ScopeKind.epci, ScopeKind.commune) and not scope_code:
        name = _error_field(form, ("scope", "code"))
        errors.setdefault(name, [_(FORM_ERRORS[name])])
    try:
        (ConsultationIn if creating else ConsultationPatch).model_validate(data)
    except ValidationError as error:
        for problem in error.errors():
            name = _error_field(form, tuple(problem["loc"]))
            if name in DATE_FIELDS and name in errors:
                continue
            errors.setdefault(name, [_(FORM_ERRORS.get(name, FORM_ERRORS["title"]))])
    ordered = {name: errors[name] for name in ConsultationFormData.model_fields if name in errors}
    return (None, ordered) if ordered else (data, {})


def _flash(request: Request, message: str, kind: str = "success") -> None:
    request.session["flash"] = {"message": message, "kind": kind}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _manage_url(consultation: Consultation) -> str:
    return f"/gestion/consultations/{consultation.id}"


def _form_page(request: Request, session: Session, principal: Principal, *, template: str,
               form: ConsultationFormData, errors: Errors, status_code: int = 200, **context: Any) -> HTMLResponse:
    epcis, communes = service.scope_choices(session)
    return render(
        request, template, status_code=status_code, form=form, errors=errors, epcis=epcis, communes=communes,
        axes=service.axes_for_new_consultations(session, principal), **context,
    )


@router.get("/gestion/consultations", response_class=HTMLResponse, name="consultations:manage")
def manage_list(
    request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
    status: Annotated[str, Query(max_length=12)] = "",
    axis: Annotated[str, Query(max_length=4)] = "",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> HTMLResponse:
    service.check_back_office(principal)
    axes = territory.list_axes(session)
    status = status if status in STATUS_FILTERS else ""
    chosen = next((a for a in axes if str(a.number) == axis), None)
    listing = service.list_managed(session, principal, status=status or None,
                                   axis_id=chosen.id if chosen else None, limit=MANAGED_PER_PAGE,
                                   offset=(page - 1) * MANAGED_PER_PAGE)
    axis_by_id = {a.id: a for a in axes}
    return render(
        request, "consultations/admin/list.html",
        rows=[(c, axis_by_id[c.axis_id], service.current_phase(c, now)) for c in listing.items],
        total=listing.total, status=status, axis=str(chosen.number) if chosen else "", axes=axes,
        can_create=bool(service.axes_for_new_consultations(session, principal)),
        page=page, page_count=max(1, -(-listing.total // MANAGED_PER_PAGE)),
    )


@router.get("/gestion/consultations/nouvelle", response_class=HTMLResponse, name="consultations:new")
def new_consultation_page(request: Request, session: SessionDep, principal: CurrentPrincipal) -> HTMLResponse:
    service.check_back_office(principal)
    axes = service.axes_for_new_consultations(session, principal)
    form = ConsultationFormData(axis=str(axes[0].number) if len(axes) == 1 else "", is_premoderated="no")
    return _form_page(request, session, principal, template="consultations/admin/new.html", form=form, errors={})


@router.post("/gestion/consultations/nouvelle", response_class=HTMLResponse)
def create_consultation(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                        form: Annotated[ConsultationFormData, Form()]) -> Response:
    service.check_back_office(principal)
    data, errors = parse_form(form, creating=True)
    try:
        if data is None:
            raise service.InvalidConsultation()
        consultation = service.create(session, principal, ConsultationIn.model_validate(data), now=now)
    except service.InvalidConsultation as error:
        session.rollback()
        errors = errors or {error.field or "title": [_(error.message)]}
        return _form_page(request, session, principal, template="consultations/admin/new.html", form=form,
                          errors=errors, status_code=422)
    session.commit()
    _flash(request, _("La consultation est créée en brouillon : seuls ses modérateurs la voient."))
    return _see_other(_manage_url(consultation))


@router.get("/gestion/consultations/{consultation_id}", response_class=HTMLResponse, name="consultations:manage_one")
def manage_page(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal) -> HTMLResponse:
    consultation = service.get_managed(session, principal, consultation_id)
    axis = session.get(Axis, consultation.axis_id)
    return render(
        request, "consultations/admin/show.html", consultation=consultation, axis=axis,
        phase=service.current_phase(consultation, now), timeline=timeline(consultation, now),
        scope_name=service.scope_name(session, consultation),
        closable=service.closable_phase(consultation, now),
        entries=list(reversed(service.history(session, principal, consultation))),
    )


@router.get("/gestion/consultations/{consultation_id}/modifier", response_class=HTMLResponse,
            name="consultations:edit")
def edit_consultation_page(request: Request, consultation_id: int, session: SessionDep,
                           principal: CurrentPrincipal) -> HTMLResponse:
    consultation = service.get_managed(session, principal, consultation_id)
    axis = session.get(Axis, consultation.axis_id)
    assert axis is not None
    return _form_page(request, session, principal, template="consultations/admin/edit.html",
                      form=form_of(consultation, axis), errors={}, consultation=consultation, axis=axis)


@router.post("/gestion/consultations/{consultation_id}/modifier", response_class=HTMLResponse)
def edit_consultation(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                      principal: CurrentPrincipal, form: Annotated[ConsultationFormData, Form()]) -> Response:
    consultation = service.get_managed(session, principal, consultation_id)
    axis = session.get(Axis, consultation.axis_id)
    assert axis is not None
    form.axis = str(axis.number)  # the axis does not change once created
    data, errors = parse_form(form, creating=False, current=consultation)
    try:
        if data is None:
            raise service.InvalidConsultation()
        service.update(session, principal, consultation, ConsultationPatch.model_validate(data), now=now)
    except (service.InvalidConsultation, service.RulesFrozen) as error:
        session.rollback()
        consultation = service.get_managed(session, principal, consultation_id)
        field = getattr(error, "field", None) or ("voting_method" if isinstance(error, service.RulesFrozen)
                                                   else "title")
        errors = errors or {field: [_(error.message)]}
        return _form_page(request, session, principal, template="consultations/admin/edit.html", form=form,
                          errors=errors, status_code=422, consultation=consultation, axis=axis)
    session.commit()
    _flash(request, _("Les modifications sont enregistrées."))
    return _see_other(_manage_url(consultation))


@router.get("/gestion/consultations/{consultation_id}/apercu", response_class=HTMLResponse,
            name="consultations:preview")
def preview_consultation(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                         principal: CurrentPrincipal,
                         version: Annotated[str, Query(max_length=10)] = "") -> HTMLResponse:
    """The public page as it will look (its proposals and participation buttons left out), marked "aperçu"."""
    consultation = service.get_managed(session, principal, consultation_id)
    return render(
        request, "consultations/show.html", preview=True, preview_path=f"{_manage_url(consultation)}/apercu",
        consultation=consultation, axis=session.get(Axis, consultation.axis_id),
        phase=service.current_phase(consultation, now), timeline=timeline(consultation, now),
        scope_name=service.scope_name(session, consultation),
        body_html=render_markdown(consultation.body) if consultation.body else "",
        easy=version == "facile" and bool(consultation.easy_read_summary or consultation.easy_read_rules),
        principal=None, eligibility=None, results_visible=False, can_propose=False, filters={},
    )


@router.post("/gestion/consultations/{consultation_id}/publier", name="consultations:publish")
def publish_consultation(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                         principal: CurrentPrincipal) -> Response:
    consultation = service.get_managed(session, principal, consultation_id)
    service.publish(session, principal, consultation, now=now)
    session.commit()
    _flash(request, _("La consultation est publiée : elle apparaît sur la page de son axe."))
    return _see_other(_manage_url(consultation))


@router.post("/gestion/consultations/{consultation_id}/dupliquer", name="consultations:duplicate")
def duplicate_consultation(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                           principal: CurrentPrincipal) -> Response:
    consultation = service.get_managed(session, principal, consultation_id)
    copy = service.duplicate(session, principal, consultation, now=now)
    session.commit()
    _flash(request, _("La copie est créée en brouillon : vérifiez ses dates avant de la publier."))
    return _see_other(_manage_url(copy))


@router.get("/gestion/consultations/{consultation_id}/archiver", response_class=HTMLResponse,
            name="consultations:archive")
def archive_page(request: Request, consultation_id: int, session: SessionDep,
                 principal: CurrentPrincipal) -> HTMLResponse:
    consultation = service.get_managed(session, principal, consultation_id)
    return render(request, "consultations/admin/confirm.html", consultation=consultation, act="archive")


@router.post("/gestion/consultations/{consultation_id}/archiver")
def archive_consultation(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                         principal: CurrentPrincipal) -> Response:
    consultation = service.get_managed(session, principal, consultation_id)
    service.archive(session, principal, consultation, now=now)
    session.commit()
    _flash(request, _("La consultation est archivée : elle reste consultable, plus personne ne peut y participer."))
    return _see_other(_manage_url(consultation))


@router.get("/gestion/consultations/{consultation_id}/clore-la-phase", response_class=HTMLResponse,
            name="consultations:close_phase")
def close_phase_page(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                     principal: CurrentPrincipal) -> HTMLResponse:
    consultation = service.get_managed(session, principal, consultation_id)
    closable = service.closable_phase(consultation, now)
    if closable is None:
        raise service.CannotClosePhase(N_("Cette consultation n’a pas de phase en cours à clore."))
    return render(request, "consultations/admin/confirm.html", consultation=consultation, act="close_phase",
                  phase=closable)


@router.post("/gestion/consultations/{consultation_id}/clore-la-phase")
def close_phase(request: Request, consultation_id: int, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal, phase: Annotated[str, Form(max_length=20)] = "") -> Response:
    consultation = service.get_managed(session, principal, consultation_id)
    if phase not in {p.value for p in Phase}:
        raise service.CannotClosePhase(N_("Cette phase n’est pas en cours : elle ne peut pas être close."))
    service.close_phase_early(session, principal, consultation, phase=Phase(phase), now=now)
    session.commit()
    _flash(request, _("La phase est close : la suivante commence maintenant."))
    return _see_other(_manage_url(consultation))
