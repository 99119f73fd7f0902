"""Merging duplicate proposals: the duplicates become `merged` into the one that stays, their
supports carry over, and a resident who supported several counts once.

Correct under concurrency (PostgreSQL): the merge locks the rows it changes, the proposals in the
order of their ids, then the participations of the residents whose duplicate support it drops, in
the order of their ids. Supports take the same locks in the same order (the proposal's row, then
the resident's participation: see app.voting.service), so they wait for a merge, or a merge waits
for them, and neither is lost nor counted twice: a support that waited for a duplicate finds it
merged and is refused; one that waited for the proposal that stays finds the carried-over support
and changes nothing. SQLite serialises writing transactions already (BEGIN IMMEDIATE)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from app.accounts.policy import Action, Principal, can
from app.audit import service as audit
from app.consultations import service as consultations
from app.consultations.models import Consultation, VotingMethod
from app.core.errors import Conflict, Forbidden
from app.core.i18n import N_
from app.notifications import service as notifications
from app.notifications.models import FollowTarget
from app.proposals import service as proposals
from app.proposals.models import VISIBLE_STATES, Proposal, ProposalState
from app.voting.models import Ballot, Participation, SupportVote


class InvalidMerge(Conflict):
    status_code = 422
    code = "invalid-merge"
    message = N_("Choisissez au moins une autre proposition de la même consultation à fusionner.")


class NotMergeable(Conflict):
    code = "not-mergeable"
    message = N_(
        "Seules les propositions publiées, à l’étude, retenues ou non retenues peuvent être fusionnées : "
        "l’une d’elles est en attente, masquée, retirée ou déjà fusionnée."
    )


class BallotsCast(Conflict):
    code = "ballots-cast"
    message = N_(
        "Des bulletins ont déjà été déposés dans cette consultation : chaque personne y a noté ou choisi "
        "ces propositions séparément, et une fusion changerait des votes déjà exprimés. "
        "Les propositions ne peuvent plus être fusionnées."
    )


MergeHook = Callable[[Session, Proposal, list[Proposal], datetime], None]
_merge_hooks: list[MergeHook] = []


def on_merge(hook: MergeHook) -> MergeHook:
    """Register what a domain above must do when proposals are merged (e.g. the actions of a
    duplicate also come from the proposal that stays). Runs in the merge's transaction."""
    _merge_hooks.append(hook)
    return hook


@dataclass
class MergeResult:
    into: Proposal
    merged: list[Proposal]
    moved: int = 0  # supports carried over to the proposal that stays
    dropped: int = 0  # duplicate supports of residents who already supported it
    voters_counted_once: list[int] = field(default_factory=list)


def check_can_merge(principal: Principal, consultation: Consultation) -> None:
    allowed = can(principal, Action.moderate_content, consultations.scope_of(consultation))
    if not allowed:
        raise Forbidden(allowed.reason)


def candidates(session: Session, into: Proposal) -> list[Proposal]:
    """The proposals that may be merged into this one: the others of its consultation still shown."""
    return list(session.exec(
        select(Proposal).where(Proposal.consultation_id == into.consultation_id, col(Proposal.id) != into.id,
                               col(Proposal.state).in_(VISIBLE_STATES))
        .order_by(col(Proposal.title), col(Proposal.id))
    ))


def merged_into_of(session: Session, proposal_ids: list[int]) -> list[Proposal]:
    """The proposals already merged into these ones (for the back office)."""
    if not proposal_ids:
        return []
    return list(session.exec(
        select(Proposal).where(col(Proposal.merged_into_id).in_(proposal_ids)).order_by(col(Proposal.id))
    ))


def _lock_proposals(session: Session, ids: list[int]) -> dict[int, Proposal]:
    """Lock the rows in the order of their ids (one order for every merge: no deadlock between two
    merges sharing proposals), then read them as committed."""
    locked = session.execute(
        select(Proposal.id).where(col(Proposal.id).in_(ids)).order_by(col(Proposal.id))
        .with_for_update(key_share=True)
    ).scalars().all()
    rows = {}
    for proposal_id in locked:
        proposal = session.get(Proposal, proposal_id)
        assert proposal is not None
        session.refresh(proposal)  # what the lock protects, not what this session read before it
        rows[proposal_id] = proposal
    return rows


def _refuse_after_ballots(session: Session, consultation: Consultation) -> None:
    """Ballots grade or choose each proposal separately: merging once one exists would change votes
    cast. The consultation's row is locked first, as the first ballot writes it (its first vote):
    a first ballot racing the merge is either seen here or cast after it, on the merged list."""
    if consultation.voting_method not in (VotingMethod.majority_judgment, VotingMethod.budget):
        return
    session.execute(
        select(Consultation.id).where(col(Consultation.id) == consultation.id).with_for_update(key_share=True)
    )
    if session.execute(select(Ballot.id).where(col(Ballot.consultation_id) == consultation.id).limit(1)).first():
        raise BallotsCast()


