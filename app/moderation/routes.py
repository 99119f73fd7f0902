"""Pages of the moderation domain: reporting a proposal or a comment (the form sits under each
item of the proposal page; without JavaScript a refused report comes back on a page of its own),
and the moderators' queue under /gestion/moderation: reported items and proposals awaiting
approval, each with its forms (hide with a reason, restore, approve), a bulk form whose
checkboxes sit on the items (the `form` attribute: no JavaScript needed), and the page that bars
a participant for a while."""

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.accounts.deps import CurrentPrincipal, RateLimiterDep, limit_writes
from app.accounts.policy import Principal
from app.accounts.service import display_name_of
from app.consultations import service as consultations
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.errors import Conflict, NotFound
from app.core.i18n import gettext as _
from app.core.i18n import ngettext
from app.core.templating import format_day, render, wants_fragment
from app.moderation import service
from app.moderation.models import ReportReason
from app.proposals import service as proposals
from app.proposals.models import PUBLIC_STATES, Comment, CommentState, Proposal

router = APIRouter(include_in_schema=False)

TARGET_TYPES = ("proposal", "comment")


def _target(session: Session, principal: Principal, target_type: str, target_id: int) -> tuple[Proposal,
                                                                                               Comment | None]:
    """The reported item, which the person must be able to see, and the proposal it belongs to."""
    if target_type == "comment":
        comment = proposals.get_comment(session, target_id, principal=principal)
        return proposals.get(session, comment.proposal_id, principal=principal), comment
    if target_type == "proposal":
        return proposals.get(session, target_id, principal=principal), None
    raise NotFound()


def _report_page(request: Request, session: Session, principal: Principal, *, target_type: str, target_id: int,
                 status_code: int = 200, reason: str = "", text: str = "", error: str | None = None) -> HTMLResponse:
    proposal, comment = _target(session, principal, target_type, target_id)
    template = "moderation/_report_form.html" if wants_fragment(request) else "moderation/report.html"
    return render(request, template, status_code=status_code, proposal=proposal, comment=comment,
                  target_type=target_type, target_id=target_id, reason=reason, text=text, error=error,
                  reasons=[r.value for r in ReportReason])


@router.get("/signalements", response_class=HTMLResponse, name="moderation:report")
def report_page(request: Request, session: SessionDep, principal: CurrentPrincipal,
                target_type: Annotated[str, Query(alias="type", max_length=10)] = "proposal",
                target_id: Annotated[int, Query(alias="id", ge=1)] = 1) -> HTMLResponse:
    return _report_page(request, session, principal, target_type=target_type, target_id=target_id)


@router.post("/signalements", response_class=HTMLResponse)
def report(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal, limiter: RateLimiterDep,
           target_type: Annotated[str, Form(max_length=10)] = "",
           target_id: Annotated[int, Form(ge=1)] = 1,
           reason: Annotated[str, Form(max_length=20)] = "",
           text: Annotated[str, Form(max_length=service.MAX_TEXT * 2)] = "") -> Response:
    proposal, comment = _target(session, principal, target_type, target_id)
    try:
        if reason not in {r.value for r in ReportReason}:
            raise service.InvalidReport()
        limit_writes(limiter, principal, "report")
        service.report(session, principal, target_type=target_type, target_id=target_id,
                       reason=ReportReason(reason), text=text, now=now,
                       threshold=request.app.state.settings.reports_to_hide)
    except (service.InvalidReport, service.AlreadyReported) as refusal:
        return _report_page(request, session, principal, target_type=target_type, target_id=target_id,
                            status_code=refusal.status_code, reason=reason, text=text, error=_(refusal.message))
    session.commit()
    thanks = _("Merci : votre signalement est enregistré. Un modérateur va l’examiner.")
    if wants_fragment(request):
        return render(request, "moderation/_report_done.html", target_type=target_type, target_id=target_id,
                      message=thanks)
    request.session["flash"] = {"message": thanks, "kind": "success"}
    session.refresh(proposal)
    if proposal.state not in PUBLIC_STATES:  # hidden by this report: its page is gone for the reporter
        consultation = consultations.get(session, proposal.consultation_id, principal=principal)
        return RedirectResponse(f"/consultations/{consultation.slug}", status_code=303)
    anchor = f"#comment-{comment.id}" if comment is not None and comment.state != CommentState.deleted else ""
    return RedirectResponse(f"/propositions/{proposal.id}{anchor}", status_code=303)


