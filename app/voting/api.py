"""/api/v1: supports (voting method `support`), ballots (majority judgment, budget) and results."""

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from app.accounts.deps import CurrentPrincipal, OptionalPrincipal, RateLimiterDep, limit_writes
from app.consultations import service as consultations
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.proposals import service as proposals
from app.voting import ballots, results, service

router = APIRouter(prefix="/api/v1", tags=["voting"])


class SupportOut(BaseModel):
    supported: bool
    supports: int
    remaining: int | None  # supports left in this consultation; null: no limit


def _out(state: service.SupportState) -> SupportOut:
    return SupportOut(supported=state.supported, supports=state.supports, remaining=state.remaining)


@router.put("/proposals/{proposal_id}/support", response_model=SupportOut,
            summary="Support a proposal (idempotent)",
            description="403 `/problems/not-eligible`; 409 `/problems/voting-closed`, "
                        "`/problems/support-limit-reached`, `/problems/not-supportable`, `/problems/wrong-method`.")
def support(proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
            limiter: RateLimiterDep) -> SupportOut:
    limit_writes(limiter, principal, "vote")
    proposal, consultation = proposals.get_with_consultation(session, proposal_id, principal=principal)
    state = service.add_support(session, principal, proposal, now=now, consultation=consultation)
    session.commit()
    return _out(state)


@router.delete("/proposals/{proposal_id}/support", response_model=SupportOut,
               summary="Withdraw a support (voting phase only; idempotent)")
def withdraw_support(proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                     limiter: RateLimiterDep) -> SupportOut:
    limit_writes(limiter, principal, "vote")
    proposal = service.supported_proposal(session, principal, proposal_id)
    state = service.withdraw_support(session, principal, proposal, now=now)
    session.commit()
    return _out(state)


class BallotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grades: dict[int, Literal["excellent", "tres_bien", "bien", "assez_bien", "passable", "insuffisant",
                              "a_rejeter"]] | None = Field(default=None, description="Majority judgment")
    proposals: list[int] | None = Field(default=None, max_length=500, description="Participatory budget")


class BallotOut(BaseModel):
    method: str
    grades: dict[int, str] | None
    proposals: list[int] | None
    total_cost: int | None
    channel: str
    cast_at: datetime
    updated_at: datetime


class ResultsOut(BaseModel):
    method: str
    participants: int
    is_final: bool
    computed_at: datetime
    budget_total: int | None
    items: list[dict[str, Any]]


def _ballot_out(view: ballots.BallotView) -> BallotOut:
    return BallotOut(method=view.method, grades=view.grades, proposals=view.proposals, total_cost=view.total_cost,
                     channel=view.channel, cast_at=view.cast_at, updated_at=view.updated_at)


@router.put("/consultations/{consultation_id}/ballot", response_model=BallotOut,
            summary="Cast or replace my ballot (majority judgment or budget)",
            description="Majority judgment: `{grades: {proposal_id: grade}}` grading every proposal on the ballot. "
                        "Budget: `{proposals: [ids]}` within the budget. 403 `/problems/not-eligible`; "
                        "409 `/problems/voting-closed`; 422 `/problems/invalid-ballot`, `/problems/over-budget`.")
def put_ballot(consultation_id: int, data: BallotIn, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
               limiter: RateLimiterDep) -> BallotOut:
    limit_writes(limiter, principal, "vote")
    consultation = consultations.get(session, consultation_id, principal=principal)
    view = ballots.cast_ballot(session, principal, consultation, grades=data.grades, proposal_ids=data.proposals,
                               now=now)
    session.commit()
    return _ballot_out(view)


@router.get("/consultations/{consultation_id}/ballot", response_model=BallotOut, summary="My ballot")
def get_ballot(consultation_id: int, session: SessionDep, principal: CurrentPrincipal) -> BallotOut:
    consultation = consultations.get(session, consultation_id, principal=principal)
    view = ballots.get_ballot(session, principal, consultation)
    if view is None:
        raise ballots.NoBallot()
    return _ballot_out(view)


@router.delete("/consultations/{consultation_id}/ballot", status_code=204,
               summary="Withdraw my ballot (voting phase only)")
def delete_ballot(consultation_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                  limiter: RateLimiterDep) -> Response:
    limit_writes(limiter, principal, "vote")
    consultation = consultations.get(session, consultation_id, principal=principal)
    ballots.withdraw_ballot(session, principal, consultation, now=now)
    session.commit()
    return Response(status_code=204)


@router.get("/consultations/{consultation_id}/results", response_model=ResultsOut,
            summary="Results: ranked proposals with their counts",
            description="Items carry `supports` (support), `grades` and `majority_grade` (majority judgment), "
                        "`votes`, `cost` and `funded` (budget). 403 `/problems/results-hidden` while the "
                        "consultation hides its results until the end of the vote.")
def get_results(consultation_id: int, session: SessionDep, now: NowDep, principal: OptionalPrincipal) -> ResultsOut:
    consultation = consultations.get(session, consultation_id, principal=principal)
    found = results.get_results(session, consultation, now=now,
                                can_see_early=consultations.can_manage(principal, consultation))
    session.commit()  # the snapshot, stored the first time results are asked for after the vote
    return ResultsOut(method=found.method, participants=found.participants, is_final=found.is_final,
                      computed_at=found.computed_at, budget_total=found.budget_total, items=found.items)
