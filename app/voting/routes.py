"""Pages of the voting domain: the proposal page (it carries the support button, so it is served
here, where both proposals and supports can be read) and the support button itself, a form that
htmx swaps in place and that works as a plain POST without JavaScript."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from app.accounts.deps import CurrentPrincipal, OptionalPrincipal, RateLimiterDep, limit_writes
from app.accounts.models import User
from app.accounts.policy import Principal
from app.accounts.service import display_name_of
from app.consultations import service as consultations
from app.consultations.models import Consultation, VotingMethod
from app.consultations.policy import phase_allows
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.i18n import gettext as _
from app.core.i18n import ngettext
from app.core.templating import render, wants_fragment
from app.proposals import service as proposals
from app.proposals.models import VISIBLE_STATES, Proposal
from app.proposals.schemas import BODY_MAX
from app.territory.models import Axis, Commune
from app.voting import service

router = APIRouter(include_in_schema=False)

COMMENT_MAX = 3000


def support_context(session: Session, principal: Principal | None, proposal: Proposal, consultation: Consultation,
                    now: datetime, *, error: str | None = None) -> dict[str, Any]:
    """What the support button shows: the count, whether this person supports it, what they have left,
    and why they cannot vote when they cannot."""
    voting_open = consultation.voting_method == VotingMethod.support and bool(
        phase_allows(consultation, "vote", now)) and proposal.state in VISIBLE_STATES
    eligibility = (
        consultations.check_eligibility(session, principal.user, consultation, now=now)
        if principal is not None and voting_open else None
    )
    voter_id = principal.id if principal is not None else None
    return {
        "proposal": proposal, "consultation": consultation, "principal": principal,
        "voting_open": voting_open, "eligibility": eligibility,
        "supported": proposal.id in service.supported_ids(session, voter_id, [proposal.id or 0]),
        "remaining": service.remaining_supports(session, consultation, voter_id) if voter_id else None,
        "results_visible": consultations.results_visible(consultation, now), "support_error": error,
    }


def _proposal_page(request: Request, session: Session, principal: Principal | None, proposal: Proposal,
                   now: datetime, *, status_code: int = 200, support_error: str | None = None) -> HTMLResponse:
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    axis = session.get(Axis, consultation.axis_id)
    commune = session.get(Commune, proposal.commune_insee) if proposal.commune_insee else None
    is_author = principal is not None and principal.id == proposal.author_id
    return render(
        request, "proposals/show.html", status_code=status_code, axis=axis, commune=commune,
        author_name=display_name_of(session.get(User, proposal.author_id)), is_author=is_author,
        phase=consultations.current_phase(consultation, now),
        can_edit=proposals.can_edit(principal, proposal, consultation, now),
        comments=proposals.visible_thread(proposals.comment_tree(session, proposal, principal=principal)),
        can_comment=bool(proposals.can_comment(principal, proposal)),
        comment_refusal=proposals.can_comment(principal, proposal).reason,
        comment_max=COMMENT_MAX, body_max=BODY_MAX,
        draft_clear=request.session.pop("draft_clear", None),
        **support_context(session, principal, proposal, consultation, now, error=support_error),
    )


@router.get("/propositions/{proposal_id}", response_class=HTMLResponse, name="voting:proposal")
def proposal_page(request: Request, proposal_id: int, session: SessionDep, now: NowDep,
                  principal: OptionalPrincipal) -> HTMLResponse:
    proposal = proposals.get(session, proposal_id, principal=principal)
    return _proposal_page(request, session, principal, proposal, now)


@router.post("/propositions/{proposal_id}/soutien", response_class=HTMLResponse, name="voting:support")
def support(request: Request, proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
            limiter: RateLimiterDep, action: Annotated[str, Form(max_length=10)] = "add") -> Response:
    proposal = proposals.get(session, proposal_id, principal=principal)
    try:
        limit_writes(limiter, principal, "vote")
        if action == "remove":
            state = service.withdraw_support(session, principal, proposal, now=now)
        else:
            state = service.add_support(session, principal, proposal, now=now)
    except (service.NotEligible, service.VotingClosed, service.SupportLimitReached, service.NotSupportable,
            service.WrongMethod) as refusal:
        message = _(refusal.message)
        if wants_fragment(request):
            consultation = consultations.get(session, proposal.consultation_id, principal=principal)
            return render(request, "voting/_support_button.html", status_code=refusal.status_code,
                          **support_context(session, principal, proposal, consultation, now, error=message))
        return _proposal_page(request, session, principal, proposal, now, status_code=refusal.status_code,
                              support_error=message)
    session.commit()
    if wants_fragment(request):
        consultation = consultations.get(session, proposal.consultation_id, principal=principal)
        return render(request, "voting/_support_button.html", just_changed=True,
                      **support_context(session, principal, proposal, consultation, now))
    message = _("Votre soutien est enregistré.") if state.supported else _("Votre soutien est retiré.")
    if state.remaining is not None:
        message += " " + ngettext("Il vous reste %(num)d soutien.", "Il vous reste %(num)d soutiens.",
                                  state.remaining) % {"num": state.remaining}
    request.session["flash"] = {"message": message, "kind": "success"}
    return RedirectResponse(f"/propositions/{proposal.id}#proposal-{proposal.id}-support", status_code=303)
