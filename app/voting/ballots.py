"""Ballots for `majority_judgment` and `budget` consultations: cast, replace, read, withdraw.

A ballot is one row per resident and consultation. Casting upserts that row (its lock orders
concurrent replacements by the same resident) and rewrites its lines in the same transaction, so
whatever the number of requests, what remains is one whole ballot, never a mix."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from app.accounts.policy import Principal
from app.accounts.service import export_section, hold_person, on_erasure
from app.audit import service as audit
from app.consultations import service as consultations
from app.consultations.models import Consultation, VotingMethod
from app.consultations.policy import phase_allows
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.i18n import N_, gettext
from app.proposals.models import VISIBLE_STATES, Proposal
from app.voting.methods.majority_judgment import GRADES
from app.voting.models import Ballot, BallotChoice, BallotGrade, Channel


class VotingClosed(Conflict):
    code = "voting-closed"


class NotEligible(Forbidden):
    code = "not-eligible"


class WrongMethod(Conflict):
    code = "wrong-method"
    message = N_("Cette consultation ne se vote pas par bulletin.")


class InvalidBallot(Conflict):
    status_code = 422
    code = "invalid-ballot"


class OverBudget(Conflict):
    status_code = 422
    code = "over-budget"


class NoBallot(NotFound):
    message = N_("Vous n’avez pas voté dans cette consultation.")


@dataclass(frozen=True)
class BallotView:
    method: str
    grades: dict[int, str] | None  # majority judgment
    proposals: list[int] | None  # budget
    total_cost: int | None
    channel: str
    cast_at: datetime
    updated_at: datetime


def admitted_proposals(session: Session, consultation: Consultation) -> list[Proposal]:
    """The proposals on the ballot: every one the public can see and vote on, oldest first."""
    return list(session.exec(
        select(Proposal).where(Proposal.consultation_id == consultation.id, col(Proposal.state).in_(VISIBLE_STATES))
        .order_by(col(Proposal.created_at), col(Proposal.id))
    ))


def _check_can_vote(session: Session, principal: Principal, consultation: Consultation, now: datetime) -> None:
    if consultation.voting_method not in (VotingMethod.majority_judgment, VotingMethod.budget):
        raise WrongMethod()
    allowed = phase_allows(consultation, "vote", now)
    if not allowed:
        raise VotingClosed(allowed.reason)
    eligible = consultations.check_eligibility(session, principal.user, consultation, now=now)
    if not eligible:
        raise NotEligible(eligible.reason)
    hold_person(session, principal.id)  # after: an account erased meanwhile is refused


def _validate_grades(admitted: list[Proposal], grades: dict[int, str]) -> dict[int, str]:
    ids = {p.id for p in admitted}
    missing = [p for p in admitted if p.id not in grades]
    if missing:
        raise InvalidBallot(gettext("Donnez une mention à chaque proposition : il en manque %(n)s.", n=len(missing)))
    if set(grades) - ids:
        raise InvalidBallot(N_("Ce bulletin mentionne une proposition qui n’est pas soumise au vote."))
    if any(grade not in GRADES for grade in grades.values()):
        raise InvalidBallot(N_("Une mention n’existe pas."))
    return grades


def budget_total(admitted: list[Proposal], proposal_ids: list[int]) -> int:
    costs = {p.id: p.estimated_cost or 0 for p in admitted}
    return sum(costs.get(pid, 0) for pid in proposal_ids)


def _validate_choices(consultation: Consultation, admitted: list[Proposal], proposal_ids: list[int]) -> list[int]:
    if len(set(proposal_ids)) != len(proposal_ids):
        raise InvalidBallot(N_("Une proposition est choisie deux fois."))
    if not proposal_ids:
        raise InvalidBallot(N_("Choisissez au moins une proposition."))
    costs = {p.id: p.estimated_cost for p in admitted}
    if any(pid not in costs for pid in proposal_ids):
        raise InvalidBallot(N_("Ce bulletin mentionne une proposition qui n’est pas soumise au vote."))
    if any(costs[pid] is None for pid in proposal_ids):
        raise InvalidBallot(N_("Une proposition choisie n’a pas de coût estimé."))
    total = budget_total(admitted, proposal_ids)
    budget = consultation.budget_total or 0
    if total > budget:
        raise OverBudget(gettext(
            "Votre sélection coûte %(total)s €, plus que le budget de %(budget)s € : retirez une proposition.",
            total=f"{total:,}".replace(",", "\u202f"), budget=f"{budget:,}".replace(",", "\u202f")))
    return proposal_ids


def _upsert_ballot(session: Session, consultation_id: int, voter_id: int, channel: str, now: datetime) -> Any:
    """The resident's ballot, created or marked replaced; answers its id, channel and moments. On a
    replacement the row stays locked to the end of the transaction: two tabs replace in turn."""
    insert_for = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = Ballot.__table__
    statement = (
        insert_for(table)  # type: ignore[arg-type]
        .values(consultation_id=consultation_id, voter_id=voter_id, channel=channel, cast_at=now, updated_at=now)
        .on_conflict_do_update(index_elements=["consultation_id", "voter_id"],
                               set_={"updated_at": now, "channel": channel})
        .returning(table.c.id, table.c.channel, table.c.cast_at, table.c.updated_at)  # type: ignore[attr-defined]
    )
    return session.execute(statement).one()


def cast_ballot(session: Session, principal: Principal, consultation: Consultation, *,
                grades: dict[int, str] | None = None, proposal_ids: list[int] | None = None, now: datetime,
                channel: Channel = Channel.online, mediator: Principal | None = None) -> BallotView:
    """Cast or replace the resident's ballot: voting phase only, eligible residents only; a
    majority-judgment ballot grades every proposal on the ballot, a budget ballot stays within
    the budget. The answer is built from what was written (no reading back: each round trip counts)."""
    _check_can_vote(session, principal, consultation, now)
    admitted = admitted_proposals(session, consultation)
    judgment = consultation.voting_method == VotingMethod.majority_judgment
    if judgment:
        lines = _validate_grades(admitted, grades or {})
    else:
        choices = _validate_choices(consultation, admitted, list(proposal_ids or []))
    ballot = _upsert_ballot(session, consultation.id or 0, principal.id, channel, now)
    loaded = session.identity_map.get(identity_key(Ballot, ballot.id))
    if loaded is not None:  # the upsert went behind the session's back: its copy reads as stored
        session.expire(loaded)
    if judgment:
        session.execute(delete(BallotGrade).where(col(BallotGrade.ballot_id) == ballot.id))
        session.execute(insert(BallotGrade), [
            {"ballot_id": ballot.id, "proposal_id": pid, "grade": grade} for pid, grade in lines.items()
        ])
    else:
        session.execute(delete(BallotChoice).where(col(BallotChoice.ballot_id) == ballot.id))
        session.execute(insert(BallotChoice), [{"ballot_id": ballot.id, "proposal_id": pid} for pid in choices])
    if consultation.first_vote_at is None:
        # The first ballot freezes the rules and every proposal on it (their authors can no longer
        # edit them); later ballots find them marked. Both marks are conditional UPDATEs: safe
        # when first ballots arrive together.
        consultations.mark_first_vote(session, consultation, now=now)
        session.execute(
            update(Proposal)
            .where(col(Proposal.consultation_id) == consultation.id, col(Proposal.first_vote_at).is_(None))
            .values(first_vote_at=now)
        )
    if channel == Channel.assisted and mediator is not None:
        audit.record(session, actor_id=mediator.id, actor_label=mediator.user.display_name or "",
                     action="ballot.cast", target_type="consultation", target_id=consultation.id, now=now,
                     after={"voter_id": principal.id}, channel=channel)
    if judgment:
        return BallotView(consultation.voting_method, dict(lines), None, None, ballot.channel, ballot.cast_at,
                          ballot.updated_at)
    return BallotView(consultation.voting_method, None, sorted(choices), budget_total(admitted, choices),
                      ballot.channel, ballot.cast_at, ballot.updated_at)


def get_ballot(session: Session, principal: Principal, consultation: Consultation) -> BallotView | None:
    ballot = session.exec(
        select(Ballot).where(Ballot.consultation_id == consultation.id, Ballot.voter_id == principal.id)
        .execution_options(populate_existing=True)  # cast_ballot upserts it behind the session's back
    ).first()
    if ballot is None:
        return None
    if consultation.voting_method == VotingMethod.majority_judgment:
        rows = session.exec(select(BallotGrade).where(BallotGrade.ballot_id == ballot.id))
        return BallotView(consultation.voting_method, {r.proposal_id: r.grade for r in rows}, None, None,
                          ballot.channel, ballot.cast_at, ballot.updated_at)
    ids = sorted(session.exec(select(BallotChoice.proposal_id).where(BallotChoice.ballot_id == ballot.id)))
    total = budget_total(admitted_proposals(session, consultation), ids)
    return BallotView(consultation.voting_method, None, ids, total, ballot.channel, ballot.cast_at, ballot.updated_at)


def withdraw_ballot(session: Session, principal: Principal, consultation: Consultation, *, now: datetime) -> None:
    """Withdraw one's ballot, during the voting phase only."""
    _check_can_vote(session, principal, consultation, now)
    removed = session.execute(
        delete(Ballot).where(col(Ballot.consultation_id) == consultation.id, col(Ballot.voter_id) == principal.id)
    )
    if not removed.rowcount:
        raise NoBallot()


