"""Pages of actions: the public list (/actions, filtered by axis and status) and each action's page
(/actions/{id}); in the back office, the official answer to a proposal (creating its action when it
is accepted), merging duplicates into a proposal, and creating, editing and updating actions.

Every form works without JavaScript (POST, then a redirect); a refused form comes back with what was
typed and each error beside its field."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from babel.dates import format_date
from babel.numbers import format_decimal
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from app.accounts.deps import CurrentPrincipal, OptionalPrincipal, RateLimiterDep, limit_writes
from app.accounts.models import User
from app.accounts.policy import Action, Principal, can
from app.accounts.service import display_name_of
from app.actions import evaluations, service
from app.actions.models import ActionEvaluation, ActionStatus, PublicAction
from app.actions.schemas import (
    ANSWER_MAX,
    DESCRIPTION_MAX,
    OWNER_MAX,
    TITLE_MAX,
    UPDATE_MAX,
    AcceptedAction,
    ActionDraft,
    ActionPatch,
    AnswerIn,
    UpdateDraft,
)
from app.consultations import service as consultations
from app.consultations.models import Consultation
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.errors import Forbidden
from app.core.i18n import N_, get_locale
from app.core.i18n import gettext as _
from app.core.ratelimit import TooManyRequests
from app.core.templating import render, wants_fragment
from app.moderation import merging
from app.proposals import service as proposals
from app.proposals.models import Proposal, ProposalState
from app.territory.models import Axis

router = APIRouter(include_in_schema=False)

ACTIONS_PER_PAGE = 20
FIELD_ERRORS = {
    "state": N_("Choisissez la réponse : à l’étude, retenue ou non retenue."),
    "answer": N_("La réponse doit compter entre 10 et 10 000 caractères."),
    "title": N_("Le titre de l’action doit compter entre 5 et 200 caractères."),
    "description": N_("La description compte au plus 10 000 caractères."),
    "owner": N_("Le service ou l’organisme responsable compte au plus 200 caractères."),
    "budget": N_("Indiquez le budget en euros, en chiffres (par exemple 15000)."),
    "planned_start": N_("Indiquez une date valide, par exemple 2027-04-01."),
    "planned_end": N_("Indiquez une date valide, qui ne précède pas le début prévu."),
    "proposals": N_("Choisissez des propositions retenues de cette consultation."),
    "occurred_on": N_("Indiquez une date valide, au plus tard aujourd’hui."),
    "body": N_("Le texte doit compter entre 10 et 5 000 caractères."),
    "status": N_("Choisissez l’état de l’action."),
    "progress": N_("Indiquez l’avancement en pour cent, un nombre entier de 0 à 100."),
    "sources": N_("Choisissez au moins une proposition à fusionner."),
}
STATUS_NAMES = {
    ActionStatus.planned: N_("Prévue"), ActionStatus.in_progress: N_("En cours"), ActionStatus.done: N_("Réalisée"),
    ActionStatus.abandoned: N_("Abandonnée"),
}
ANSWER_NAMES = {
    ProposalState.evaluating: N_("À l’étude"), ProposalState.accepted: N_("Retenue"),
    ProposalState.rejected: N_("Non retenue"),
}

Errors = dict[str, list[str]]
Parsed = TypeVar("Parsed", bound=BaseModel)
Text = Annotated[str, Form(max_length=ANSWER_MAX * 2)]
Short = Annotated[str, Form(max_length=TITLE_MAX * 2)]


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = {"message": message, "kind": "success"}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _error(name: str) -> list[str]:
    return [_(FIELD_ERRORS[name])]


def _number(raw: str, name: str, errors: Errors) -> int | None:
    cleaned = "".join(ch for ch in raw if not ch.isspace()).removesuffix("€").removesuffix("%")
    if not cleaned:
        return None
    if not cleaned.isdigit():
        errors[name] = _error(name)
        return None
    return int(cleaned)


def _day(raw: str, name: str, errors: Errors) -> date | None:
    if not raw.strip():
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        errors[name] = _error(name)
        return None


def _validate(model: type[Parsed], data: dict[str, Any], errors: Errors) -> Parsed | None:
    try:
        parsed = model.model_validate(data)
    except ValidationError as error:
        for problem in error.errors():
            name = str(problem["loc"][0]) if problem["loc"] else ""
            name = name if name in FIELD_ERRORS else "planned_end"  # the only check across fields: the dates
            errors.setdefault(name, _error(name))
        return None
    return None if errors else parsed


def _ordered(errors: Errors) -> Errors:
    return {name: errors[name] for name in FIELD_ERRORS if name in errors}


def day_words(value: date) -> str:
    """A day as the reader's language writes it ("1 avril 2027")."""
    return format_date(value, "long", locale=get_locale())


