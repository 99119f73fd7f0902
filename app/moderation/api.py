"""/api/v1/reports: report a proposal or a comment."""

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from app.accounts.deps import CurrentPrincipal, RateLimiterDep, limit_writes
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.moderation import service
from app.moderation.models import ReportReason

router = APIRouter(prefix="/api/v1", tags=["moderation"])


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_type: Literal["proposal", "comment"]
    target_id: int = Field(ge=1)
    reason: ReportReason
    text: str | None = Field(default=None, max_length=1000)


class ReportOut(BaseModel):
    id: int
    target_type: str
    target_id: int
    reason: str


@router.post("/reports", response_model=ReportOut, status_code=201, summary="Report a proposal or a comment, once")
def create_report(data: ReportIn, request: Request, session: SessionDep, now: NowDep, principal: CurrentPrincipal,
                  limiter: RateLimiterDep) -> ReportOut:
    limit_writes(limiter, principal, "report")
    report = service.report(session, principal, target_type=data.target_type, target_id=data.target_id,
                            reason=data.reason, text=data.text, now=now,
                            threshold=request.app.state.settings.reports_to_hide)
    session.commit()
    return ReportOut(id=report.id or 0, target_type=report.target_type, target_id=data.target_id,
                     reason=report.reason)
