"""/api/v1: proposals of a consultation, and their comments."""

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import Session

from app.accounts.deps import CurrentPrincipal, OptionalPrincipal, RateLimiterDep, limit_writes
from app.accounts.models import User
from app.accounts.service import display_name_of
from app.consultations import service as consultations
from app.core.clock import NowDep
from app.core.db import SessionDep
from app.proposals import service
from app.proposals.models import Comment, CommentState, Proposal
from app.proposals.schemas import (
    CommentDraft,
    CommentOut,
    CommentPatch,
    ProposalDraft,
    ProposalOut,
    ProposalPage,
    ProposalPatch,
    ProposalSummary,
)

router = APIRouter(prefix="/api/v1", tags=["proposals"])


def proposal_out(session: Session, proposal: Proposal) -> ProposalOut:
    assert proposal.id is not None
    return ProposalOut(
        id=proposal.id, consultation_id=proposal.consultation_id, title=proposal.title,
        author=display_name_of(session.get(User, proposal.author_id)), commune_insee=proposal.commune_insee,
        state=proposal.state, supports=proposal.supports_count, comments=proposal.comments_count,
        created_at=proposal.created_at, body=proposal.body, body_html=proposal.body_html,
        estimated_cost=proposal.estimated_cost, official_answer=proposal.official_answer,
        answered_at=proposal.answered_at, merged_into_id=proposal.merged_into_id, updated_at=proposal.updated_at,
    )


def comment_out(comment: Comment, author_name: str | None) -> CommentOut:
    assert comment.id is not None
    shown = comment.state == CommentState.published
    return CommentOut(id=comment.id, proposal_id=comment.proposal_id, parent_id=comment.parent_id,
                      depth=comment.depth, author=author_name if shown else None,
                      body_html=comment.body_html if shown else None, state=comment.state,
                      created_at=comment.created_at, updated_at=comment.updated_at)


@router.get("/consultations/{consultation_id}/proposals", response_model=ProposalPage)
def list_proposals(
    consultation_id: int, session: SessionDep, principal: OptionalPrincipal,
    sort: Annotated[str, Query(pattern=r"^(random|supports|recent|comments)$")] = "random",
    seed: Annotated[int, Query(ge=0, le=2**31)] = 1,
    q: Annotated[str, Query(max_length=200)] = "",
    commune: Annotated[str | None, Query(pattern=r"^\d[\dAB]\d{3}$")] = None,
    state: Annotated[str | None, Query(pattern=r"^[a-z_]{1,12}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProposalPage:
    consultation = consultations.get(session, consultation_id, principal=principal)
    page = service.list_proposals(session, consultation, q=q, commune=commune, state=state, sort=sort, seed=seed,
                                  limit=limit, offset=offset)
    items = [
        ProposalSummary(id=row.proposal.id or 0, title=row.proposal.title, author=row.author_name,
                        commune_insee=row.proposal.commune_insee, state=row.proposal.state,
                        supports=row.proposal.supports_count, comments=row.proposal.comments_count,
                        created_at=row.proposal.created_at)
        for row in page.items
    ]
    return ProposalPage(items=items, total=page.total)


@router.post("/consultations/{consultation_id}/proposals", response_model=ProposalOut, status_code=201)
def submit_proposal(consultation_id: int, draft: ProposalDraft, session: SessionDep, now: NowDep,
                    principal: CurrentPrincipal, limiter: RateLimiterDep) -> ProposalOut:
    limit_writes(limiter, principal, "proposal")
    consultation = consultations.get(session, consultation_id, principal=principal)
    proposal = service.submit(session, principal, consultation, draft, now=now)
    session.commit()
    return proposal_out(session, proposal)


@router.get("/proposals/{proposal_id:int}", response_model=ProposalOut)
def get_proposal(proposal_id: int, session: SessionDep, principal: OptionalPrincipal) -> ProposalOut:
    return proposal_out(session, service.get(session, proposal_id, principal=principal))


@router.patch("/proposals/{proposal_id:int}", response_model=ProposalOut,
              summary="Edit (author, proposals phase, no vote yet)")
def edit_proposal(proposal_id: int, patch: ProposalPatch, session: SessionDep, now: NowDep,
                  principal: CurrentPrincipal) -> ProposalOut:
    proposal = service.get(session, proposal_id, principal=principal)
    service.edit(session, principal, proposal, patch, now=now)
    session.commit()
    return proposal_out(session, proposal)


@router.post("/proposals/{proposal_id}/withdraw", response_model=ProposalOut, summary="Withdraw (author, any time)")
def withdraw_proposal(proposal_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> ProposalOut:
    proposal = service.get(session, proposal_id, principal=principal)
    service.withdraw(session, principal, proposal, now=now)
    session.commit()
    return proposal_out(session, proposal)


@router.get("/proposals/{proposal_id}/comments", response_model=list[CommentOut],
            summary="Comments, oldest first, each after its parent")
def list_comments(proposal_id: int, session: SessionDep, principal: OptionalPrincipal) -> list[CommentOut]:
    proposal = service.get(session, proposal_id, principal=principal)
    flat: list[CommentOut] = []

    def walk(nodes: list[service.CommentNode]) -> None:
        for node in nodes:
            flat.append(comment_out(node.comment, node.author_name))
            walk(node.replies)

    walk(service.comment_tree(session, proposal, principal=principal))
    return flat


@router.post("/proposals/{proposal_id}/comments", response_model=CommentOut, status_code=201)
def add_comment(proposal_id: int, draft: CommentDraft, session: SessionDep, now: NowDep,
                principal: CurrentPrincipal, limiter: RateLimiterDep) -> CommentOut:
    limit_writes(limiter, principal, "comment")
    proposal = service.get(session, proposal_id, principal=principal)
    comment = service.add_comment(session, principal, proposal, draft, now=now)
    session.commit()
    return comment_out(comment, display_name_of(principal.user))


@router.patch("/comments/{comment_id}", response_model=CommentOut)
def edit_comment(comment_id: int, patch: CommentPatch, session: SessionDep, now: NowDep,
                 principal: CurrentPrincipal) -> CommentOut:
    comment = service.get_comment(session, comment_id, principal=principal)
    service.edit_comment(session, principal, comment, patch, now=now)
    session.commit()
    return comment_out(comment, display_name_of(principal.user))


@router.delete("/comments/{comment_id}", status_code=204)
def delete_comment(comment_id: int, session: SessionDep, now: NowDep, principal: CurrentPrincipal) -> Response:
    comment = service.get_comment(session, comment_id, principal=principal)
    service.delete_comment(session, principal, comment, now=now)
    session.commit()
    return Response(status_code=204)
