"""Pages of the proposals domain: a consultation with its proposals (filtered, sorted, paged), the
submission and edit forms with their preview, withdrawal, and comments.

The proposal page itself shows the support button, so app.voting.routes serves it. Every form
works without JavaScript; htmx only swaps fragments in place."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from app.accounts.deps import CurrentPrincipal, OptionalPrincipal, RateLimiterDep, limit_writes
from app.accounts.policy import Principal
from app.accounts.service import display_name_of
from app.consultations import service as consultations
from app.consultations.models import Consultation, VotingMethod
from app.consultations.phases import timeline
from app.consultations.policy import participation_block, phase_allows
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.i18n import N_
from app.core.i18n import gettext as _
from app.core.markdown import render_markdown
from app.core.templating import render, wants_fragment
from app.notifications import service as notifications
from app.notifications.models import FollowTarget
from app.proposals import service
from app.proposals.models import PUBLIC_STATES, Comment, CommentState, Proposal, ProposalState
from app.proposals.schemas import BODY_MAX, TITLE_MAX, CommentDraft, CommentPatch, ProposalDraft, ProposalPatch
from app.territory.models import Axis

router = APIRouter(include_in_schema=False)

PROPOSALS_PER_PAGE = 20
SORTS = ("random", "supports", "recent", "comments")
COMMENT_MAX = 3000
FIELD_ERRORS = {
    "title": N_("Le titre doit compter entre 10 et 150 caractères."),
    "body": N_("Le texte doit compter entre 15 et 5 000 caractères."),
    "commune": N_("Choisissez une commune dans la liste."),
    "estimated_cost": N_("Indiquez le coût en euros, en chiffres (par exemple 15000)."),
}
COMMENT_ERROR = N_("Le commentaire doit compter entre 2 et 3 000 caractères.")

Errors = dict[str, list[str]]
Parsed = TypeVar("Parsed", bound=BaseModel)


def _flash(request: Request, message: str, kind: str = "success") -> None:
    request.session["flash"] = {"message": message, "kind": kind}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _axis(session: Session, consultation: Consultation) -> Axis:
    axis = session.get(Axis, consultation.axis_id)
    assert axis is not None
    return axis


# --- the consultation page and its proposals


@router.get("/consultations/{slug}", response_class=HTMLResponse, name="proposals:consultation")
def consultation_page(
    request: Request, slug: str, session: SessionDep, now: NowDep, principal: OptionalPrincipal,
    version: Annotated[str, Query(max_length=10)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    commune: Annotated[str, Query(max_length=5)] = "",
    state: Annotated[str, Query(max_length=12)] = "",
    sort: Annotated[str, Query(max_length=10)] = "random",
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
    ordre: Annotated[int | None, Query(ge=1, le=2**31 - 2)] = None,
) -> HTMLResponse:
    consultation = consultations.get_by_slug(session, slug, principal=principal)
    results_visible = consultations.results_visible(consultation, now)
    communes = service.communes_of(session, consultation)
    commune = commune if any(c.insee_code == commune for c in communes) else ""
    state = state if state in {s.value for s in PUBLIC_STATES} else ""
    if sort not in SORTS or (sort == "supports" and not results_visible):
        sort = "random"
    # The shuffled order: the one in the page's links (`ordre`), so that it stays the same while
    # the visitor pages through; on arrival, the order of the moment (it changes every ten minutes).
    # Nothing is stored for it, so a visitor's page is the same as everyone's and can be cached.
    seed = ordre if ordre is not None else service.seed_of_the_moment(now)
    listing = service.list_proposals(
        session, consultation, q=q.strip(), commune=commune or None, state=state or None, sort=sort,
        seed=seed, limit=PROPOSALS_PER_PAGE, offset=(page - 1) * PROPOSALS_PER_PAGE,
    )
    filters = {"q": q.strip(), "commune": commune, "state": state, "sort": sort}
    if sort == "random":
        filters["ordre"] = str(seed)
    if version == "facile":
        filters["version"] = version
    phase = consultations.current_phase(consultation, now)
    eligibility = (
        consultations.check_eligibility(session, principal.user, consultation, now=now) if principal else None
    )
    return render(
        request, "consultations/show.html", fragment="proposals/_proposal_list.html",
        consultation=consultation, axis=_axis(session, consultation), phase=phase,
        timeline=timeline(consultation, now), scope_name=consultations.scope_name(session, consultation),
        body_html=render_markdown(consultation.body) if consultation.body else "",
        easy=version == "facile" and bool(consultation.easy_read_summary or consultation.easy_read_rules),
        principal=principal, eligibility=eligibility, results_visible=results_visible,
        can_propose=bool(phase_allows(consultation, "propose", now)) and (eligibility is None or bool(eligibility)),
        listing=listing, communes=communes, commune_names={c.insee_code: c.name for c in communes},
        filters=filters, page=page, page_count=max(1, -(-listing.total // PROPOSALS_PER_PAGE)),
        following=notifications.is_following(session, principal.id if principal else None,
                                             FollowTarget.consultation, consultation.id or 0),
    )


# --- submitting and editing


@dataclass
class ProposalForm:
    """What the person typed, kept as typed so that a refused form comes back unchanged."""

    title: str = ""
    body: str = ""
    commune: str = ""
    estimated_cost: str = ""

    @classmethod
    def of(cls, proposal: Proposal) -> "ProposalForm":
        cost = "" if proposal.estimated_cost is None else str(proposal.estimated_cost)
        return cls(proposal.title, proposal.body, proposal.commune_insee or "", cost)

    def parse(self, model: type[Parsed]) -> tuple[Parsed | None, Errors]:
        errors: Errors = {}
        cost: int | None = None
        raw_cost = "".join(ch for ch in self.estimated_cost if not ch.isspace()).removesuffix("€")
        if raw_cost:
            if raw_cost.isdigit():
                cost = int(raw_cost)
            else:
                errors["estimated_cost"] = [_(FIELD_ERRORS["estimated_cost"])]
        data = {"title": self.title, "body": self.body, "commune": self.commune or None, "estimated_cost": cost}
        try:
            parsed = model.model_validate(data)
        except ValidationError as error:
            for problem in error.errors():
                name = str(problem["loc"][0]) if problem["loc"] else "form"
                errors.setdefault(name, [_(FIELD_ERRORS.get(name, FIELD_ERRORS["title"]))])
            parsed = None
        ordered = {name: errors[name] for name in FIELD_ERRORS if name in errors}
        return (None, ordered) if ordered else (parsed, {})


def _form_context(session: Session, consultation: Consultation, **context: Any) -> dict[str, Any]:
    return {
        "consultation": consultation, "axis": _axis(session, consultation),
        "communes": consultations.communes_in_scope(session, consultation),
        "is_budget": consultation.voting_method == VotingMethod.budget,
        "title_max": TITLE_MAX, "body_max": BODY_MAX, **context,
    }


def _errors_of(error: service.InvalidProposal) -> Errors:
    return {error.field or "title": [_(error.message)]}


@router.get("/consultations/{slug}/proposer", response_class=HTMLResponse, name="proposals:new")
def new_page(request: Request, slug: str, session: SessionDep, now: NowDep,
             principal: CurrentPrincipal) -> HTMLResponse:
    consultation = consultations.get_by_slug(session, slug, principal=principal)
    context = _form_context(session, consultation, form=ProposalForm(), errors={}, preview_html=None)
    try:
        service.check_can_submit(session, principal, consultation, now=now)
    except (service.PhaseClosed, service.NotEligible) as refusal:
        return render(request, "proposals/new.html", status_code=refusal.status_code, refusal=_(refusal.message),
                      **context)
    return render(request, "proposals/new.html", refusal=None, **context)


@router.post("/consultations/{slug}/proposer", response_class=HTMLResponse)
def submit(request: Request, slug: str, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
           limiter: RateLimiterDep, title: Annotated[str, Form(max_length=TITLE_MAX * 2)] = "",
           body: Annotated[str, Form(max_length=BODY_MAX * 2)] = "", commune: Annotated[str, Form(max_length=5)] = "",
           estimated_cost: Annotated[str, Form(max_length=30)] = "",
           action: Annotated[str, Form(max_length=10)] = "submit") -> Response:
    consultation = consultations.get_by_slug(session, slug, principal=principal)
    form = ProposalForm(title, body, commune, estimated_cost)
    if action == "preview":  # the preview button without JavaScript: the same form, with the preview
        return render(request, "proposals/new.html", refusal=None, **_form_context(
            session, consultation, form=form, errors={}, preview_html=render_markdown(body)))
    draft, errors = form.parse(ProposalDraft)
    try:
        if draft is None:
            raise service.InvalidProposal()
        limit_writes(limiter, principal, "proposal")
        proposal = service.submit(session, principal, consultation, draft, now=now)
    except service.InvalidProposal as error:
        session.rollback()
        return render(request, "proposals/new.html", status_code=422, refusal=None, **_form_context(
            session, consultation, form=form, errors=errors or _errors_of(error), preview_html=None))
    except (service.PhaseClosed, service.NotEligible) as refusal:
        # The text stays in the browser's draft; the page says why it cannot be sent.
        return render(request, "proposals/new.html", status_code=refusal.status_code, refusal=_(refusal.message),
                      **_form_context(session, consultation, form=form, errors={}, preview_html=None))
    session.commit()
    if proposal.state == ProposalState.pending:
        _flash(request, _("Merci ! Votre proposition sera publiée dès qu’un modérateur l’aura relue."))
    else:
        _flash(request, _("Merci ! Votre proposition est publiée."))
    request.session["draft_clear"] = f"proposal-new-{consultation.slug}"
    return _redirect(f"/propositions/{proposal.id}")


@router.post("/apercu", response_class=HTMLResponse, name="proposals:preview")
def preview(request: Request, body: Annotated[str, Form(max_length=BODY_MAX * 2)] = "") -> HTMLResponse:
    """The Markdown as it will be shown, sanitised like a published text (for htmx)."""
    return render(request, "proposals/_preview.html", preview_html=render_markdown(body) if body.strip() else None)


def _editable(session: Session, principal: Principal, proposal_id: int, now: datetime) -> tuple[Proposal,
                                                                                                 Consultation]:
    proposal = service.get(session, proposal_id, principal=principal)
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    if principal.id != proposal.author_id:
        raise service.NotTheAuthor()
    blocked = participation_block(principal.user, now)
    if not blocked:
        raise service.NotEligible(blocked.reason)
    if not service.can_edit(principal, proposal, consultation, now):
        raise service.EditLocked()
    return proposal, consultation


@router.get("/propositions/{proposal_id}/modifier", response_class=HTMLResponse, name="proposals:edit")
def edit_page(request: Request, proposal_id: int, session: SessionDep, now: NowDep,
              principal: CurrentPrincipal) -> HTMLResponse:
    proposal, consultation = _editable(session, principal, proposal_id, now)
    return render(request, "proposals/edit.html", proposal=proposal, **_form_context(
        session, consultation, form=ProposalForm.of(proposal), errors={}, preview_html=None))


@router.post("/propositions/{proposal_id}/modifier", response_class=HTMLResponse)
def edit(request: Request, proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
         title: Annotated[str, Form(max_length=TITLE_MAX * 2)] = "",
         body: Annotated[str, Form(max_length=BODY_MAX * 2)] = "", commune: Annotated[str, Form(max_length=5)] = "",
         estimated_cost: Annotated[str, Form(max_length=30)] = "",
         action: Annotated[str, Form(max_length=10)] = "submit") -> Response:
    proposal, consultation = _editable(session, principal, proposal_id, now)
    form = ProposalForm(title, body, commune, estimated_cost)
    if action == "preview":
        return render(request, "proposals/edit.html", proposal=proposal, **_form_context(
            session, consultation, form=form, errors={}, preview_html=render_markdown(body)))
    patch, errors = form.parse(ProposalPatch)
    try:
        if patch is None:
            raise service.InvalidProposal()
        service.edit(session, principal, proposal, patch, now=now)
    except service.InvalidProposal as error:
        session.rollback()
        return render(request, "proposals/edit.html", status_code=422, proposal=proposal, **_form_context(
            session, consultation, form=form, errors=errors or _errors_of(error), preview_html=None))
    session.commit()
    _flash(request, _("Votre proposition est modifiée."))
    request.session["draft_clear"] = f"proposal-edit-{proposal.id}"
    return _redirect(f"/propositions/{proposal.id}")


# --- withdrawing


@router.get("/propositions/{proposal_id}/retirer", response_class=HTMLResponse, name="proposals:withdraw")
def withdraw_page(request: Request, proposal_id: int, session: SessionDep,
                  principal: CurrentPrincipal) -> Response:
    proposal = service.get(session, proposal_id, principal=principal)
    if principal.id != proposal.author_id:
        raise service.NotTheAuthor()
    if proposal.state == ProposalState.withdrawn:
        return _redirect(f"/propositions/{proposal.id}")
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    return render(request, "proposals/withdraw.html", proposal=proposal, consultation=consultation,
                  axis=_axis(session, consultation))


@router.post("/propositions/{proposal_id}/retirer")
def withdraw(request: Request, proposal_id: int, session: SessionDep, now: NowDep,
             principal: CurrentPrincipal) -> Response:
    proposal = service.get(session, proposal_id, principal=principal)
    service.withdraw(session, principal, proposal, now=now)
    session.commit()
    _flash(request, _("Votre proposition est retirée. Elle reste visible, marquée comme retirée ; "
                      "ses soutiens ne comptent plus."))
    return _redirect(f"/propositions/{proposal.id}")


# --- comments


def _find_node(nodes: list[service.CommentNode], comment_id: int | None) -> service.CommentNode | None:
    for node in nodes:
        if node.comment.id == comment_id:
            return node
        found = _find_node(node.replies, comment_id)
        if found is not None:
            return found
    return None


def _comment_context(principal: Principal | None, proposal: Proposal,
                     now: datetime | None = None) -> dict[str, Any]:
    """What a comment's fragment needs besides the comment: who is reading, and what they may do."""
    return {"proposal": proposal, "principal": principal, "comment_max": COMMENT_MAX,
            "can_comment": bool(service.can_comment(principal, proposal, now))}