@on_erasure
def _unlink_ballots(session: Session, user_id: int, now: datetime) -> None:
    """Erasure: the ballots stay counted, nothing links them to the person any more."""
    session.execute(update(Ballot).where(col(Ballot.voter_id) == user_id).values(voter_id=None))


@export_section("ballots")
def _export_ballots(session: Session, user_id: int) -> list[dict[str, Any]]:
    ballots = list(session.exec(select(Ballot).where(Ballot.voter_id == user_id).order_by(col(Ballot.cast_at))))
    ids = [b.id for b in ballots]
    grades: dict[int, dict[int, str]] = {}
    for row in session.exec(select(BallotGrade).where(col(BallotGrade.ballot_id).in_(ids))):
        grades.setdefault(row.ballot_id, {})[row.proposal_id] = row.grade
    choices: dict[int, list[int]] = {}
    for choice in session.exec(select(BallotChoice).where(col(BallotChoice.ballot_id).in_(ids))):
        choices.setdefault(choice.ballot_id, []).append(choice.proposal_id)
    return [{"consultation_id": b.consultation_id, "channel": b.channel, "cast_at": b.cast_at.isoformat(),
             "updated_at": b.updated_at.isoformat(), "grades": grades.get(b.id or 0),
             "proposals": sorted(choices.get(b.id or 0, [])) or None} for b in ballots]
