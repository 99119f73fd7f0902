"""Pages of the moderation domain: reporting a proposal or a comment (the form sits under each
item of the proposal page; without JavaScript a refused report comes back on a page of its own)."""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.accounts.deps import CurrentPrincipal, RateLimiterDep, limit_writes
from app.accounts.policy import Principal
from app.consultations import service as consultations
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.core.i18n import gettext as _
from app.core.templating import render, wants_fragment
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