def _comment_form_page(request: Request, session: Session, principal: Principal, proposal: Proposal, *,
                       status_code: int, body: str, errors: Errors, parent: Comment | None = None,
                       comment: Comment | None = None) -> HTMLResponse:
    """Without JavaScript, a refused comment comes back on a page of its own, as it was typed."""
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    return render(request, "proposals/comment_form.html", status_code=status_code, proposal=proposal,
                  consultation=consultation, axis=_axis(session, consultation), body=body, errors=errors,
                  parent=parent, comment=comment, comment_max=COMMENT_MAX)


@router.post("/propositions/{proposal_id}/commentaires", response_class=HTMLResponse, name="proposals:comment")
def add_comment(request: Request, proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                limiter: RateLimiterDep, body: Annotated[str, Form(max_length=COMMENT_MAX * 2)] = "",
                parent_id: Annotated[str, Form(max_length=12)] = "") -> Response:
    proposal = service.get(session, proposal_id, principal=principal)
    parent_key = int(parent_id) if parent_id.isdigit() else None
    parent = session.get(Comment, parent_key) if parent_key is not None else None
    context = _comment_context(principal, proposal, now)
    try:
        try:
            draft = CommentDraft(body=body, parent_id=parent_key)
        except ValidationError:
            raise service.InvalidProposal(COMMENT_ERROR, field="body") from None
        limit_writes(limiter, principal, "comment")
        comment = service.add_comment(session, principal, proposal, draft, now=now)
    except (service.InvalidProposal, service.CannotComment, service.CommentNotFound) as error:
        session.rollback()
        errors = {"body": [_(error.message)]}
        if wants_fragment(request):
            return render(request, "proposals/_comment_form.html", status_code=error.status_code, parent=parent,
                          body=body, errors=errors, **context)
        return _comment_form_page(request, session, principal, proposal, status_code=error.status_code, body=body,
                                  errors=errors, parent=parent)
    session.commit()
    if not wants_fragment(request):
        _flash(request, _("Votre commentaire est publié."))
        return _redirect(f"/propositions/{proposal.id}#comment-{comment.id}")
    node = service.CommentNode(comment, display_name_of(principal.user))
    session.refresh(proposal)
    return render(request, "proposals/_comment_added.html", node=node, parent=parent, body="", errors={},
                  **context)


