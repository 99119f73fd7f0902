"""Pages of the voting domain: the proposal page (it carries the support button, so it is served
here, where both proposals and supports can be read) and the support button itself, a form that
htmx swaps in place and that works as a plain POST without JavaScript; the ballot page of
majority-judgment and budget consultations, and the results page of every consultation."""

from collections import Counter
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from app.accounts.deps import CurrentPrincipal, OptionalPrincipal, RateLimiterDep, limit_writes
from app.accounts.models import User
from app.accounts.policy import Principal
from app.accounts.service import display_name_of
from app.consultations import service as consultations
from app.consultations.models import Consultation, VotingMethod
from app.consultations.policy import phase_allows
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.core.errors import DomainError
from app.core.i18n import N_, get_locale, ngettext
from app.core.i18n import gettext as _
from app.core.templating import format_number, render, wants_fragment
from app.notifications import service as notifications
from app.notifications.models import FollowTarget
from app.proposals import service as proposals
from app.proposals.models import VISIBLE_STATES, Proposal
from app.proposals.schemas import BODY_MAX
from app.territory.models import Axis, Commune
from app.voting import ballots, results, service
from app.voting.methods.majority_judgment import GRADES

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
                   now: datetime, *, status_code: int = 200, support_error: str | None = None,
                   consultation: Consultation | None = None) -> HTMLResponse:
    if consultation is None:
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
        can_comment=bool(proposals.can_comment(principal, proposal, now)),
        comment_refusal=proposals.can_comment(principal, proposal, now).reason,
        comment_max=COMMENT_MAX, body_max=BODY_MAX,
        draft_clear=request.session.pop("draft_clear", None),
        following=notifications.is_following(session, principal.id if principal else None, FollowTarget.proposal,
                                             proposal.id or 0),
        **proposals.page_extras(session, proposal, principal),
        **support_context(session, principal, proposal, consultation, now, error=support_error),
    )


@router.get("/propositions/{proposal_id}", response_class=HTMLResponse, name="voting:proposal")
def proposal_page(request: Request, proposal_id: int, session: SessionDep, now: NowDep,
                  principal: OptionalPrincipal) -> HTMLResponse:
    try:
        proposal, consultation = proposals.get_with_consultation(session, proposal_id, principal=principal)
    except proposals.ProposalNotFound:
        if principal is None:
            raise
        # Hidden by moderation after this person supported it: nothing of it is shown, but they
        # may take their support back (it still counts against their limit).
        hidden = service.supported_proposal(session, principal, proposal_id)
        consultation = consultations.get(session, hidden.consultation_id, principal=principal)
        return render(request, "voting/hidden_supported.html", proposal_id=hidden.id, consultation=consultation,
                      axis=session.get(Axis, consultation.axis_id),
                      voting_open=bool(phase_allows(consultation, "vote", now)))
    return _proposal_page(request, session, principal, proposal, now, consultation=consultation)


@router.post("/propositions/{proposal_id}/soutien", response_class=HTMLResponse, name="voting:support")
def support(request: Request, proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
            limiter: RateLimiterDep, action: Annotated[str, Form(max_length=10)] = "add") -> Response:
    if action == "remove":  # a support on a proposal hidden since may be taken back, its page stays closed
        proposal = service.supported_proposal(session, principal, proposal_id)
    else:
        proposal = proposals.get(session, proposal_id, principal=principal)
    consultation_of = consultations.get(session, proposal.consultation_id, principal=principal)
    shown = proposals.can_see(principal, proposal, consultation_of)
    try:
        limit_writes(limiter, principal, "vote")
        if action == "remove":
            state = service.withdraw_support(session, principal, proposal, now=now)
        else:
            state = service.add_support(session, principal, proposal, now=now, consultation=consultation_of)
    except (service.NotEligible, service.VotingClosed, service.SupportLimitReached, service.NotSupportable,
            service.WrongMethod) as refusal:
        message = _(refusal.message)
        if not shown:
            raise
        if wants_fragment(request):
            consultation = consultations.get(session, proposal.consultation_id, principal=principal)
            return render(request, "voting/_support_button.html", status_code=refusal.status_code,
                          **support_context(session, principal, proposal, consultation, now, error=message))
        return _proposal_page(request, session, principal, proposal, now, status_code=refusal.status_code,
                              support_error=message)
    session.commit()
    if not shown:
        request.session["flash"] = {"message": _("Votre soutien à la proposition masquée par la modération est "
                                                 "retiré."), "kind": "success"}
        return RedirectResponse(f"/consultations/{consultation_of.slug}", status_code=303)
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


