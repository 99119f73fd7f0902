"""Supports (voting method `support`): add, withdraw, count what remains.

The rules hold in the database: a unique constraint makes a support count once whatever the
retries, and a conditional UPDATE of the resident's participation row enforces `max_supports`
under concurrent requests, on SQLite and PostgreSQL alike."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, delete, select

from app.accounts.policy import Principal
from app.accounts.service import export_section, hold_person, on_erasure
from app.audit import service as audit
from app.consultations import service as consultations
from app.consultations.models import Consultation, VotingMethod
from app.consultations.policy import phase_allows
from app.core.errors import Conflict, Forbidden
from app.core.i18n import N_
from app.notifications import service as notifications
from app.notifications.models import FollowTarget
from app.proposals import service as proposals
from app.proposals.models import VISIBLE_STATES, Proposal, ProposalState
from app.voting.models import Channel, Participation, SupportVote


class VotingClosed(Conflict):
    code = "voting-closed"


class NotEligible(Forbidden):
    code = "not-eligible"


class SupportLimitReached(Conflict):
    code = "support-limit-reached"
    message = N_(
        "Vous avez utilisé tous vos soutiens pour cette consultation. "
        "Retirez-en un pour soutenir une autre proposition."
    )


class NotSupportable(Conflict):
    code = "not-supportable"
    message = N_("Cette proposition ne peut pas recevoir de soutien.")


class WrongMethod(Conflict):
    code = "wrong-method"
    message = N_("Cette consultation ne se vote pas par soutiens.")


@dataclass(frozen=True)
class SupportState:
    supported: bool
    supports: int  # the proposal's count
    remaining: int | None  # the resident's supports left in this consultation; None: no limit


def _participation(session: Session, consultation: Consultation, voter_id: int) -> Participation | None:
    return session.exec(
        select(Participation).where(Participation.consultation_id == consultation.id,
                                    Participation.voter_id == voter_id)
    ).first()


def remaining_supports(session: Session, consultation: Consultation, voter_id: int | None) -> int | None:
    if not consultation.max_supports:
        return None
    if voter_id is None:
        return consultation.max_supports
    row = _participation(session, consultation, voter_id)
    return consultation.max_supports - (row.supports_used if row else 0)


def supported_ids(session: Session, voter_id: int | None, proposal_ids: list[int]) -> set[int]:
    """Which of these proposals the resident supports (one query for a whole page)."""
    if voter_id is None or not proposal_ids:
        return set()
    rows = session.exec(select(SupportVote.proposal_id).where(
        SupportVote.voter_id == voter_id, col(SupportVote.proposal_id).in_(proposal_ids)))
    return set(rows)


def _find(session: Session, proposal: Proposal, voter_id: int) -> SupportVote | None:
    return session.exec(
        select(SupportVote).where(SupportVote.proposal_id == proposal.id, SupportVote.voter_id == voter_id)
    ).first()


def _state(session: Session, proposal: Proposal, consultation: Consultation, voter_id: int) -> SupportState:
    session.refresh(proposal, ["supports_count"])
    return SupportState(_find(session, proposal, voter_id) is not None, proposal.supports_count,
                        remaining_supports(session, consultation, voter_id))


def _check(session: Session, principal: Principal, proposal: Proposal, consultation: Consultation,
           now: datetime) -> None:
    if consultation.voting_method != VotingMethod.support:
        raise WrongMethod()
    allowed = phase_allows(consultation, "vote", now)
    if not allowed:
        raise VotingClosed(allowed.reason)
    eligible = consultations.check_eligibility(session, principal.user, consultation, now=now)
    if not eligible:
        raise NotEligible(eligible.reason)
    hold_person(session, principal.id)  # after: an account erased meanwhile is refused


def _insert(session: Session) -> Any:
    """INSERT with ON CONFLICT for the session's database."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _take_support(session: Session, consultation: Consultation, voter_id: int) -> int | None:
    """Count one more support for the resident in this consultation, within its limit: one upsert
    of their participation row (created at their first support), which answers the supports now
    used, or nothing when the limit was already reached. The row is locked by the statement, so
    concurrent supports of one resident are counted one after the other."""
    table = Participation.__table__
    return session.execute(
        _insert(session)(table)  # type: ignore[arg-type]
        .values(consultation_id=consultation.id, voter_id=voter_id, supports_used=1)
        .on_conflict_do_update(
            index_elements=["consultation_id", "voter_id"],
            set_={"supports_used": table.c.supports_used + 1},  # type: ignore[attr-defined]
            where=(table.c.supports_used < consultation.max_supports  # type: ignore[attr-defined]
                   if consultation.max_supports else None),
        )
        .returning(table.c.supports_used)  # type: ignore[attr-defined]
    ).scalar()