def _own_comment(session: Session, principal: Principal, comment_id: int) -> tuple[Comment, Proposal]:
    comment = service.get_comment(session, comment_id, principal=principal)
    if comment.author_id != principal.id:
        raise service.NotTheAuthor()
    return comment, service.get(session, comment.proposal_id, principal=principal)


def _comment_fragment(request: Request, session: Session, principal: Principal, proposal: Proposal,
                      comment: Comment) -> HTMLResponse:
    thread = service.visible_thread(service.comment_tree(session, proposal, principal=principal))
    node = _find_node(thread, comment.id)
    response = render(request, "proposals/_comment.html", node=node, **_comment_context(principal, proposal))
    if node is None:  # deleted with no reply hanging on it: nothing keeps its place
        # (a deleted parent whose last reply this was stays until the page is reloaded)
        response.headers["HX-Reswap"] = "delete"
    return response


@router.get("/commentaires/{comment_id}/modifier", response_class=HTMLResponse, name="proposals:edit_comment")
def edit_comment_page(request: Request, comment_id: int, session: SessionDep,
                      principal: CurrentPrincipal) -> HTMLResponse:
    comment, proposal = _own_comment(session, principal, comment_id)
    if comment.state != CommentState.published:
        raise service.CannotComment(N_("Ce commentaire ne peut plus être modifié."))
    return _comment_form_page(request, session, principal, proposal, status_code=200, body=comment.body, errors={},
                              comment=comment)