# --- ballots (majority judgment, participatory budget) and results

GRADE_NAMES = {
    "excellent": N_("Excellent"), "tres_bien": N_("Très bien"), "bien": N_("Bien"), "assez_bien": N_("Assez bien"),
    "passable": N_("Passable"), "insuffisant": N_("Insuffisant"), "a_rejeter": N_("À rejeter"),
}
assert tuple(GRADE_NAMES) == GRADES, "the grades, best first, as voting.methods has them"
CHART_WIDTH = 1000  # the charts' viewBox width: bars are drawn in thousandths
BALLOT_METHODS = (VotingMethod.majority_judgment, VotingMethod.budget)


async def _form_data(request: Request) -> FormData:
    """The whole form, for ballots whose field names carry proposal ids (grade-12, proposal=12)."""
    return await request.form()


FormDataDep = Annotated[FormData, Depends(_form_data)]


def _grade_names() -> dict[str, str]:
    return {grade: _(label) for grade, label in GRADE_NAMES.items()}


def _english_ordinal(rank: int) -> str:
    suffix = "th" if 10 <= rank % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    return f"{rank}{suffix}"


def rank_words(rank: int, tied: bool) -> str:
    """A rank in words: "1er", "2e" ("1st", "2nd" in English); a shared one says so: "1er ex æquo"."""
    if get_locale() == "en":  # English ordinals cannot come from one translated pattern
        return _("%(place)s ex æquo", place=_english_ordinal(rank)) if tied else _english_ordinal(rank)
    place = _("1er") if rank == 1 else _("%(rank)se", rank=rank)
    return _("%(place)s ex æquo", place=place) if tied else place


def _voting_refusal(session: Session, principal: Principal, consultation: Consultation,
                    now: datetime) -> DomainError | None:
    """Why this person cannot vote here now, as ballots.cast_ballot would say it; None if they can."""
    if consultation.voting_method not in BALLOT_METHODS:
        return ballots.WrongMethod()
    allowed = phase_allows(consultation, "vote", now)
    if not allowed:
        return ballots.VotingClosed(allowed.reason)
    eligible = consultations.check_eligibility(session, principal.user, consultation, now=now)
    if not eligible:
        return ballots.NotEligible(eligible.reason)
    return None


def _read_ballot(form: FormData, admitted: list[Proposal]) -> tuple[dict[int, str], list[int]]:
    """The grades (majority judgment) and the selection (budget) as sent, for the proposals on the
    ballot: a proposal hidden by moderation while the person filled the form is left out."""
    on_ballot = {p.id for p in admitted}
    grades: dict[int, str] = {}
    for name, value in form.multi_items():
        key = name.removeprefix("grade-")
        if key != name and key.isdigit() and int(key) in on_ballot and isinstance(value, str):
            grades[int(key)] = value
    selected = [int(value) for value in form.getlist("proposal")
                if isinstance(value, str) and value.isdigit() and int(value) in on_ballot]
    return grades, selected


def _euros(amount: int) -> str:
    return f"{amount:,}".replace(",", "\u202f")  # as ballots.cast_ballot writes it in its refusal


def _meter(consultation: Consultation, admitted: list[Proposal], selected: list[int]) -> dict[str, Any]:
    """The running total of a budget ballot, and what remains."""
    total = ballots.budget_total(admitted, selected)
    budget = consultation.budget_total or 0
    over = total > budget
    message = _("Votre sélection coûte %(total)s €, plus que le budget de %(budget)s € : retirez une proposition.",
                total=_euros(total), budget=_euros(budget)) if over else ""
    width = round(min(total, budget) / budget * CHART_WIDTH, 1) if budget else 0
    return {"total": total, "budget": budget, "left": max(budget - total, 0), "over": over, "message": message,
            "width": width}