def _lock_proposal(session: Session, proposal: Proposal) -> str:
    """Lock the proposal's row and read its state as committed. Every write about supports takes
    this lock first (the author's withdrawal too, by its UPDATE), then the resident's participation
    row: one order, so no deadlock between a resident's supports and withdrawals (two tabs) or
    with the withdrawal of the proposal, and the state cannot change under them. FOR NO KEY
    UPDATE, as an UPDATE of the row: comments and supports referencing it are not held up.
    (PostgreSQL; SQLite's writing transactions are serialised already.)"""
    return session.execute(
        select(Proposal.state).where(col(Proposal.id) == proposal.id).with_for_update(key_share=True)
    ).scalar_one()


def add_support(session: Session, principal: Principal, proposal: Proposal, *, now: datetime,
                channel: Channel = Channel.online, mediator: Principal | None = None,
                consultation: Consultation | None = None) -> SupportState:
    """Support a proposal: voting phase only, eligible residents only, at most `max_supports` per
    consultation. Idempotent: a repeat, or a concurrent twin, changes nothing.

    Every check that can refuse comes before the first write, so a refusal needs no savepoint
    (a vote is about ten statements: each round trip counts, see BENCHMARKS.md)."""
    if consultation is None:
        consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    _check(session, principal, proposal, consultation, now)
    if proposal.state not in VISIBLE_STATES:
        raise NotSupportable()
    voter_id = principal.id
    if _lock_proposal(session, proposal) not in VISIBLE_STATES:
        raise NotSupportable()  # withdrawn or hidden meanwhile
    used = _take_support(session, consultation, voter_id)
    if used is None:
        # At the limit. A support given already (a repeat, or a concurrent twin that took the
        # last one while this request waited for the proposal's row) is no refusal: it stands.
        if _find(session, proposal, voter_id) is None:
            raise SupportLimitReached()
        return _state(session, proposal, consultation, voter_id)
    cast = session.execute(
        _insert(session)(SupportVote.__table__)  # type: ignore[arg-type]
        .values(proposal_id=proposal.id, consultation_id=consultation.id, voter_id=voter_id,
                channel=channel, cast_at=now)
        .on_conflict_do_nothing(index_elements=["proposal_id", "voter_id"])
        .returning(col(SupportVote.id))  # the new row's id, none on a conflict (rowcount is -1)
    ).first()
    if cast is None:
        # Supported already (a repeat, or a twin request committed first while this one waited
        # for the proposal's row): give back the support just taken, still holding the rows.
        # A repeat keeps the resident's choice to unfollow.
        session.execute(
            update(Participation)
            .where(col(Participation.consultation_id) == consultation.id, col(Participation.voter_id) == voter_id)
            .values(supports_used=Participation.supports_used - 1)
        )
        return _state(session, proposal, consultation, voter_id)
    # One statement for the count and the first vote's moment; it answers the new count.
    supports = session.execute(
        update(Proposal).where(col(Proposal.id) == proposal.id)
        .values(supports_count=Proposal.supports_count + 1, first_vote_at=func.coalesce(Proposal.first_vote_at, now))
        .returning(col(Proposal.supports_count))
    ).scalar_one()
    consultations.mark_first_vote(session, consultation, now=now)
    # Supporters follow what they support.
    notifications.follow(session, voter_id, FollowTarget.proposal, proposal.id or 0, now=now)
    if channel == Channel.assisted and mediator is not None:
        audit.record(session, actor_id=mediator.id, actor_label=mediator.user.display_name or "",
                     action="support.added", target_type="proposal", target_id=proposal.id, now=now,
                     after={"voter_id": voter_id}, channel=channel)
    # What the database now holds, without reloading it nor marking the object changed.
    set_committed_value(proposal, "supports_count", supports)
    return SupportState(True, supports, consultation.max_supports - used if consultation.max_supports else None)