@router.post("/commentaires/{comment_id}/modifier", response_class=HTMLResponse)
def edit_comment(request: Request, comment_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                 body: Annotated[str, Form(max_length=COMMENT_MAX * 2)] = "") -> Response:
    comment, proposal = _own_comment(session, principal, comment_id)
    try:
        try:
            patch = CommentPatch(body=body)
        except ValidationError:
            raise service.InvalidProposal(COMMENT_ERROR, field="body") from None
        service.edit_comment(session, principal, comment, patch, now=now)
    except (service.InvalidProposal, service.CannotComment) as error:
        session.rollback()
        errors = {"body": [_(error.message)]}
        if wants_fragment(request):
            return render(request, "proposals/_comment_edit_form.html", status_code=error.status_code,
                          comment=comment, body=body, errors=errors, **_comment_context(principal, proposal, now))
        return _comment_form_page(request, session, principal, proposal, status_code=error.status_code, body=body,
                                  errors=errors, comment=comment)
    session.commit()
    if not wants_fragment(request):
        _flash(request, _("Votre commentaire est modifié."))
        return _redirect(f"/propositions/{proposal.id}#comment-{comment.id}")
    return _comment_fragment(request, session, principal, proposal, comment)


@router.post("/commentaires/{comment_id}/supprimer", response_class=HTMLResponse, name="proposals:delete_comment")
def delete_comment(request: Request, comment_id: int, session: SessionDep, now: NowDep,
                   principal: CurrentPrincipal) -> Response:
    comment, proposal = _own_comment(session, principal, comment_id)
    service.delete_comment(session, principal, comment, now=now)
    session.commit()
    if not wants_fragment(request):
        _flash(request, _("Votre commentaire est supprimé."))
        return _redirect(f"/propositions/{proposal.id}#commentaires")
    return _comment_fragment(request, session, principal, proposal, comment)