def _ballot_page(request: Request, session: Session, principal: Principal, consultation: Consultation,
                 now: datetime, *, status_code: int = 200, refusal: DomainError | None = None,
                 given: dict[int, str] | None = None, selected: list[int] | None = None,
                 error_title: str | None = None, error_links: list[tuple[str, str]] | None = None,
                 missing: list[Proposal] | None = None) -> HTMLResponse:
    """The ballot, filled with what was sent, or else with the person's stored ballot."""
    admitted = ballots.admitted_proposals(session, consultation)
    stored = ballots.get_ballot(session, principal, consultation)
    if given is None:
        given = dict(stored.grades or {}) if stored else {}
    if selected is None:
        selected = list(stored.proposals or []) if stored else []
    return render(
        request, "voting/ballot.html", status_code=status_code, consultation=consultation,
        axis=session.get(Axis, consultation.axis_id), method=consultation.voting_method, proposals=admitted,
        grade_choices=list(_grade_names().items()), given=given, selected=set(selected), ballot=stored,
        refusal=_(refusal.message) if refusal else None, error_title=error_title, error_links=error_links or [],
        missing_ids={p.id for p in missing or []}, voting_ends=consultation.results_starts_at,
        meter=_meter(consultation, admitted, selected) if consultation.voting_method == VotingMethod.budget else None,
    )


def _to_ballot(request: Request, consultation: Consultation, message: str, kind: str = "success") -> RedirectResponse:
    request.session["flash"] = {"message": message, "kind": kind}
    return RedirectResponse(f"/consultations/{consultation.slug}/vote", status_code=303)


@router.get("/consultations/{slug}/vote", response_class=HTMLResponse, name="voting:ballot")
def ballot_page(request: Request, slug: str, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal) -> HTMLResponse:
    consultation = consultations.get_by_slug(session, slug, principal=principal)
    refusal = _voting_refusal(session, principal, consultation, now)
    return _ballot_page(request, session, principal, consultation, now, refusal=refusal,
                        status_code=refusal.status_code if refusal else 200)


@router.post("/consultations/{slug}/vote", response_class=HTMLResponse)
def cast_ballot(request: Request, slug: str, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                limiter: RateLimiterDep, form: FormDataDep) -> Response:
    """Cast or replace the ballot; `action=total` (the no-JavaScript "Calculer le total") only
    brings the budget ballot back with its total."""
    consultation = consultations.get_by_slug(session, slug, principal=principal)
    admitted = ballots.admitted_proposals(session, consultation)
    given, selected = _read_ballot(form, admitted)
    is_budget = consultation.voting_method == VotingMethod.budget
    if form.get("action") == "total" and is_budget:
        refusal = _voting_refusal(session, principal, consultation, now)
        return _ballot_page(request, session, principal, consultation, now, refusal=refusal, given=given,
                            selected=selected, status_code=refusal.status_code if refusal else 200)
    replacing = ballots.get_ballot(session, principal, consultation) is not None
    try:
        limit_writes(limiter, principal, "vote")
        ballots.cast_ballot(session, principal, consultation, grades=None if is_budget else given,
                            proposal_ids=selected if is_budget else None, now=now)
    except (ballots.InvalidBallot, ballots.OverBudget) as error:
        session.rollback()
        missing = [] if is_budget else [p for p in admitted if p.id not in given]
        links = [(_("« %(title)s » : choisissez une mention.", title=p.title), f"#proposal-{p.id}-grades")
                 for p in missing]
        if is_budget:
            links = [(_("Revoir votre sélection"), "#budget-choices")]
        return _ballot_page(request, session, principal, consultation, now, status_code=error.status_code,
                            given=given, selected=selected, error_title=_(error.message), error_links=links,
                            missing=missing)
    except (ballots.VotingClosed, ballots.NotEligible, ballots.WrongMethod) as refusal:
        session.rollback()
        return _ballot_page(request, session, principal, consultation, now, status_code=refusal.status_code,
                            refusal=refusal, given=given, selected=selected)
    session.commit()
    return _to_ballot(request, consultation,
                      _("Votre vote est modifié.") if replacing else _("Merci ! Votre vote est enregistré."))


@router.post("/consultations/{slug}/vote/total", response_class=HTMLResponse, name="voting:budget_total")
def budget_meter(request: Request, slug: str, session: SessionDep, principal: OptionalPrincipal,
                 form: FormDataDep) -> HTMLResponse:
    """The running total of a budget ballot, for htmx as the person ticks projects (nothing stored)."""
    consultation = consultations.get_by_slug(session, slug, principal=principal)
    if consultation.voting_method != VotingMethod.budget:
        raise ballots.WrongMethod()
    admitted = ballots.admitted_proposals(session, consultation)
    _grades, selected = _read_ballot(form, admitted)
    return render(request, "voting/_budget_meter.html", meter=_meter(consultation, admitted, selected))


