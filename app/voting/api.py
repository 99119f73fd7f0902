"""/api/v1: supports (voting method `support`)."""

from fastapi import APIRouter
from pydantic import BaseModel

from app.accounts.deps import CurrentPrincipal, RateLimiterDep, limit_writes
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.proposals import service as proposals
from app.voting import service

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
    proposal = proposals.get(session, proposal_id, principal=principal)
    state = service.add_support(session, principal, proposal, now=now)
    session.commit()
    return _out(state)


@router.delete("/proposals/{proposal_id}/support", response_model=SupportOut,
               summary="Withdraw a support (voting phase only; idempotent)")
def withdraw_support(proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                     limiter: RateLimiterDep) -> SupportOut:
    limit_writes(limiter, principal, "vote")
    proposal = proposals.get(session, proposal_id, principal=principal)
    state = service.withdraw_support(session, principal, proposal, now=now)
    session.commit()
    return _out(state)
