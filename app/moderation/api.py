"""/api/v1/reports: report a proposal or a comment; /api/v1/moderation: the moderation queue,
hiding, restoring and approving content, and barring a participant for a while (moderators,
within their scope)."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
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


# --- the moderation queue


class QueueReport(BaseModel):
    id: int
    reason: str
    text: str | None
    created_at: datetime


class QueueEntry(BaseModel):
    kind: Literal["reported", "pending", "hidden"]
    target_type: Literal["proposal", "comment"]
    target_id: int
    state: str
    moderation_reason: str | None
    proposal_id: int
    proposal_title: str
    consultation_id: int
    consultation_title: str
    author_id: int
    author: str
    title: str | None = Field(description="The proposal's title (proposals only)")
    body: str = Field(description="The text as written (Markdown)")
    since: datetime = Field(description="The oldest open report, when the proposal was submitted, or when the "
                                        "item was hidden")
    reports: list[QueueReport]
    url: str


class QueueOut(BaseModel):
    items: list[QueueEntry]
    reported: int
    pending: int
    hidden: int
    total: int
    limit: int
    offset: int


def _entry(item: service.QueueItem) -> QueueEntry:
    text = item.comment if item.comment is not None else item.proposal
    return QueueEntry(
        kind=item.kind, target_type=item.target_type, target_id=item.target_id,  # type: ignore[arg-type]
        state=item.state, moderation_reason=item.moderation_reason, proposal_id=item.proposal.id or 0,
        proposal_title=item.proposal.title, consultation_id=item.consultation.id or 0,
        consultation_title=item.consultation.title,
        author_id=item.comment.author_id if item.comment is not None else item.proposal.author_id,
        author=item.author_name, title=item.proposal.title if item.comment is None else None, body=text.body,
        since=item.since, url=item.url,
        reports=[QueueReport(id=r.id or 0, reason=r.reason, text=r.text, created_at=r.created_at)
                 for r in item.reports],
    )


@router.get("/moderation/queue", response_model=QueueOut, summary="The moderation queue, oldest first",
            description="Reported items with their open reports, and proposals awaiting approval (pre-moderated "
                        "consultations), within the moderator's scope; `kind=hidden` lists the hidden proposals "
                        "and comments instead, the last hidden first. 403 `/problems/not-moderator` for anyone "
                        "who moderates nowhere.")
def get_queue(session: SessionDep, principal: CurrentPrincipal,
              kind: Annotated[Literal["reported", "pending", "hidden"] | None, Query()] = None,
              consultation: Annotated[int | None, Query(ge=1)] = None,
              axis: Annotated[int | None, Query(ge=1)] = None,
              limit: Annotated[int, Query(ge=1, le=200)] = 50,
              offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> QueueOut:
    found = service.queue(session, principal, kind=kind, consultation_id=consultation, axis_id=axis, limit=limit,
                          offset=offset)
    return QueueOut(items=[_entry(item) for item in found.items], reported=found.reported, pending=found.pending,
                    hidden=found.hidden, total=found.total, limit=found.limit, offset=found.offset)


class HideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=service.MAX_REASON, description="Shown to the author")


class ModeratedOut(BaseModel):
    target_type: Literal["proposal", "comment"]
    target_id: int
    state: str
    moderation_reason: str | None


def _moderated(found: service.Target) -> ModeratedOut:
    item = found.comment if found.comment is not None else found.proposal
    return ModeratedOut(target_type=found.target_type, target_id=found.target_id,  # type: ignore[arg-type]
                        state=item.state, moderation_reason=item.moderation_reason)


TargetType = Literal["proposal", "comment"]
ERRORS = ("403 `/problems/not-moderator` outside the moderator's scope; 404 for an unknown item; "
          "409 `/problems/cannot-moderate`.")


@router.post("/moderation/{target_type}/{target_id}/hide", response_model=ModeratedOut,
             summary="Hide a proposal or a comment, with a reason shown to its author",
             description="Closes its open reports (`hidden`), notifies the author, leaves an audit entry. "
                         "422 `/problems/reason-required`; " + ERRORS)
def hide(target_type: TargetType, target_id: int, data: HideIn, session: SessionDep, now: NowDep,
         principal: CurrentPrincipal) -> ModeratedOut:
    found = service.hide(session, principal, target_type, target_id, reason=data.reason, now=now)
    session.commit()
    return _moderated(found)


@router.post("/moderation/{target_type}/{target_id}/restore", response_model=ModeratedOut,
             summary="Show a hidden item again, or keep a reported one visible",
             description="Closes its open reports (`restored`); " + ERRORS)
def restore(target_type: TargetType, target_id: int, session: SessionDep, now: NowDep,
            principal: CurrentPrincipal) -> ModeratedOut:
    found = service.restore(session, principal, target_type, target_id, now=now)
    session.commit()
    return _moderated(found)


@router.post("/moderation/{target_type}/{target_id}/approve", response_model=ModeratedOut,
             summary="Publish a proposal awaiting approval (pre-moderated consultations)",
             description="Closes its open reports (`approved`); " + ERRORS)
def approve(target_type: TargetType, target_id: int, session: SessionDep, now: NowDep,
            principal: CurrentPrincipal) -> ModeratedOut:
    found = service.approve(session, principal, target_type, target_id, now=now)
    session.commit()
    return _moderated(found)


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["hide", "restore", "approve"]
    items: list[str] = Field(min_length=1, max_length=200, description='"proposal:12", "comment:4"…')
    reason: str = Field(default="", max_length=service.MAX_REASON, description="Required to hide")


class BulkRefusal(BaseModel):
    item: str
    detail: str


class BulkOut(BaseModel):
    done: list[str]
    refused: list[BulkRefusal]


@router.post("/moderation/bulk", response_model=BulkOut, summary="The same decision on several items",
             description="Each item is checked, done and audited on its own; the refused ones say why.")
def bulk(data: BulkIn, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> BulkOut:
    outcome = service.bulk(session, principal, data.action, data.items, reason=data.reason, now=now)
    session.commit()
    return BulkOut(done=outcome.done, refused=[BulkRefusal(item=key, detail=why) for key, why in outcome.refused])


class BlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: datetime = Field(description="When the block ends (with a time zone), at most a year ahead")
    reason: str = Field(min_length=1, max_length=service.MAX_REASON, description="Shown to the person")


class BlockOut(BaseModel):
    user_id: int
    blocked_until: datetime | None
    reason: str | None


@router.post("/moderation/users/{user_id}/block", response_model=BlockOut,
             summary="Bar a person from participating until a date",
             description="Proposals, comments, supports and ballots are refused until then; sign-in, the account, "
                         "the data export and erasure still work. Moderators block people who wrote in a "
                         "consultation they moderate, admins anyone. 422 `/problems/invalid-block`.")
def block(user_id: int, data: BlockIn, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> BlockOut:
    user = service.block(session, principal, user_id, until=data.until, reason=data.reason, now=now)
    session.commit()
    return BlockOut(user_id=user.id or 0, blocked_until=user.participation_blocked_until,
                    reason=user.participation_block_reason)


@router.post("/moderation/users/{user_id}/unblock", response_model=BlockOut, summary="End a block early")
def unblock(user_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> BlockOut:
    user = service.unblock(session, principal, user_id, now=now)
    session.commit()
    return BlockOut(user_id=user.id or 0, blocked_until=None, reason=None)