@router.post("/consultations/{slug}/vote/retirer", response_class=HTMLResponse, name="voting:withdraw_ballot")
def withdraw_ballot(request: Request, slug: str, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                    limiter: RateLimiterDep) -> Response:
    consultation = consultations.get_by_slug(session, slug, principal=principal)
    try:
        limit_writes(limiter, principal, "vote")
        ballots.withdraw_ballot(session, principal, consultation, now=now)
    except ballots.NoBallot as nothing:
        session.rollback()
        return _to_ballot(request, consultation, _(nothing.message), "info")
    except (ballots.VotingClosed, ballots.NotEligible, ballots.WrongMethod) as refusal:
        session.rollback()
        return _ballot_page(request, session, principal, consultation, now, status_code=refusal.status_code,
                            refusal=refusal)
    session.commit()
    return _to_ballot(request, consultation, _("Votre bulletin est retiré : il ne compte plus. Vous pouvez voter "
                                               "de nouveau tant que le vote est ouvert."))


def _segments(item: dict[str, Any], names: dict[str, str]) -> list[dict[str, Any]]:
    """A majority-judgment proposal's grades as the stretches of its stacked bar, best first."""
    counts = [int(item.get("grades", {}).get(grade, 0)) for grade in GRADES]
    total = sum(counts)
    segments, x = [], 0.0
    for grade, count in zip(GRADES, counts, strict=True):
        width = count / total * CHART_WIDTH if total else 0.0
        percent = format_number(round(100 * count / total)) if total else "0"
        segments.append({"grade": grade, "label": names[grade], "count": count, "x": round(x, 1),
                         "width": round(width, 1), "percent": f"{percent}\u202f%"})
        x += width
    return segments


@router.get("/consultations/{slug}/resultats", response_class=HTMLResponse, name="voting:results")
def results_page(request: Request, slug: str, session: SessionDep, now: NowDep,
                 principal: OptionalPrincipal) -> HTMLResponse:
    consultation = consultations.get_by_slug(session, slug, principal=principal)
    axis = session.get(Axis, consultation.axis_id)
    can_see_early = consultations.can_manage(principal, consultation)
    try:
        found = results.get_results(session, consultation, now=now, can_see_early=can_see_early)
    except results.ResultsHidden as hidden:
        return render(request, "voting/results_hidden.html", status_code=hidden.status_code,
                      consultation=consultation, axis=axis, reason=_(hidden.message))
    session.commit()  # the snapshot, stored the first time results are asked for after the vote
    ids = [int(item["proposal_id"]) for item in found.items]
    found_proposals = session.exec(select(Proposal).where(col(Proposal.id).in_(ids))) if ids else []
    by_id = {p.id: p for p in found_proposals}
    shared = Counter(item["rank"] for item in found.items)
    names = _grade_names()
    most = max((int(item.get("supports", 0)) for item in found.items), default=0)
    lines = []
    for item in found.items:
        tied = shared[item["rank"]] > 1
        lines.append({
            "item": item, "proposal": by_id.get(item["proposal_id"]), "tied": tied,
            "rank_label": rank_words(item["rank"], tied),
            "segments": _segments(item, names) if found.method == VotingMethod.majority_judgment else [],
            "width": round(int(item.get("supports", 0)) / most * CHART_WIDTH, 1) if most else 0,
        })
    budget = None
    if found.method == VotingMethod.budget:
        total = found.budget_total or 0
        spent = sum(int(item["cost"]) for item in found.items if item.get("funded"))
        budget = {"total": total, "spent": spent, "left": total - spent,
                  "width": round(min(spent, total) / total * CHART_WIDTH, 1) if total else 0}
    acts = []
    if found.is_final:
        labels = {str(line["item"]["proposal_id"]): line["rank_label"] for line in lines}
        acts = [{"at": act.at, "action": act.action, "rank_label": labels.get(act.target_id)}
                for act in results.later_moderation_acts(session, consultation, since=found.computed_at)]
    return render(
        request, "voting/results.html", consultation=consultation, axis=axis, found=found, lines=lines,
        phase=consultations.current_phase(consultation, now), grade_choices=list(names.items()), grade_names=names,
        early=can_see_early and not results.visible(consultation, now), most_supports=most, budget=budget, acts=acts,
    )