def merge(session: Session, principal: Principal, *, into: int, sources: list[int], now: datetime) -> MergeResult:
    """Merge the proposals `sources` into `into`, within one consultation, by one of its moderators."""
    source_ids = sorted(set(sources))
    if not source_ids or into in source_ids:
        raise InvalidMerge()
    target = proposals.get(session, into, principal=principal)
    consultation = consultations.get(session, target.consultation_id, principal=principal)
    check_can_merge(principal, consultation)
    _refuse_after_ballots(session, consultation)
    rows = _lock_proposals(session, [into, *source_ids])
    if len(rows) != len(source_ids) + 1:
        raise InvalidMerge()
    target = rows[into]
    merged = [rows[source_id] for source_id in source_ids]
    if any(p.consultation_id != consultation.id for p in merged):
        raise InvalidMerge()
    if any(p.state not in VISIBLE_STATES for p in [target, *merged]):
        raise NotMergeable()
    before = {p.id: {"state": p.state, "supports": p.supports_count} for p in [target, *merged]}

    result = MergeResult(into=target, merged=merged)
    _carry_supports_over(session, consultation, target, source_ids, result)

    first_votes = [p.first_vote_at for p in [target, *merged] if p.first_vote_at is not None]
    session.execute(
        update(Proposal).where(col(Proposal.id).in_(source_ids))
        .values(state=ProposalState.merged, merged_into_id=into, supports_count=0, updated_at=now)
    )
    supports = session.execute(
        select(func.count()).select_from(SupportVote).where(col(SupportVote.proposal_id) == into)
    ).scalar_one()
    session.execute(
        update(Proposal).where(col(Proposal.id) == into)
        .values(supports_count=supports, first_vote_at=min(first_votes) if first_votes else None, updated_at=now)
    )
    for proposal in [target, *merged]:
        session.refresh(proposal)

    # Whoever followed a duplicate follows the proposal that stays.
    for user_id in sorted(notifications.followers(session, FollowTarget.proposal, source_ids)):
        notifications.follow(session, user_id, FollowTarget.proposal, into, now=now)

    for hook in _merge_hooks:
        hook(session, target, merged, now)

    label = principal.user.display_name or ""
    for proposal in merged:
        audit.record(session, actor_id=principal.id, actor_label=label, action="proposal.merged",
                     target_type="proposal", target_id=proposal.id, now=now, before=before[proposal.id],
                     after={"state": proposal.state, "merged_into_id": into, "supports": 0})
    audit.record(session, actor_id=principal.id, actor_label=label, action="proposal.merge_received",
                 target_type="proposal", target_id=into, now=now, before=before[into],
                 after={"state": target.state, "supports": target.supports_count, "merged": source_ids,
                        "moved": result.moved, "dropped": result.dropped})
    return result


def _carry_supports_over(session: Session, consultation: Consultation, target: Proposal, source_ids: list[int],
                         result: MergeResult) -> None:
    """Move each duplicate's supports to the proposal that stays, unless the resident already
    supports it (or another duplicate moved first): that support is deleted and given back to them,
    so they count once. Read under the proposals' locks: no support of these proposals can change."""
    holders = set(session.execute(
        select(SupportVote.voter_id).where(col(SupportVote.proposal_id) == target.id,
                                           col(SupportVote.voter_id).is_not(None))
    ).scalars())
    votes = session.execute(
        select(SupportVote.id, SupportVote.voter_id).where(col(SupportVote.proposal_id).in_(source_ids))
        .order_by(col(SupportVote.cast_at), col(SupportVote.id))
    ).all()
    moved: list[int] = []
    dropped: list[int] = []
    given_back: dict[int, int] = {}
    for vote_id, voter_id in votes:
        if voter_id is None:  # an erased account: nobody to count twice
            moved.append(vote_id)
        elif voter_id in holders:
            dropped.append(vote_id)
            given_back[voter_id] = given_back.get(voter_id, 0) + 1
        else:
            moved.append(vote_id)
            holders.add(voter_id)
    if dropped:
        session.execute(delete(SupportVote).where(col(SupportVote.id).in_(dropped)))
    if moved:
        session.execute(update(SupportVote).where(col(SupportVote.id).in_(moved)).values(proposal_id=target.id))
    for voter_id in sorted(given_back):  # participations in the order of their voters: no deadlock
        session.execute(
            update(Participation)
            .where(col(Participation.consultation_id) == consultation.id, col(Participation.voter_id) == voter_id)
            .values(supports_used=Participation.supports_used - given_back[voter_id])
        )
    result.moved, result.dropped = len(moved), len(dropped)
    result.voters_counted_once = sorted(given_back)
