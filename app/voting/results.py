"""Results of a consultation for its three voting methods, tallied by the database (GROUP BY)
and ranked by the pure functions of voting/methods.

While voting goes on, results are computed live (or refused, when the consultation hides them
until the end). Once the voting phase is over they are computed once and kept as a snapshot:
published results never change silently; later moderation acts are listed beside them."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from app.audit.models import AuditEntry
from app.consultations.models import Consultation, Phase, VotingMethod
from app.consultations.phases import phase_at
from app.core.errors import Forbidden
from app.core.i18n import N_
from app.proposals.models import VISIBLE_STATES, Proposal
from app.voting.methods import budget, majority_judgment, support
from app.voting.models import Ballot, BallotChoice, BallotGrade, ResultSnapshot, SupportVote

BEFORE_THE_END = (Phase.upcoming, Phase.information, Phase.proposals, Phase.voting)


class ResultsHidden(Forbidden):
    code = "results-hidden"
    message = N_("Les résultats de cette consultation seront publiés à la fin du vote.")


@dataclass(frozen=True)
class Results:
    method: str
    participants: int
    items: list[dict[str, Any]]  # ranked, best first
    computed_at: datetime
    is_final: bool  # a snapshot of a closed vote
    budget_total: int | None = None


def visible(consultation: Consultation, now: datetime) -> bool:
    return not (consultation.results_hidden_until_end and phase_at(consultation, now) in BEFORE_THE_END)


def _proposals(session: Session, consultation: Consultation) -> dict[int, Proposal]:
    rows = session.exec(
        select(Proposal).where(Proposal.consultation_id == consultation.id, col(Proposal.state).in_(VISIBLE_STATES))
        .order_by(col(Proposal.id))  # tied proposals keep this order: it must not depend on the query plan
    )
    return {p.id or 0: p for p in rows}


def _support_results(session: Session, consultation: Consultation) -> tuple[int, list[dict[str, Any]]]:
    proposals = _proposals(session, consultation)
    counts = dict(session.exec(
        select(SupportVote.proposal_id, func.count()).where(SupportVote.consultation_id == consultation.id)
        .group_by(col(SupportVote.proposal_id))
    ).all())
    # Erased accounts keep their votes with no voter: each such vote counts as its own participant.
    participants = session.exec(
        select(func.count(func.distinct(func.coalesce(SupportVote.voter_id, -SupportVote.id))))
        .where(SupportVote.consultation_id == consultation.id, col(SupportVote.proposal_id).in_(list(proposals)))
    ).one()
    ranked = support.rank((pid, counts.get(pid, 0), (p.created_at, pid)) for pid, p in proposals.items())
    return participants, [{"proposal_id": r.proposal_id, "rank": r.rank, "supports": r.supports} for r in ranked]


def _participants(session: Session, consultation: Consultation) -> int:
    return session.exec(select(func.count()).select_from(Ballot).where(Ballot.consultation_id == consultation.id)).one()


def _majority_judgment_results(session: Session, consultation: Consultation) -> tuple[int, list[dict[str, Any]]]:
    proposals = _proposals(session, consultation)
    tallies: dict[int, dict[str, int]] = {pid: {} for pid in proposals}
    rows = session.exec(
        select(BallotGrade.proposal_id, BallotGrade.grade, func.count())
        .join(Ballot, col(Ballot.id) == BallotGrade.ballot_id)
        .where(Ballot.consultation_id == consultation.id, col(BallotGrade.proposal_id).in_(list(proposals)))
        .group_by(col(BallotGrade.proposal_id), col(BallotGrade.grade))
    )
    for proposal_id, grade, count in rows:
        tallies[proposal_id][grade] = count
    ranked = majority_judgment.rank(tallies)
    return _participants(session, consultation), [
        {"proposal_id": r.proposal_id, "rank": r.rank, "grades": r.counts, "majority_grade": r.majority_grade,
         "total": r.total}
        for r in ranked
    ]


def _budget_results(session: Session, consultation: Consultation) -> tuple[int, list[dict[str, Any]]]:
    proposals = _proposals(session, consultation)
    votes = dict(session.exec(
        select(BallotChoice.proposal_id, func.count())
        .join(Ballot, col(Ballot.id) == BallotChoice.ballot_id)
        .where(Ballot.consultation_id == consultation.id)
        .group_by(col(BallotChoice.proposal_id))
    ).all())
    entries = [(pid, p.estimated_cost or 0, votes.get(pid, 0), (p.created_at, pid)) for pid, p in proposals.items()]
    allocation = budget.allocate(consultation.budget_total or 0, entries)
    return _participants(session, consultation), [
        {"proposal_id": line.proposal_id, "rank": line.rank, "votes": line.votes, "cost": line.cost,
         "funded": line.funded, "remaining": line.remaining}
        for line in allocation.lines
    ]


def compute(session: Session, consultation: Consultation) -> tuple[int, list[dict[str, Any]]]:
    """(participants, ranked items) from the votes as they are in the database now."""
    if consultation.voting_method == VotingMethod.majority_judgment:
        return _majority_judgment_results(session, consultation)
    if consultation.voting_method == VotingMethod.budget:
        return _budget_results(session, consultation)
    return _support_results(session, consultation)


def _stored(session: Session, consultation: Consultation) -> ResultSnapshot | None:
    return session.exec(select(ResultSnapshot).where(ResultSnapshot.consultation_id == consultation.id)).first()


def _store(session: Session, consultation: Consultation, now: datetime) -> ResultSnapshot:
    participants, items = compute(session, consultation)
    snapshot = ResultSnapshot(consultation_id=consultation.id or 0, method=consultation.voting_method,
                              participants=participants, items=items, computed_at=now)
    session.add(snapshot)
    session.flush()
    return snapshot


def _snapshot(session: Session, consultation: Consultation, now: datetime) -> ResultSnapshot:
    existing = _stored(session, consultation)
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            return _store(session, consultation, now)
    except IntegrityError:  # computed at the same moment by another request: theirs stands
        found = session.exec(select(ResultSnapshot).where(ResultSnapshot.consultation_id == consultation.id)).one()
        return found
    except OperationalError:
        # SQLite: a reading transaction cannot write while another request holds the write lock, nor
        # once it has committed ("database is locked"). Begin afresh with the write lock taken up
        # front (waiting for the other request), then read theirs or store ours.
        if session.get_bind().dialect.name != "sqlite":
            raise
        session.rollback()
        session.connection(execution_options={"sqlite_immediate": True})
        return _stored(session, consultation) or _store(session, consultation, now)


def get_results(session: Session, consultation: Consultation, *, now: datetime, can_see_early: bool = False) -> Results:
    """The results the public may see now; a snapshot once voting is over (stored on first call)."""
    if not visible(consultation, now) and not can_see_early:
        raise ResultsHidden()
    if phase_at(consultation, now) in BEFORE_THE_END:
        participants, items = compute(session, consultation)
        return Results(consultation.voting_method, participants, items, now, False, consultation.budget_total)
    snapshot = _snapshot(session, consultation, now)
    return Results(snapshot.method, snapshot.participants, snapshot.items, snapshot.computed_at, True,
                   consultation.budget_total)


def later_moderation_acts(session: Session, consultation: Consultation, since: datetime) -> list[AuditEntry]:
    """Moderation acts on this consultation's proposals after its results were published."""
    ids = [str(pid) for pid in session.exec(select(Proposal.id).where(Proposal.consultation_id == consultation.id))]
    if not ids:
        return []
    return list(session.exec(
        select(AuditEntry).where(AuditEntry.target_type == "proposal", col(AuditEntry.target_id).in_(ids),
                                 AuditEntry.at > since).order_by(col(AuditEntry.at))
    ))


def close_finished_votes(session: Session, *, now: datetime) -> list[Consultation]:
    """Store the snapshot of every published consultation whose voting phase is over and that has
    none yet. Run at the end of voting phases (e.g. `carreau results close` from cron), so that
    results are fixed when the vote ends, not at the first visit to the results page."""
    missing = session.exec(
        select(Consultation)
        .where(col(Consultation.status) != "draft", col(Consultation.results_starts_at) <= now)
        .where(col(Consultation.id).not_in(select(ResultSnapshot.consultation_id)))
        .order_by(col(Consultation.id))
    ).all()
    for consultation in missing:
        _snapshot(session, consultation, now)  # a results page computing it meanwhile wins, the same way
    return list(missing)
