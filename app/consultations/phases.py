"""Which phase a consultation is in: it follows from its dates and the clock, nothing else."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from app.consultations.models import PHASES_IN_ORDER, Consultation, ConsultationStatus, Phase


def phase_at(consultation: Consultation, now: datetime) -> Phase:
    if consultation.follow_up_ends_at is not None and now >= consultation.follow_up_ends_at:
        return Phase.closed
    current = Phase.upcoming
    for phase, starts_at in consultation.phase_starts().items():
        if now >= starts_at:
            current = phase
    return current


@dataclass(frozen=True)
class PhaseSpan:
    phase: Phase
    starts_at: datetime
    ends_at: datetime | None
    state: str  # "past", "current" or "future"


def timeline(consultation: Consultation, now: datetime) -> list[PhaseSpan]:
    """Each phase with its start and end (the next one's start), and where `now` stands."""
    starts = consultation.phase_starts()
    current = phase_at(consultation, now)
    spans = []
    for index, phase in enumerate(PHASES_IN_ORDER):
        last = index + 1 == len(PHASES_IN_ORDER)
        ends_at = consultation.follow_up_ends_at if last else starts[PHASES_IN_ORDER[index + 1]]
        if phase == current:
            state = "current"
        elif ends_at is not None and now >= ends_at:
            state = "past"
        else:
            state = "future" if now < starts[phase] else "past"
        spans.append(PhaseSpan(phase, starts[phase], ends_at, state))
    return spans


def running(session: Session, now: datetime) -> list[tuple[Consultation, Phase]]:
    """Published consultations with the phase each is in now (none before the first phase or after
    the last): what `carreau notifications send` announces to followers, once per phase."""
    rows = session.exec(
        select(Consultation).where(
            Consultation.status == ConsultationStatus.published, col(Consultation.information_starts_at) <= now,
            or_(col(Consultation.follow_up_ends_at).is_(None), col(Consultation.follow_up_ends_at) > now),
        ).order_by(col(Consultation.id))
    )
    return [(consultation, phase_at(consultation, now)) for consultation in rows
            if phase_at(consultation, now) in PHASES_IN_ORDER]