# --- following a consultation or a proposal (notifications of what happens to it)


def _follow(request: Request, session: Session, principal: Principal, target: FollowTarget, target_id: int, *,
            follow: str, page: str, now: datetime) -> Response:
    if follow == "off":
        notifications.unfollow(session, principal.id, target, target_id)
    else:
        notifications.follow(session, principal.id, target, target_id, now=now)
    session.commit()
    following = follow != "off"
    if wants_fragment(request):
        return render(request, "notifications/_follow.html", follow_kind=target.value, follow_target_id=target_id,
                      follow_url=str(request.url.path), following=following)
    if target == FollowTarget.consultation:
        _flash(request, _("Vous suivez cette consultation.") if following else
               _("Vous ne suivez plus cette consultation."))
    else:
        _flash(request, _("Vous suivez cette proposition.") if following else
               _("Vous ne suivez plus cette proposition."))
    return _redirect(f"{page}#follow-{target.value}-{target_id}")


@router.post("/consultations/{slug}/suivre", response_class=HTMLResponse, name="proposals:follow_consultation")
def follow_consultation(request: Request, slug: str, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                        follow: Annotated[str, Form(max_length=10)] = "on") -> Response:
    consultation = consultations.get_by_slug(session, slug, principal=principal)
    return _follow(request, session, principal, FollowTarget.consultation, consultation.id or 0, follow=follow,
                   page=f"/consultations/{consultation.slug}", now=now)


@router.post("/propositions/{proposal_id}/suivre", response_class=HTMLResponse, name="proposals:follow")
def follow_proposal(request: Request, proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                    follow: Annotated[str, Form(max_length=10)] = "on") -> Response:
    proposal = service.get(session, proposal_id, principal=principal)
    return _follow(request, session, principal, FollowTarget.proposal, proposal.id or 0, follow=follow,
                   page=f"/propositions/{proposal.id}", now=now)