def supported_proposal(session: Session, principal: Principal, proposal_id: int) -> Proposal:
    """The proposal whose support this person takes back: one they may see, or one that moderation
    hid after they supported it (their support still counts against their limit, so they may take
    it back; its page stays closed to them)."""
    try:
        return proposals.get(session, proposal_id, principal=principal)
    except proposals.ProposalNotFound:
        proposal = session.get(Proposal, proposal_id)
        if proposal is None or proposal.state != ProposalState.hidden or _find(session, proposal, principal.id) is None:
            raise
        return proposal


def withdraw_support(session: Session, principal: Principal, proposal: Proposal, *, now: datetime) -> SupportState:
    """Take a support back, during the voting phase only. Idempotent."""
    consultation = consultations.get(session, proposal.consultation_id, principal=principal)
    _check(session, principal, proposal, consultation, now)
    voter_id = principal.id
    with session.begin_nested():
        running = _lock_proposal(session, proposal) != ProposalState.withdrawn
        removed = session.execute(
            delete(SupportVote).where(col(SupportVote.proposal_id) == proposal.id,
                                      col(SupportVote.voter_id) == voter_id)
        )
        if removed.rowcount:
            session.execute(
                update(Proposal).where(col(Proposal.id) == proposal.id)
                .values(supports_count=Proposal.supports_count - 1)
            )
            # A withdrawn proposal gave its supports back when it was withdrawn: not a second time.
            # (Its state cannot change under the lock taken above.)
            if running:
                session.execute(
                    update(Participation)
                    .where(col(Participation.consultation_id) == consultation.id,
                           col(Participation.voter_id) == voter_id)
                    .values(supports_used=Participation.supports_used - 1)
                )
    return _state(session, proposal, consultation, voter_id)


@proposals.on_withdrawal
def _give_supports_back(session: Session, proposal: Proposal, now: datetime) -> None:
    """A withdrawn proposal's supporters get their support back to use elsewhere."""
    supporters = select(SupportVote.voter_id).where(
        SupportVote.proposal_id == proposal.id, col(SupportVote.voter_id).is_not(None)
    )
    session.execute(
        update(Participation)
        .where(col(Participation.consultation_id) == proposal.consultation_id,
               col(Participation.voter_id).in_(supporters))
        .values(supports_used=Participation.supports_used - 1)
    )


@on_erasure
def _unlink_votes(session: Session, user_id: int, now: datetime) -> None:
    """Erasure: the votes stay counted, nothing links them to the person any more."""
    session.execute(update(SupportVote).where(col(SupportVote.voter_id) == user_id).values(voter_id=None))
    session.execute(delete(Participation).where(col(Participation.voter_id) == user_id))


@export_section("supports")
def _export_supports(session: Session, user_id: int) -> list[dict[str, object]]:
    rows = session.exec(select(SupportVote).where(SupportVote.voter_id == user_id).order_by(col(SupportVote.cast_at)))
    return [{"proposal_id": v.proposal_id, "consultation_id": v.consultation_id, "channel": v.channel,
             "cast_at": v.cast_at.isoformat()} for v in rows]
