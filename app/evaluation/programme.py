"""The programme's trace on each axis page: consultations → proposals → votes → official answers →
actions → progress → residents' evaluation, with the figures at each step, public.

Only what the public may see is counted: published or archived consultations, proposals in a
public state, and no vote figure of a consultation whose results stay hidden until its vote ends."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.actions.models import ActionStatus, ActionUpdate, PublicAction
from app.consultations import service as consultations
from app.consultations.models import Consultation, ConsultationStatus, Phase
from app.proposals.models import PUBLIC_STATES, Proposal, ProposalState
from app.voting.models import Ballot, SupportVote


@dataclass
class TraceRow:
    """One consultation's chain, or the axis's totals."""

    consultation: Consultation | None
    phase: Phase | None = None
    proposals: int = 0
    votes: int | None = 0  # supports or ballots; None while the results stay hidden
    answered: dict[str, int] = field(default_factory=lambda: {"evaluating": 0, "accepted": 0, "rejected": 0})
    actions: int = 0
    actions_by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ActionStatus, 0))
    average_progress: float | None = None
    updates: int = 0
    ratings: int = 0
    average_rating: float | None = None

    @property
    def answers(self) -> int:
        return sum(self.answered.values())


@dataclass
class AxisTrace:
    rows: list[TraceRow]
    total: TraceRow

    @property
    def is_empty(self) -> bool:
        return not self.rows


def axis_trace(session: Session, axis_id: int, *, now: datetime) -> AxisTrace:
    """The chain of every public consultation of the axis, in a fixed number of grouped queries."""
    items = list(session.exec(
        select(Consultation)
        .where(Consultation.axis_id == axis_id,
               col(Consultation.status).in_([ConsultationStatus.published, ConsultationStatus.archived]))
        .order_by(col(Consultation.information_starts_at).desc(), col(Consultation.id))
    ))
    ids = [item.id for item in items]
    rows = {item.id: TraceRow(item, consultations.current_phase(item, now)) for item in items}
    total = TraceRow(None)
    if not ids:
        return AxisTrace([], total)

    for consultation_id, state, count in session.execute(
        select(Proposal.consultation_id, Proposal.state, func.count())
        .where(col(Proposal.consultation_id).in_(ids), col(Proposal.state).in_(PUBLIC_STATES))
        .group_by(Proposal.consultation_id, Proposal.state)
    ):
        rows[consultation_id].proposals += count
        if state in (ProposalState.evaluating, ProposalState.accepted, ProposalState.rejected):
            rows[consultation_id].answered[state] += count

    votes: dict[int, int] = defaultdict(int)
    for model in (SupportVote, Ballot):
        for consultation_id, count in session.execute(
            select(model.consultation_id, func.count()).where(col(model.consultation_id).in_(ids))
            .group_by(model.consultation_id)
        ):
            votes[consultation_id] += count
    for consultation_id, row in rows.items():
        row.votes = votes[consultation_id] if consultations.results_visible(row.consultation, now) else None

    progress_sum: dict[int, int] = defaultdict(int)
    rating_sum: dict[int, int] = defaultdict(int)
    for consultation_id, status, count, progress, ratings, ratings_total in session.execute(
        select(PublicAction.consultation_id, PublicAction.status, func.count(), func.sum(PublicAction.progress),
               func.sum(PublicAction.ratings_count), func.sum(PublicAction.ratings_sum))
        .where(col(PublicAction.consultation_id).in_(ids))
        .group_by(PublicAction.consultation_id, PublicAction.status)
    ):
        row = rows[consultation_id]
        row.actions += count
        row.actions_by_status[status] += count
        progress_sum[consultation_id] += progress or 0
        row.ratings += ratings or 0
        rating_sum[consultation_id] += ratings_total or 0
    for consultation_id, count in session.execute(
        select(PublicAction.consultation_id, func.count(ActionUpdate.id))
        .join(ActionUpdate, col(ActionUpdate.action_id) == PublicAction.id)
        .where(col(PublicAction.consultation_id).in_(ids))
        .group_by(PublicAction.consultation_id)
    ):
        rows[consultation_id].updates = count

    for consultation_id, row in rows.items():
        if row.actions:
            row.average_progress = round(progress_sum[consultation_id] / row.actions, 1)
        if row.ratings:
            row.average_rating = round(rating_sum[consultation_id] / row.ratings, 2)
        total.proposals += row.proposals
        if row.votes is not None:
            total.votes = (total.votes or 0) + row.votes
        for state, count in row.answered.items():
            total.answered[state] += count
        total.actions += row.actions
        for status, count in row.actions_by_status.items():
            total.actions_by_status[status] += count
        total.updates += row.updates
        total.ratings += row.ratings
    if total.actions:
        total.average_progress = round(sum(progress_sum.values()) / total.actions, 1)
    if total.ratings:
        total.average_rating = round(sum(rating_sum.values()) / total.ratings, 2)
    return AxisTrace(list(rows.values()), total)


@consultations.axis_section
def _trace_section(session: Session, axis_id: int, now: datetime) -> tuple[str, dict[str, object]] | None:
    """The axis page's "what became of it" section."""
    return "evaluation/_axis_trace.html", {"trace": axis_trace(session, axis_id, now=now)}