# --- the moderation queue (/gestion/moderation)

PARIS = ZoneInfo("Europe/Paris")
PER_PAGE = 20
TABS = {"signales": "reported", "attente": "pending", "masques": "hidden"}
PATH_TYPES = {"propositions": "proposal", "commentaires": "comment"}
QUEUE = "/gestion/moderation"


def _queue_url(tab: str, consultation: int | None, page: int = 1, anchor: str = "") -> str:
    query: dict[str, Any] = {"onglet": tab}
    if consultation:
        query["consultation"] = consultation
    if page > 1:
        query["page"] = page
    return f"{QUEUE}?{urlencode(query)}" + (f"#{anchor}" if anchor else "")


def _queue_page(request: Request, session: Session, principal: Principal, *, tab: str, consultation: int | None,
                page: int, status_code: int = 200, errors: dict[str, str] | None = None,
                typed: dict[str, str] | None = None, bulk_error: str | None = None, bulk_action: str = "",
                bulk_reason: str = "", checked: list[str] | None = None) -> HTMLResponse:
    choices = service.moderated_consultations(session, principal)
    if consultation is not None and not any(c.id == consultation for c in choices):
        consultation = None
    found = service.queue(session, principal, kind=TABS[tab], consultation_id=consultation, limit=PER_PAGE,
                          offset=(page - 1) * PER_PAGE)
    return render(
        request, "moderation/queue.html", status_code=status_code, active="backoffice", tab=tab,
        consultation_id=consultation, consultations=choices, found=found, page=page,
        page_count=max(1, -(-found.total // PER_PAGE)), base_url=_queue_url(tab, consultation),
        errors=errors or {}, typed=typed or {}, bulk_error=bulk_error, bulk_action=bulk_action,
        bulk_reason=bulk_reason, checked=set(checked or []), path_type={v: k for k, v in PATH_TYPES.items()},
    )


@router.get(QUEUE, response_class=HTMLResponse, name="moderation:queue")
def queue_page(request: Request, session: SessionDep, principal: CurrentPrincipal,
               onglet: Annotated[str, Query(max_length=10)] = "signales",
               consultation: Annotated[int | None, Query(ge=1)] = None,
               page: Annotated[int, Query(ge=1, le=10000)] = 1) -> HTMLResponse:
    tab = onglet if onglet in TABS else "signales"
    return _queue_page(request, session, principal, tab=tab, consultation=consultation, page=page)


RETURN_TO = re.compile(r"/propositions/\d{1,12}(#comment-\d{1,12})?")


def _back(request: Request, message: str, tab: str, consultation: str, kind: str = "success",
          back_to: str = "") -> RedirectResponse:
    """To the queue, or to the proposal page the form was on (`retour`, checked: a path of ours)."""
    request.session["flash"] = {"message": message, "kind": kind}
    if RETURN_TO.fullmatch(back_to):
        return RedirectResponse(back_to, status_code=303)
    consultation_id = int(consultation) if consultation.isdigit() else None
    return RedirectResponse(_queue_url(tab if tab in TABS else "signales", consultation_id), status_code=303)


def _path_type(path_type: str) -> str:
    if path_type not in PATH_TYPES:
        raise NotFound()
    return PATH_TYPES[path_type]


Tab = Annotated[str, Form(max_length=10)]
ConsultationField = Annotated[str, Form(max_length=12)]
BackTo = Annotated[str, Form(max_length=60)]


@router.post(QUEUE + "/{path_type}/{target_id}/masquer", response_class=HTMLResponse, name="moderation:hide")
def hide(request: Request, path_type: str, target_id: int, session: SessionDep, now: NowDep,
         principal: CurrentPrincipal, reason: Annotated[str, Form(max_length=service.MAX_REASON * 2)] = "",
         onglet: Tab = "signales", consultation: ConsultationField = "", retour: BackTo = "") -> Response:
    target_type = _path_type(path_type)
    try:
        found = service.hide(session, principal, target_type, target_id, reason=reason, now=now)
    except (service.ReasonRequired, service.CannotModerate) as refusal:
        session.rollback()
        if RETURN_TO.fullmatch(retour):  # from the proposal page: back there, saying why
            return _back(request, _(refusal.message), onglet, consultation, "error", retour)
        key = f"{target_type}:{target_id}"
        return _queue_page(request, session, principal, tab=onglet if onglet in TABS else "signales",
                           consultation=int(consultation) if consultation.isdigit() else None, page=1,
                           status_code=refusal.status_code, errors={key: _(refusal.message)}, typed={key: reason})
    session.commit()
    message = _("Le commentaire est masqué.") if found.comment is not None else _("La proposition est masquée.")
    return _back(request, message + " " + _("Son auteur ou son autrice en est averti, avec la raison."), onglet,
                 consultation, back_to=retour)


@router.post(QUEUE + "/{path_type}/{target_id}/retablir", response_class=HTMLResponse, name="moderation:restore")
def restore(request: Request, path_type: str, target_id: int, session: SessionDep, now: NowDep,
            principal: CurrentPrincipal, onglet: Tab = "signales", consultation: ConsultationField = "",
            retour: BackTo = "") -> Response:
    try:
        found = service.restore(session, principal, _path_type(path_type), target_id, now=now)
    except service.CannotModerate as refusal:
        session.rollback()
        return _back(request, _(refusal.message), onglet, consultation, "error", retour)
    session.commit()
    item = found.comment if found.comment is not None else found.proposal
    message = _("Le contenu est visible : ses signalements sont classés.")
    if found.comment is None and item.state in ("pending",):
        message = _("La proposition reste en attente de relecture : ses signalements sont classés.")
    return _back(request, message, onglet, consultation, back_to=retour)


@router.post(QUEUE + "/{path_type}/{target_id}/approuver", response_class=HTMLResponse, name="moderation:approve")
def approve(request: Request, path_type: str, target_id: int, session: SessionDep, now: NowDep,
            principal: CurrentPrincipal, onglet: Tab = "attente", consultation: ConsultationField = "") -> Response:
    try:
        service.approve(session, principal, _path_type(path_type), target_id, now=now)
    except service.CannotModerate as refusal:
        session.rollback()
        return _back(request, _(refusal.message), onglet, consultation, "error")
    session.commit()
    return _back(request, _("La proposition est publiée : son auteur ou son autrice en est averti."), onglet,
                 consultation)


@router.post(QUEUE + "/lot", response_class=HTMLResponse, name="moderation:bulk")
async def bulk(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> Response:
    """Several items at once; the checkboxes may carry any number of values (read from the form)."""
    form = await request.form()
    keys = [str(value)[:30] for value in form.getlist("items")][:200]
    action = str(form.get("action", ""))[:10]
    reason = str(form.get("reason", ""))[:service.MAX_REASON * 2]
    tab = str(form.get("onglet", "signales"))
    tab = tab if tab in TABS else "signales"
    consultation = str(form.get("consultation", ""))[:12]
    try:
        outcome = service.bulk(session, principal, action, keys, reason=reason, now=now)
    except (service.NothingSelected, service.ReasonRequired, service.CannotModerate) as refusal:
        session.rollback()
        message = _(refusal.message) if action in service.BULK_ACTIONS else _("Choisissez une décision.")
        return _queue_page(request, session, principal, tab=tab,
                           consultation=int(consultation) if consultation.isdigit() else None, page=1,
                           status_code=refusal.status_code if action in service.BULK_ACTIONS else 422,
                           bulk_error=message, bulk_action=action, bulk_reason=reason, checked=keys)
    session.commit()
    message = ngettext("%(num)d contenu traité.", "%(num)d contenus traités.", len(outcome.done)) % {
        "num": len(outcome.done)}
    if outcome.refused:
        message += " " + ngettext("%(num)d refusé :", "%(num)d refusés :", len(outcome.refused)) % {
            "num": len(outcome.refused)}
        message += " " + " ; ".join(f"{_item_in_words(key)} — {why}" for key, why in outcome.refused)
    return _back(request, message, tab, consultation, "warning" if outcome.refused else "success")


def _item_in_words(key: str) -> str:
    parsed = service.parse_key(key)
    if parsed is None:
        return _("contenu inconnu")
    if parsed[0] == "comment":
        return _("commentaire n° %(id)s", id=parsed[1])
    return _("proposition n° %(id)s", id=parsed[1])


# --- barring a participant


def _block_page(request: Request, session: Session, principal: Principal, user_id: int, now: datetime, *,
                status_code: int = 200, until: str = "", reason: str = "",
                errors: dict[str, list[str]] | None = None) -> HTMLResponse:
    person = service.blockable(session, principal, user_id)
    return render(request, "moderation/block.html", status_code=status_code, active="backoffice", person=person,
                  person_name=display_name_of(person), blocked=person.is_blocked(now), until=until, reason=reason,
                  errors=errors or {}, max_days=service.MAX_BLOCK_DAYS,
                  example=(now.astimezone(PARIS) + timedelta(days=7)).date())


BLOCK = QUEUE + "/personnes/{user_id}/blocage"


@router.get(BLOCK, response_class=HTMLResponse, name="moderation:block")
def block_page(request: Request, user_id: int, session: SessionDep, now: NowDep,
               principal: CurrentPrincipal) -> HTMLResponse:
    return _block_page(request, session, principal, user_id, now)


def _end_of(day: date) -> datetime:
    """A block "until the 14th included" ends at midnight, Paris time, as the 15th begins."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=PARIS)


@router.post(BLOCK, response_class=HTMLResponse)
def block(request: Request, user_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
          until: Annotated[str, Form(max_length=20)] = "",
          reason: Annotated[str, Form(max_length=service.MAX_REASON * 2)] = "") -> Response:
    errors: dict[str, list[str]] = {}
    try:
        day = date.fromisoformat(until.strip())
    except ValueError:
        errors["until"] = [_("Indiquez la date de fin du blocage (par exemple 2027-03-31).")]
    if not " ".join(reason.split()):
        errors["reason"] = [_("Indiquez la raison du blocage : elle sera montrée à la personne.")]
    if not errors:
        try:
            service.block(session, principal, user_id, until=_end_of(day), reason=reason, now=now)
        except service.InvalidBlock as refusal:
            session.rollback()
            errors[refusal.field] = [_(refusal.message)]
    if errors:
        return _block_page(request, session, principal, user_id, now, status_code=422, until=until, reason=reason,
                           errors=errors)
    session.commit()
    request.session["flash"] = {"message": _("La participation de cette personne est suspendue jusqu’au %(date)s "
                                             "inclus.", date=format_day(_end_of(day), end=True)), "kind": "success"}
    return RedirectResponse(BLOCK.format(user_id=user_id), status_code=303)


@router.post(QUEUE + "/personnes/{user_id}/deblocage", response_class=HTMLResponse, name="moderation:unblock")
def unblock(request: Request, user_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> Response:
    try:
        service.unblock(session, principal, user_id, now=now)
    except Conflict as refusal:
        session.rollback()
        request.session["flash"] = {"message": _(refusal.message), "kind": "info"}
    else:
        session.commit()
        request.session["flash"] = {"message": _("Cette personne peut de nouveau participer."), "kind": "success"}
    return RedirectResponse(BLOCK.format(user_id=user_id), status_code=303)