def _axis(session: Session, consultation: Consultation) -> Axis:
    axis = session.get(Axis, consultation.axis_id)
    assert axis is not None
    return axis


# --- the public pages


@router.get("/actions", response_class=HTMLResponse, name="actions:list")
def list_page(
    request: Request, session: SessionDep,
    axe: Annotated[str, Query(max_length=2)] = "",
    etat: Annotated[str, Query(max_length=12)] = "",
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
) -> HTMLResponse:
    axes = list(session.exec(select(Axis).order_by(col(Axis.number))))
    axis = next((a for a in axes if str(a.number) == axe), None)
    status = etat if etat in {s.value for s in ActionStatus} else ""
    listing = service.list_actions(session, axis_id=axis.id if axis else None, status=status or None,
                                   limit=ACTIONS_PER_PAGE, offset=(page - 1) * ACTIONS_PER_PAGE)
    query = urlencode({name: value for name, value in (("axe", axis.number if axis else ""), ("etat", status))
                       if value})
    return render(request, "actions/list.html", fragment="actions/_list.html", active="actions", axes=axes,
                  axis=axis, status=status, listing=listing, page=page, status_names=STATUS_NAMES,
                  page_count=max(1, -(-listing.total // ACTIONS_PER_PAGE)),
                  base_url="/actions" + (f"?{query}" if query else ""))


@router.get("/actions/{action_id}", response_class=HTMLResponse, name="actions:show")
def show_page(request: Request, action_id: int, session: SessionDep, now: NowDep, principal: OptionalPrincipal,
              avis: Annotated[int, Query(ge=1, le=10000)] = 1) -> HTMLResponse:
    item = service.get_action(session, action_id, principal=principal)
    return _show(request, session, principal, item, now=now, page=avis)


def _show(request: Request, session: Session, principal: Principal | None, item: PublicAction, *, now: datetime,
          page: int = 1, form: "EvaluationForm | None" = None, errors: Errors | None = None,
          refusal: str | None = None, status_code: int = 200) -> HTMLResponse:
    consultation = consultations.get(session, item.consultation_id, principal=principal)
    context = _evaluation_context(session, principal, item, consultation, now=now, page=page, form=form,
                                  errors=errors, refusal=refusal)
    return render(request, "actions/show.html", status_code=status_code, action=item, consultation=consultation,
                  axis=_axis(session, consultation), proposals=service.proposals_of(session, item),
                  updates=service.updates_of(session, item), can_manage=service.can_manage(principal, consultation),
                  status_names=STATUS_NAMES, day=day_words, principal=principal, **context)


# --- residents' evaluation of an action

RATING_NAMES = {
    1: N_("1 – très insatisfait"), 2: N_("2 – insatisfait"), 3: N_("3 – moyennement satisfait"),
    4: N_("4 – satisfait"), 5: N_("5 – très satisfait"),
}
EVALUATION_ERRORS = {
    "rating": evaluations.InvalidEvaluation.message,
    "comment": N_("Le commentaire compte au plus 2 000 caractères."),
}
COMMENTS_PER_PAGE = 20


@dataclass
class EvaluationForm:
    """What the resident chose and typed, kept as it was so that a refused form comes back unchanged."""

    rating: str = ""
    comment: str = ""

    @classmethod
    def of(cls, evaluation: ActionEvaluation | None) -> "EvaluationForm":
        if evaluation is None:
            return cls()
        return cls(str(evaluation.rating), evaluation.comment or "")

    def parse(self) -> tuple[int | None, Errors]:
        errors: Errors = {}
        rating = int(self.rating) if self.rating.strip() in {"1", "2", "3", "4", "5"} else None
        if rating is None:
            errors["rating"] = [_(EVALUATION_ERRORS["rating"])]
        if len(self.comment.strip()) > evaluations.MAX_COMMENT:
            errors["comment"] = [_(EVALUATION_ERRORS["comment"])]
        return (None if errors else rating), errors


def average_words(average: float | None) -> str:
    """"3,8 sur 5" (one decimal, as the reader's language writes it)."""
    if average is None:
        return ""
    figure = format_decimal(round(average, 1), format="0.0", locale=get_locale())
    return _("%(average)s sur 5", average=figure)


def _evaluation_context(session: Session, principal: Principal | None, item: PublicAction,
                        consultation: Consultation, *, now: datetime, page: int = 1,
                        form: EvaluationForm | None = None, errors: Errors | None = None,
                        refusal: str | None = None, done: str | None = None) -> dict[str, Any]:
    """What the evaluation section needs: the summary, the comments, and the form or why there is none."""
    summary = evaluations.summary(session, item)
    reason = evaluations.can_evaluate(session, principal, item, now=now)
    own = evaluations.own_evaluation(session, principal, item)
    comments = evaluations.public_comments(session, item, principal=principal, limit=COMMENTS_PER_PAGE + 1,
                                           offset=(page - 1) * COMMENTS_PER_PAGE)
    bars = [(rating, RATING_NAMES[rating], summary.distribution[rating],
             round(100 * summary.distribution[rating] / summary.count) if summary.count else 0)
            for rating in range(5, 0, -1)]
    return {
        "summary": summary, "average_text": average_words(summary.average), "bars": bars,
        "rating_names": RATING_NAMES, "evaluation_reason": _(reason) if reason else None,
        "evaluation_closed": reason == evaluations.EvaluationClosed.message, "own_evaluation": own,
        "evaluation_form": form or EvaluationForm.of(own), "evaluation_errors": errors or {},
        "evaluation_refusal": refusal, "evaluation_done": done, "comment_max": evaluations.MAX_COMMENT,
        "evaluation_comments": comments[:COMMENTS_PER_PAGE], "comments_page": page,
        "comments_more": len(comments) > COMMENTS_PER_PAGE,
        "can_moderate": bool(can(principal, Action.moderate_content, consultations.scope_of(consultation))),
        "rating_of": RATING_NAMES, "moment": _moment,
    }


def _moment(value: datetime) -> str:
    return format_date(value, "long", locale=get_locale())


def _evaluation_fragment(request: Request, session: Session, principal: Principal | None, item: PublicAction, *,
                         now: datetime, status_code: int = 200, **extra: Any) -> HTMLResponse:
    consultation = consultations.get(session, item.consultation_id, principal=principal)
    context = _evaluation_context(session, principal, item, consultation, now=now, **extra)
    return render(request, "actions/_evaluation.html", status_code=status_code, action=item, principal=principal,
                  **context)


@router.post("/actions/{action_id}/evaluation", response_class=HTMLResponse, name="actions:evaluate")
def evaluate(request: Request, action_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
             limiter: RateLimiterDep, rating: Annotated[str, Form(max_length=10)] = "",
             comment: Annotated[str, Form(max_length=evaluations.MAX_COMMENT * 2)] = "") -> Response:
    item = service.get_action(session, action_id, principal=principal)
    form = EvaluationForm(rating, comment)
    value, errors = form.parse()
    refusal: str | None = None
    status_code = 422
    try:
        if value is not None:
            limit_writes(limiter, principal, "evaluation")
            evaluations.evaluate(session, principal, item, rating=value, comment=comment, now=now)
    except evaluations.InvalidEvaluation as error:
        errors = {"rating": [_(error.message)]}
    except (evaluations.EvaluationClosed, Forbidden, TooManyRequests) as error:
        refusal, status_code = _(error.message), error.status_code
    if errors or refusal:
        session.rollback()
        if wants_fragment(request):
            return _evaluation_fragment(request, session, principal, item, now=now, status_code=status_code,
                                        form=form, errors=errors, refusal=refusal)
        return _show(request, session, principal, item, now=now, form=form, errors=errors, refusal=refusal,
                     status_code=status_code)
    session.commit()
    done = _("Merci : votre évaluation est enregistrée. Vous pouvez la modifier pendant toute la phase de suivi.")
    if wants_fragment(request):
        session.refresh(item)
        return _evaluation_fragment(request, session, principal, item, now=now, done=done)
    _flash(request, done)
    return _redirect(f"/actions/{item.id}#evaluation")


@router.post("/gestion/avis/{evaluation_id}/masquer", response_class=HTMLResponse, name="actions:hide_evaluation")
def hide_evaluation(request: Request, evaluation_id: int, session: SessionDep, now: NowDep,
                    principal: CurrentPrincipal) -> Response:
    return _set_visibility(request, session, principal, evaluation_id, hidden=True, now=now)


@router.post("/gestion/avis/{evaluation_id}/retablir", response_class=HTMLResponse,
             name="actions:restore_evaluation")
def restore_evaluation(request: Request, evaluation_id: int, session: SessionDep, now: NowDep,
                       principal: CurrentPrincipal) -> Response:
    return _set_visibility(request, session, principal, evaluation_id, hidden=False, now=now)


def _set_visibility(request: Request, session: Session, principal: Principal, evaluation_id: int, *, hidden: bool,
                    now: datetime) -> Response:
    evaluation = evaluations.get_evaluation(session, evaluation_id)
    evaluations.set_comment_visibility(session, principal, evaluation, hidden=hidden, now=now)
    session.commit()
    message = _("Le commentaire est masqué ; la note compte toujours.") if hidden else _(
        "Le commentaire est de nouveau visible.")
    if wants_fragment(request):
        return render(request, "actions/_evaluation_comment.html", evaluation=evaluation, can_moderate=True,
                      rating_of=RATING_NAMES, moment=_moment, notice=message)
    _flash(request, message)
    return _redirect(f"/actions/{evaluation.action_id}#avis-{evaluation.id}")


# --- official answers


@dataclass
class AnswerForm:
    """What the moderator typed, kept as typed so that a refused form comes back unchanged."""

    state: str = ""
    answer: str = ""
    title: str = ""
    owner: str = ""
    budget: str = ""
    planned_start: str = ""
    planned_end: str = ""

    def parse(self) -> tuple[AnswerIn | None, Errors]:
        errors: Errors = {}
        if self.state not in ANSWER_NAMES:
            errors["state"] = _error("state")
        action = None
        if self.state == ProposalState.accepted:
            fields = {"title": self.title.strip() or None, "owner": self.owner,
                      "budget": _number(self.budget, "budget", errors),
                      "planned_start": _day(self.planned_start, "planned_start", errors),
                      "planned_end": _day(self.planned_end, "planned_end", errors)}
            action = _validate(AcceptedAction, fields, errors)
        state = self.state if self.state in ANSWER_NAMES else "evaluating"  # its error is already noted
        parsed = _validate(AnswerIn, {"state": state, "answer": self.answer, "action": action}, errors)
        return (None, _ordered(errors)) if errors else (parsed, {})


def _answerable(session: Session, principal: Principal, proposal_id: int) -> tuple[Proposal, Consultation]:
    proposal = proposals.get(session, proposal_id, principal=principal)
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    if not service.can_answer(principal, consultation):
        raise Forbidden(N_("Seuls les modérateurs de cet axe ou de cette consultation peuvent faire cela."))
    return proposal, consultation


def _answer_page(request: Request, session: Session, proposal: Proposal, consultation: Consultation,
                 form: AnswerForm, errors: Errors, *, status_code: int = 200, refusal: str | None = None
                 ) -> HTMLResponse:
    return render(request, "actions/answer.html", status_code=status_code, proposal=proposal,
                  consultation=consultation, axis=_axis(session, consultation), form=form, errors=errors,
                  refusal=refusal, answer_names=ANSWER_NAMES, answer_max=ANSWER_MAX, title_max=TITLE_MAX,
                  owner_max=OWNER_MAX, actions=service.actions_of_proposal(session, proposal),
                  answerable=proposal.state in (ProposalState.published, *ANSWER_NAMES))


@router.get("/gestion/propositions/{proposal_id}/reponse", response_class=HTMLResponse, name="actions:answer")
def answer_page(request: Request, proposal_id: int, session: SessionDep, principal: CurrentPrincipal) -> HTMLResponse:
    proposal, consultation = _answerable(session, principal, proposal_id)
    cost = "" if proposal.estimated_cost is None else str(proposal.estimated_cost)
    form = AnswerForm(state=proposal.state if proposal.state in ANSWER_NAMES else "",
                      answer=proposal.official_answer or "", title=proposal.title, budget=cost)
    return _answer_page(request, session, proposal, consultation, form, {})


@router.post("/gestion/propositions/{proposal_id}/reponse", response_class=HTMLResponse)
def answer(request: Request, proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
           state: Short = "", answer: Text = "", title: Short = "", owner: Short = "", budget: Short = "",
           planned_start: Short = "", planned_end: Short = "") -> Response:
    proposal, consultation = _answerable(session, principal, proposal_id)
    form = AnswerForm(state, answer, title, owner, budget, planned_start, planned_end)
    data, errors = form.parse()
    if data is None:
        return _answer_page(request, session, proposal, consultation, form, errors, status_code=422)
    try:
        result = service.answer(session, principal, proposal, state=data.state, text=data.answer, now=now,
                                action=data.action)
    except (service.NotAnswerable, service.ActionAlreadyFollows) as refusal:
        session.rollback()
        return _answer_page(request, session, proposal, consultation, form, {}, status_code=refusal.status_code,
                            refusal=_(refusal.message))
    session.commit()
    if result.action is not None:
        _flash(request, _("La réponse est publiée et l’action « %(title)s » est créée. Ajoutez-y les étapes au fil "
                          "de leur réalisation.", title=result.action.title))
        return _redirect(f"/actions/{result.action.id}")
    _flash(request, _("La réponse officielle est publiée. Les personnes qui suivent la proposition sont prévenues."))
    return _redirect(f"/propositions/{proposal.id}")


# --- merging duplicates


def _merge_page(request: Request, session: Session, principal: Principal, proposal: Proposal, *,
                chosen: list[int], errors: Errors, status_code: int = 200, refusal: str | None = None) -> HTMLResponse:
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    merging.check_can_merge(principal, consultation)
    candidates = merging.candidates(session, proposal)
    authors = {u.id: display_name_of(u) for u in session.exec(
        select(User).where(col(User.id).in_([c.author_id for c in candidates])))}
    return render(request, "actions/merge.html", status_code=status_code, proposal=proposal,
                  consultation=consultation, axis=_axis(session, consultation), candidates=candidates,
                  authors=authors, chosen=chosen, errors=errors, refusal=refusal,
                  already=merging.merged_into_of(session, [proposal.id or 0]))


@router.get("/gestion/propositions/{proposal_id}/fusion", response_class=HTMLResponse, name="actions:merge")
def merge_page(request: Request, proposal_id: int, session: SessionDep, principal: CurrentPrincipal) -> HTMLResponse:
    proposal = proposals.get(session, proposal_id, principal=principal)
    return _merge_page(request, session, principal, proposal, chosen=[], errors={})


@router.post("/gestion/propositions/{proposal_id}/fusion", response_class=HTMLResponse)
def merge(request: Request, proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
          sources: Annotated[list[int], Form(max_length=50)] = []) -> Response:  # noqa: B006 (FastAPI copies it)
    proposal = proposals.get(session, proposal_id, principal=principal)
    if not sources:
        return _merge_page(request, session, principal, proposal, chosen=[], errors={"sources": _error("sources")},
                           status_code=422)
    try:
        result = merging.merge(session, principal, into=proposal.id or 0, sources=sources, now=now)
    except (merging.InvalidMerge, merging.NotMergeable, merging.BallotsCast) as refusal:
        session.rollback()
        return _merge_page(request, session, principal, proposal, chosen=sources, errors={},
                           status_code=refusal.status_code, refusal=_(refusal.message))
    session.commit()
    _flash(request, _("%(count)s proposition(s) fusionnée(s) dans celle-ci : %(moved)s soutien(s) repris, "
                      "%(dropped)s en double compté(s) une seule fois.", count=len(result.merged),
                      moved=result.moved, dropped=result.dropped))
    return _redirect(f"/propositions/{proposal.id}")


# --- creating, editing and updating actions


@dataclass
class ActionForm:
    title: str = ""
    description: str = ""
    owner: str = ""
    budget: str = ""
    planned_start: str = ""
    planned_end: str = ""

    @classmethod
    def of(cls, item: PublicAction) -> "ActionForm":
        return cls(item.title, item.description, item.owner, "" if item.budget is None else str(item.budget),
                   item.planned_start.isoformat() if item.planned_start else "",
                   item.planned_end.isoformat() if item.planned_end else "")

    def parse(self) -> tuple[ActionDraft | None, Errors]:
        errors: Errors = {}
        data = {"title": self.title, "description": self.description, "owner": self.owner,
                "budget": _number(self.budget, "budget", errors),
                "planned_start": _day(self.planned_start, "planned_start", errors),
                "planned_end": _day(self.planned_end, "planned_end", errors)}
        parsed = _validate(ActionDraft, data, errors)
        return (None, _ordered(errors)) if errors else (parsed, {})


def _managed(session: Session, principal: Principal, consultation: Consultation) -> None:
    if not service.can_manage(principal, consultation):
        raise Forbidden(N_("Seuls les modérateurs de cet axe ou de cette consultation peuvent faire cela."))


def _accepted_of(session: Session, consultation: Consultation) -> list[Proposal]:
    return list(session.exec(select(Proposal).where(Proposal.consultation_id == consultation.id,
                                                    Proposal.state == ProposalState.accepted)
                             .order_by(col(Proposal.title), col(Proposal.id))))


def _action_form_page(request: Request, session: Session, consultation: Consultation, form: ActionForm,
                      errors: Errors, *, item: PublicAction | None = None, chosen: list[int] | None = None,
                      status_code: int = 200) -> HTMLResponse:
    return render(request, "actions/form.html", status_code=status_code, consultation=consultation,
                  axis=_axis(session, consultation), form=form, errors=errors, action=item,
                  accepted=_accepted_of(session, consultation) if item is None else [], chosen=chosen or [],
                  title_max=TITLE_MAX, owner_max=OWNER_MAX, description_max=DESCRIPTION_MAX)


@router.get("/gestion/actions/nouvelle", response_class=HTMLResponse, name="actions:new")
def new_page(request: Request, session: SessionDep, principal: CurrentPrincipal,
             consultation: Annotated[int, Query(ge=1)]) -> HTMLResponse:
    found = consultations.get(session, consultation, principal=principal)
    _managed(session, principal, found)
    return _action_form_page(request, session, found, ActionForm(), {})


@router.post("/gestion/actions/nouvelle", response_class=HTMLResponse)
def create(request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
           consultation: Annotated[int, Form(ge=1)], title: Short = "", description: Text = "", owner: Short = "",
           budget: Short = "", planned_start: Short = "", planned_end: Short = "",
           proposals_ids: Annotated[list[int], Form(alias="proposals", max_length=50)] = []  # noqa: B006
           ) -> Response:
    found = consultations.get(session, consultation, principal=principal)
    _managed(session, principal, found)
    form = ActionForm(title, description, owner, budget, planned_start, planned_end)
    draft, errors = form.parse()
    try:
        if draft is None:
            raise service.InvalidAction()
        item = service.create_action(session, principal, found, draft, proposals_ids, now=now)
    except service.InvalidAction as error:
        session.rollback()
        return _action_form_page(request, session, found, form, errors or {error.field or "title": [_(error.message)]},
                                 chosen=proposals_ids, status_code=422)
    session.commit()
    _flash(request, _("L’action est créée."))
    return _redirect(f"/actions/{item.id}")


def _managed_action(session: Session, principal: Principal, action_id: int) -> tuple[PublicAction, Consultation]:
    item = service.get_action(session, action_id, principal=principal)
    consultation = consultations.get(session, item.consultation_id, principal=principal)
    _managed(session, principal, consultation)
    return item, consultation


@router.get("/gestion/actions/{action_id}/modifier", response_class=HTMLResponse, name="actions:edit")
def edit_page(request: Request, action_id: int, session: SessionDep, principal: CurrentPrincipal) -> HTMLResponse:
    item, consultation = _managed_action(session, principal, action_id)
    return _action_form_page(request, session, consultation, ActionForm.of(item), {}, item=item)


@router.post("/gestion/actions/{action_id}/modifier", response_class=HTMLResponse)
def edit(request: Request, action_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
         title: Short = "", description: Text = "", owner: Short = "", budget: Short = "", planned_start: Short = "",
         planned_end: Short = "") -> Response:
    item, consultation = _managed_action(session, principal, action_id)
    form = ActionForm(title, description, owner, budget, planned_start, planned_end)
    draft, errors = form.parse()
    try:
        if draft is None:
            raise service.InvalidAction()
        service.edit_action(session, principal, item, ActionPatch(**draft.model_dump()), now=now)
    except service.InvalidAction as error:
        session.rollback()
        return _action_form_page(request, session, consultation, form,
                                 errors or {error.field or "title": [_(error.message)]}, item=item, status_code=422)
    session.commit()
    _flash(request, _("L’action est modifiée."))
    return _redirect(f"/actions/{item.id}")


@dataclass
class UpdateForm:
    occurred_on: str = ""
    body: str = ""
    status: str = ""
    progress: str = ""

    def parse(self, today: date) -> tuple[UpdateDraft | None, Errors]:
        errors: Errors = {}
        occurred_on = _day(self.occurred_on, "occurred_on", errors)
        data = {"occurred_on": occurred_on, "body": self.body, "status": self.status,
                "progress": _number(self.progress, "progress", errors)}
        if occurred_on is None or occurred_on > today:
            errors.setdefault("occurred_on", _error("occurred_on"))
        if data["progress"] is None:
            errors.setdefault("progress", _error("progress"))
        parsed = _validate(UpdateDraft, data, errors)
        return (None, _ordered(errors)) if errors else (parsed, {})


def _update_page(request: Request, session: Session, item: PublicAction, consultation: Consultation, form: UpdateForm,
                 errors: Errors, *, status_code: int = 200) -> HTMLResponse:
    return render(request, "actions/update.html", status_code=status_code, action=item, consultation=consultation,
                  axis=_axis(session, consultation), form=form, errors=errors, status_names=STATUS_NAMES,
                  body_max=UPDATE_MAX)


@router.get("/gestion/actions/{action_id}/avancement", response_class=HTMLResponse, name="actions:update")
def update_page(request: Request, action_id: int, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal) -> HTMLResponse:
    item, consultation = _managed_action(session, principal, action_id)
    form = UpdateForm(service.today(now).isoformat(), "", item.status, str(item.progress))
    return _update_page(request, session, item, consultation, form, {})


@router.post("/gestion/actions/{action_id}/avancement", response_class=HTMLResponse)
def add_update(request: Request, action_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
               occurred_on: Short = "", body: Text = "", status: Short = "", progress: Short = "") -> Response:
    item, consultation = _managed_action(session, principal, action_id)
    form = UpdateForm(occurred_on, body, status, progress)
    draft, errors = form.parse(service.today(now))
    try:
        if draft is None:
            raise service.InvalidAction()
        service.add_update(session, principal, item, draft, now=now)
    except service.InvalidAction as error:
        session.rollback()
        return _update_page(request, session, item, consultation, form,
                            errors or {error.field or "body": [_(error.message)]}, status_code=422)
    session.commit()
    _flash(request, _("Le point d’étape est publié. Les personnes qui suivent l’action sont prévenues."))
    return _redirect(f"/actions/{item.id}#etapes")
