"""/api/v1: official answers, merging duplicates, actions and their progress updates."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import Session, select

from app.accounts.deps import CurrentPrincipal, OptionalPrincipal, RateLimiterDep, limit_writes
from app.actions import evaluations, service
from app.actions.models import ActionUpdate, PublicAction
from app.actions.schemas import (
    ActionCreate,
    ActionDraft,
    ActionOut,
    ActionPage,
    ActionPatch,
    ActionSummary,
    ActionUpdateOut,
    AnswerIn,
    AnswerOut,
    EvaluationIn,
    EvaluationSummaryOut,
    MergeIn,
    MergeOut,
    UpdateDraft,
)
from app.consultations import service as consultations
from app.consultations.models import Consultation
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.moderation import merging
from app.proposals import service as proposals
from app.territory.models import Axis

router = APIRouter(prefix="/api/v1", tags=["actions"])


def _axis_number(session: Session, consultation_id: int) -> int:
    consultation = session.get(Consultation, consultation_id)
    assert consultation is not None
    axis = session.get(Axis, consultation.axis_id)
    assert axis is not None
    return axis.number


def _summary(item: PublicAction, axis_number: int) -> ActionSummary:
    return ActionSummary(
        id=item.id or 0, consultation_id=item.consultation_id, axis_number=axis_number, title=item.title,
        owner=item.owner, budget=item.budget, planned_start=item.planned_start, planned_end=item.planned_end,
        status=item.status, progress=item.progress, updated_at=item.updated_at,
    )


def _update_out(entry: ActionUpdate) -> ActionUpdateOut:
    return ActionUpdateOut(id=entry.id or 0, occurred_on=entry.occurred_on, body=entry.body,
                           body_html=entry.body_html, status=entry.status, progress=entry.progress,
                           created_at=entry.created_at)


def action_out(session: Session, item: PublicAction) -> ActionOut:
    summary = _summary(item, _axis_number(session, item.consultation_id))
    return ActionOut(
        **summary.model_dump(), description=item.description, description_html=item.description_html,
        proposal_ids=[p.id or 0 for p in service.proposals_of(session, item)],
        updates=[_update_out(entry) for entry in service.updates_of(session, item)], created_at=item.created_at,
    )


@router.post("/proposals/{proposal_id}/answer", response_model=AnswerOut,
             summary="Official answer (moderators of its axis or consultation); accepting creates an action")
def answer_proposal(proposal_id: int, data: AnswerIn, session: SessionDep, now: NowDep,
                    principal: CurrentPrincipal) -> AnswerOut:
    proposal = proposals.get(session, proposal_id, principal=principal)
    result = service.answer(session, principal, proposal, state=data.state, text=data.answer, now=now,
                            action=data.action)
    session.commit()
    action_ids = service.action_ids_of(session, [proposal_id])
    assert proposal.answered_at is not None
    assert proposal.official_answer is not None
    return AnswerOut(proposal_id=proposal_id, state=proposal.state, official_answer=proposal.official_answer,
                     official_answer_html=service.answer_html(proposal), answered_at=proposal.answered_at,
                     action_id=result.action.id if result.action else (action_ids[0] if action_ids else None))


@router.post("/proposals/merge", response_model=MergeOut,
             summary="Merge duplicates into one proposal (moderators); supports carry over, once per resident")
def merge_proposals(data: MergeIn, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> MergeOut:
    result = merging.merge(session, principal, into=data.into, sources=data.from_, now=now)
    session.commit()
    return MergeOut(into=result.into.id or 0, merged=[p.id or 0 for p in result.merged],
                    supports=result.into.supports_count, moved=result.moved, dropped=result.dropped)


@router.get("/actions", response_model=ActionPage, summary="Actions of published consultations")
def list_actions(
    session: SessionDep,
    axis: Annotated[int | None, Query(ge=1, le=16, description="Axis number")] = None,
    status: Annotated[str | None, Query(pattern=r"^(planned|in_progress|done|abandoned)$")] = None,
    consultation: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ActionPage:
    axis_id = None
    if axis is not None:
        found = session.exec(select(Axis).where(Axis.number == axis)).first()
        axis_id = found.id if found else -1
    page = service.list_actions(session, axis_id=axis_id, status=status, consultation_id=consultation, limit=limit,
                                offset=offset)
    return ActionPage(items=[_summary(row.action, row.axis.number) for row in page.items], total=page.total)


@router.post("/actions", response_model=ActionOut, status_code=201,
             summary="Create an action (moderators of the consultation's axis or of the consultation)")
def create_action(data: ActionCreate, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> ActionOut:
    consultation = consultations.get(session, data.consultation_id, principal=principal)
    draft = ActionDraft.model_validate(data.model_dump(exclude={"consultation_id", "proposal_ids"}))
    item = service.create_action(session, principal, consultation, draft, data.proposal_ids, now=now)
    session.commit()
    return action_out(session, item)


@router.get("/actions/{action_id}", response_model=ActionOut)
def get_action(action_id: int, session: SessionDep, principal: OptionalPrincipal) -> ActionOut:
    return action_out(session, service.get_action(session, action_id, principal=principal))


@router.patch("/actions/{action_id}", response_model=ActionOut, summary="Edit an action (its moderators)")
def edit_action(action_id: int, patch: ActionPatch, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal) -> ActionOut:
    item = service.get_action(session, action_id, principal=principal)
    service.edit_action(session, principal, item, patch, now=now)
    session.commit()
    return action_out(session, item)


@router.post("/actions/{action_id}/updates", response_model=ActionUpdateOut, status_code=201,
             summary="A dated progress update; the action takes its status and progress")
def add_update(action_id: int, data: UpdateDraft, session: SessionDep, now: NowDep,
               principal: CurrentPrincipal) -> ActionUpdateOut:
    item = service.get_action(session, action_id, principal=principal)
    entry = service.add_update(session, principal, item, data, now=now)
    session.commit()
    return _update_out(entry)


def _evaluation_out(session: Session, item: PublicAction) -> EvaluationSummaryOut:
    found = evaluations.summary(session, item)
    return EvaluationSummaryOut(action_id=item.id or 0, count=found.count, average=found.average,
                                distribution={str(rating): n for rating, n in sorted(found.distribution.items())})


@router.get("/actions/{action_id}/evaluation", response_model=EvaluationSummaryOut,
            summary="Residents' evaluation of an action: count, average and distribution (never who rated)")
def get_evaluation(action_id: int, session: SessionDep, principal: OptionalPrincipal) -> EvaluationSummaryOut:
    return _evaluation_out(session, service.get_action(session, action_id, principal=principal))


@router.post("/actions/{action_id}/evaluation", response_model=EvaluationSummaryOut,
             summary="Rate an action 1-5 with an optional comment (eligible residents, follow-up phase); "
                     "201 for a first rating, 200 when it replaces the previous one",
             responses={201: {"model": EvaluationSummaryOut}, 403: {"description": "Not eligible"},
                        409: {"description": "evaluation-closed: outside the follow-up phase"},
                        422: {"description": "Invalid rating or comment"}})
def evaluate(action_id: int, data: EvaluationIn, response: Response, session: SessionDep, now: NowDep,
             principal: CurrentPrincipal, limiter: RateLimiterDep) -> EvaluationSummaryOut:
    item = service.get_action(session, action_id, principal=principal)
    first = evaluations.own_evaluation(session, principal, item) is None
    limit_writes(limiter, principal, "evaluation")
    evaluations.evaluate(session, principal, item, rating=data.rating, comment=data.comment, now=now)
    session.commit()
    response.status_code = 201 if first else 200
    return _evaluation_out(session, item)
