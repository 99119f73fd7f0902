"""Ballots of majority-judgment and budget consultations (app/voting/ballots.py), in the database:
cast, replace, read, withdraw; who may vote and when; what a ballot must hold; erasure and export."""

from contextlib import nullcontext
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.accounts.policy import Principal
from app.accounts.sessions import DatabaseSessionStore
from app.audit.models import AuditEntry
from app.consultations.models import Consultation
from app.proposals.models import Proposal, ProposalState
from app.territory.models import Axis
from app.voting import ballots
from app.voting.ballots import (
    InvalidBallot,
    NoBallot,
    NotEligible,
    OverBudget,
    VotingClosed,
    WrongMethod,
    admitted_proposals,
    cast_ballot,
    get_ballot,
    withdraw_ballot,
)
from app.voting.methods.majority_judgment import GRADES
from app.voting.models import Ballot, BallotChoice, BallotGrade, Channel
from tests.factories import NOW, make_consultation, make_proposal, make_user

E, TB, B, AB, P, INS, R = GRADES
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NNBSP = "\u202f"  # the narrow no-break space that groups thousands in French


def resident(session: Session, **fields: object) -> Principal:
    return accounts.load_principal(session, make_user(session, **fields))


def mj_consultation(session: Session, proposals: int = 3, **fields: object) -> tuple[Consultation, list[Proposal]]:
    consultation = make_consultation(session, voting_method="majority_judgment", **fields)
    author = make_user(session)
    made = [make_proposal(session, consultation, author, now=NOW - DAY * (10 - n)) for n in range(proposals)]
    return consultation, made


def budget_consultation(session: Session, costs: tuple[int | None, ...] = (3000, 4000, 5000),
                        total: int = 10_000, **fields: object) -> tuple[Consultation, list[Proposal]]:
    consultation = make_consultation(session, voting_method="budget", budget_total=total, **fields)
    author = make_user(session)
    made = [make_proposal(session, consultation, author, estimated_cost=cost, now=NOW - DAY * (10 - n))
            for n, cost in enumerate(costs)]
    return consultation, made


def ids(proposals: list[Proposal]) -> list[int]:
    return [p.id or 0 for p in proposals]


def grading(proposals: list[Proposal], *grades: str) -> dict[int, str]:
    return dict(zip(ids(proposals), grades, strict=True))


def ballot_rows(session: Session, consultation: Consultation) -> list[Ballot]:
    return list(session.exec(select(Ballot).where(Ballot.consultation_id == consultation.id)
                             .execution_options(populate_existing=True)))


def stored_grades(session: Session, ballot_id: int | None) -> dict[int, str]:
    rows = session.exec(select(BallotGrade.proposal_id, BallotGrade.grade).where(BallotGrade.ballot_id == ballot_id))
    return dict(rows.all())


def stored_choices(session: Session, ballot_id: int | None) -> set[int]:
    return set(session.exec(select(BallotChoice.proposal_id).where(BallotChoice.ballot_id == ballot_id)))


# --- majority judgment: cast, read, replace, withdraw


def test_a_majority_judgment_ballot_grades_every_proposal(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    voter = resident(session)
    view = cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    assert view.method == "majority_judgment"
    assert view.grades == grading(proposals, E, P, R)
    assert (view.proposals, view.total_cost, view.channel) == (None, None, "online")
    assert view.cast_at == view.updated_at == NOW
    [row] = ballot_rows(session, consultation)
    assert (row.voter_id, row.channel) == (voter.id, "online")
    assert stored_grades(session, row.id) == grading(proposals, E, P, R)
    assert get_ballot(session, voter, consultation) == view


def test_no_ballot_yet(session: Session) -> None:
    consultation, _ = mj_consultation(session)
    assert get_ballot(session, resident(session), consultation) is None


def test_replacing_a_ballot_changes_its_grades_and_keeps_one_row(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    voter = resident(session)
    cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    view = cast_ballot(session, voter, consultation, grades=grading(proposals, R, TB, AB), now=NOW + HOUR)
    assert view.grades == grading(proposals, R, TB, AB)
    assert (view.cast_at, view.updated_at) == (NOW, NOW + HOUR)
    [row] = ballot_rows(session, consultation)
    assert stored_grades(session, row.id) == grading(proposals, R, TB, AB)
    assert get_ballot(session, voter, consultation) == view


def test_the_replaced_ballot_reads_as_stored_even_when_loaded_before(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    voter = resident(session)
    cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    loaded = session.exec(select(Ballot).where(Ballot.consultation_id == consultation.id)).all()  # held
    view = cast_ballot(session, voter, consultation, grades=grading(proposals, B, B, B), now=NOW + HOUR)
    assert (view.grades, view.cast_at, view.updated_at) == (grading(proposals, B, B, B), NOW, NOW + HOUR)
    assert loaded[0].updated_at == NOW + HOUR


def test_every_resident_has_their_own_ballot(session: Session) -> None:
    consultation, proposals = mj_consultation(session, proposals=2)
    first, second = resident(session), resident(session)
    cast_ballot(session, first, consultation, grades=grading(proposals, E, B), now=NOW)
    cast_ballot(session, second, consultation, grades=grading(proposals, INS, INS), now=NOW)
    assert len(ballot_rows(session, consultation)) == 2
    assert get_ballot(session, first, consultation).grades == grading(proposals, E, B)  # type: ignore[union-attr]
    assert get_ballot(session, second, consultation).grades == grading(proposals, INS, INS)  # type: ignore[union-attr]


def test_a_ballot_missing_a_grade_is_refused(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    voter = resident(session)
    with pytest.raises(InvalidBallot) as refused:
        cast_ballot(session, voter, consultation, grades=grading(proposals[:1], E), now=NOW)
    assert refused.value.message == "Donnez une mention à chaque proposition : il en manque 2."
    assert refused.value.status_code == 422
    with pytest.raises(InvalidBallot):
        cast_ballot(session, voter, consultation, grades={}, now=NOW)
    with pytest.raises(InvalidBallot):
        cast_ballot(session, voter, consultation, now=NOW)
    assert ballot_rows(session, consultation) == []


def test_an_unknown_grade_is_refused(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    with pytest.raises(InvalidBallot) as refused:
        cast_ballot(session, resident(session), consultation, grades=grading(proposals, E, "génial", R), now=NOW)
    assert refused.value.message == "Une mention n’existe pas."
    assert ballot_rows(session, consultation) == []


def test_a_proposal_of_another_consultation_is_refused(session: Session) -> None:
    consultation, proposals = mj_consultation(session, proposals=2)
    _other, elsewhere = mj_consultation(session, proposals=1)
    voter = resident(session)
    for grades in (grading(proposals + elsewhere, E, B, R), grading([proposals[0], *elsewhere], E, B)):
        with pytest.raises(InvalidBallot):
            cast_ballot(session, voter, consultation, grades=grades, now=NOW)
    with pytest.raises(InvalidBallot) as refused:
        cast_ballot(session, voter, consultation, grades={**grading(proposals, E, B), 999_999: R}, now=NOW)
    assert refused.value.message == "Ce bulletin mentionne une proposition qui n’est pas soumise au vote."
    assert ballot_rows(session, consultation) == []


def test_a_refused_replacement_keeps_the_previous_ballot(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    voter = resident(session)
    cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    with pytest.raises(InvalidBallot):
        cast_ballot(session, voter, consultation, grades=grading(proposals[:2], B, B), now=NOW + HOUR)
    assert get_ballot(session, voter, consultation).grades == grading(proposals, E, P, R)  # type: ignore[union-attr]


@pytest.mark.parametrize("state", [ProposalState.hidden, ProposalState.withdrawn, ProposalState.pending])
def test_a_proposal_the_public_cannot_vote_on_is_not_on_the_ballot(session: Session, state: ProposalState) -> None:
    consultation, proposals = mj_consultation(session)
    gone = proposals[1]
    gone.state = state
    session.add(gone)
    session.flush()
    assert admitted_proposals(session, consultation) == [proposals[0], proposals[2]]
    voter = resident(session)
    with pytest.raises(InvalidBallot):
        cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    view = cast_ballot(session, voter, consultation, grades=grading([proposals[0], proposals[2]], E, R), now=NOW)
    assert view.grades == grading([proposals[0], proposals[2]], E, R)


def test_the_ballot_lists_the_proposals_oldest_first(session: Session) -> None:
    consultation = make_consultation(session, voting_method="majority_judgment")
    author = make_user(session)
    late = make_proposal(session, consultation, author, now=NOW - DAY)
    early = make_proposal(session, consultation, author, now=NOW - 3 * DAY)
    accepted = make_proposal(session, consultation, author, now=NOW - 2 * DAY, state=ProposalState.accepted)
    assert admitted_proposals(session, consultation) == [early, accepted, late]


def test_withdrawing_a_ballot_removes_it_and_its_grades(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    voter, other = resident(session), resident(session)
    cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    cast_ballot(session, other, consultation, grades=grading(proposals, B, B, B), now=NOW)
    [mine] = [b for b in ballot_rows(session, consultation) if b.voter_id == voter.id]
    withdraw_ballot(session, voter, consultation, now=NOW + HOUR)
    assert get_ballot(session, voter, consultation) is None
    assert stored_grades(session, mine.id) == {}
    assert [b.voter_id for b in ballot_rows(session, consultation)] == [other.id]
    with pytest.raises(NoBallot) as again:
        withdraw_ballot(session, voter, consultation, now=NOW + HOUR)
    assert again.value.status_code == 404
    # Withdrawn, the resident may vote again.
    view = cast_ballot(session, voter, consultation, grades=grading(proposals, TB, TB, TB), now=NOW + 2 * HOUR)
    assert view.cast_at == NOW + 2 * HOUR


# --- when and who


@pytest.mark.parametrize("phase", ["information", "proposals", "results", "follow_up"])
def test_no_ballot_outside_the_voting_phase(session: Session, phase: str) -> None:
    consultation, proposals = mj_consultation(session, phase=phase)
    with pytest.raises(VotingClosed) as refused:
        cast_ballot(session, resident(session), consultation, grades=grading(proposals, E, P, R), now=NOW)
    assert refused.value.code == "voting-closed"
    assert refused.value.status_code == 409
    assert refused.value.message == (
        "Le vote n’est pas ouvert en ce moment : cette consultation n’est pas en phase de vote.")


def test_a_ballot_is_withdrawn_during_the_voting_phase_only(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    voter = resident(session)
    cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    after_the_vote = consultation.results_starts_at + HOUR
    with pytest.raises(VotingClosed):
        withdraw_ballot(session, voter, consultation, now=after_the_vote)
    with pytest.raises(VotingClosed):
        cast_ballot(session, voter, consultation, grades=grading(proposals, R, R, R), now=after_the_vote)
    assert get_ballot(session, voter, consultation).grades == grading(proposals, E, P, R)  # type: ignore[union-attr]


def test_a_draft_consultation_takes_no_ballot(session: Session) -> None:
    consultation, proposals = mj_consultation(session, status="draft")
    with pytest.raises(VotingClosed):
        cast_ballot(session, resident(session), consultation, grades=grading(proposals, E, P, R), now=NOW)


@pytest.mark.parametrize(("rules", "who", "reason"), [
    ({"scope_kind": "commune", "scope_code": "62498"}, {"commune": "62510"},
     "Cette consultation est réservée aux habitants de Lens."),
    ({"required_verification": "verified"}, {},
     "Cette consultation demande une résidence vérifiée : un médiateur de votre mairie ou d’un espace "
     "France Services peut la vérifier avec vous."),
    ({"min_age": 18}, {"birth_year": 2015}, "Cette consultation est ouverte à partir de 18 ans."),
    ({}, {"commune": None}, "Indiquez d’abord votre commune de résidence, depuis votre compte."),
])
def test_an_ineligible_resident_may_not_vote(session: Session, rules: dict[str, object], who: dict[str, object],
                                             reason: str) -> None:
    consultation, proposals = mj_consultation(session, **rules)
    voter = resident(session, **who)
    with pytest.raises(NotEligible) as refused:
        cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    assert (refused.value.status_code, refused.value.code, refused.value.message) == (403, "not-eligible", reason)
    assert ballot_rows(session, consultation) == []


def test_a_support_consultation_takes_no_ballot(session: Session) -> None:
    consultation = make_consultation(session, voting_method="support")
    proposal = make_proposal(session, consultation, make_user(session))
    voter = resident(session)
    with pytest.raises(WrongMethod) as refused:
        cast_ballot(session, voter, consultation, grades={proposal.id or 0: E}, now=NOW)
    assert (refused.value.status_code, refused.value.code) == (409, "wrong-method")
    with pytest.raises(WrongMethod):
        cast_ballot(session, voter, consultation, proposal_ids=[proposal.id or 0], now=NOW)
    with pytest.raises(WrongMethod):
        withdraw_ballot(session, voter, consultation, now=NOW)


# --- participatory budget


def test_a_budget_ballot_within_the_budget(session: Session) -> None:
    consultation, proposals = budget_consultation(session)
    voter = resident(session)
    view = cast_ballot(session, voter, consultation, proposal_ids=ids(proposals)[:2][::-1], now=NOW)
    assert view.method == "budget"
    assert (view.proposals, view.total_cost, view.grades) == (sorted(ids(proposals)[:2]), 7000, None)
    [row] = ballot_rows(session, consultation)
    assert stored_choices(session, row.id) == set(ids(proposals)[:2])


def test_a_budget_ballot_may_spend_the_whole_budget_exactly(session: Session) -> None:
    consultation, proposals = budget_consultation(session, costs=(4000, 6000, 1))
    view = cast_ballot(session, resident(session), consultation, proposal_ids=ids(proposals)[:2], now=NOW)
    assert view.total_cost == 10_000


def test_a_budget_ballot_over_the_budget_is_refused(session: Session) -> None:
    consultation, proposals = budget_consultation(session, costs=(4000, 6000, 1), total=10_000)
    voter = resident(session)
    with pytest.raises(OverBudget) as refused:
        cast_ballot(session, voter, consultation, proposal_ids=ids(proposals), now=NOW)
    assert (refused.value.status_code, refused.value.code) == (422, "over-budget")
    assert refused.value.message == (
        f"Votre sélection coûte 10{NNBSP}001 €, plus que le budget de 10{NNBSP}000 € : retirez une proposition.")
    assert ballot_rows(session, consultation) == []


def test_replacing_a_budget_ballot(session: Session) -> None:
    consultation, proposals = budget_consultation(session)
    voter = resident(session)
    cast_ballot(session, voter, consultation, proposal_ids=ids(proposals)[:2], now=NOW)
    view = cast_ballot(session, voter, consultation, proposal_ids=ids(proposals)[2:], now=NOW + HOUR)
    assert (view.proposals, view.total_cost) == (ids(proposals)[2:], 5000)
    [row] = ballot_rows(session, consultation)
    assert stored_choices(session, row.id) == set(ids(proposals)[2:])
    with pytest.raises(OverBudget):  # refused: the ballot stays as it was
        cast_ballot(session, voter, consultation, proposal_ids=ids(proposals), now=NOW + 2 * HOUR)
    assert stored_choices(session, row.id) == set(ids(proposals)[2:])


@pytest.mark.parametrize(("choice", "message"), [
    (lambda ps: [ps[0], ps[0]], "Une proposition est choisie deux fois."),
    (lambda ps: [], "Choisissez au moins une proposition."),
    (lambda ps: [ps[0], 999_999], "Ce bulletin mentionne une proposition qui n’est pas soumise au vote."),
    (lambda ps: [ps[3]], "Une proposition choisie n’a pas de coût estimé."),
])
def test_invalid_budget_ballots(session: Session, choice, message: str) -> None:  # type: ignore[no-untyped-def]
    consultation, proposals = budget_consultation(session, costs=(3000, 4000, 5000, None))
    with pytest.raises(InvalidBallot) as refused:
        cast_ballot(session, resident(session), consultation, proposal_ids=choice(ids(proposals)), now=NOW)
    assert refused.value.message == message
    assert ballot_rows(session, consultation) == []


def test_a_budget_ballot_cannot_choose_a_proposal_off_the_ballot(session: Session) -> None:
    consultation, proposals = budget_consultation(session)
    _other, elsewhere = budget_consultation(session)
    proposals[1].state = ProposalState.hidden
    session.add(proposals[1])
    session.flush()
    voter = resident(session)
    for choice in ([proposals[1].id or 0], [proposals[0].id or 0, elsewhere[0].id or 0]):
        with pytest.raises(InvalidBallot):
            cast_ballot(session, voter, consultation, proposal_ids=choice, now=NOW)
    assert ballot_rows(session, consultation) == []


def test_a_budget_ballot_does_not_take_grades(session: Session) -> None:
    consultation, proposals = budget_consultation(session)
    with pytest.raises(InvalidBallot):
        cast_ballot(session, resident(session), consultation, grades={proposals[0].id or 0: E}, now=NOW)


# --- the first ballot freezes the rules; assisted ballots; erasure; export


def test_the_first_ballot_marks_the_first_vote(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    assert consultation.first_vote_at is None
    cast_ballot(session, resident(session), consultation, grades=grading(proposals, E, P, R), now=NOW)
    cast_ballot(session, resident(session), consultation, grades=grading(proposals, E, P, R), now=NOW + HOUR)
    session.refresh(consultation)
    assert consultation.first_vote_at == NOW
    for proposal in proposals:
        session.refresh(proposal)
        assert proposal.first_vote_at == NOW


def test_an_assisted_ballot_names_its_mediator_in_the_audit_log(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    mediator_user = make_user(session, name="Nadia Médiatrice")
    axis = session.exec(select(Axis).where(Axis.number == 1)).one()
    accounts.grant_role(session, mediator_user, Role.mediator, now=NOW, axis_id=axis.id)
    mediator = accounts.load_principal(session, mediator_user)
    voter = resident(session)
    view = cast_ballot(session, voter, consultation, grades=grading(proposals, B, B, B), now=NOW,
                       channel=Channel.assisted, mediator=mediator)
    assert view.channel == "assisted"
    [entry] = session.exec(select(AuditEntry).where(AuditEntry.action == "ballot.cast")).all()
    assert (entry.actor_id, entry.actor_label, entry.channel) == (mediator.id, "Nadia Médiatrice", "assisted")
    assert (entry.target_type, entry.target_id, entry.after) == ("consultation", str(consultation.id),
                                                                 {"voter_id": voter.id})


def test_an_online_ballot_writes_no_audit_entry(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    cast_ballot(session, resident(session), consultation, grades=grading(proposals, B, B, B), now=NOW)
    assert session.exec(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.action == "ballot.cast")).one() == 0


def test_erasure_keeps_the_ballot_counted_with_no_voter(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    budget, choices = budget_consultation(session)
    user = make_user(session)
    voter = accounts.load_principal(session, user)
    cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    cast_ballot(session, voter, budget, proposal_ids=ids(choices)[:1], now=NOW)
    accounts.erase_account(session, DatabaseSessionStore(lambda **_options: nullcontext(session)), user,
                           now=NOW + HOUR)
    [mj_row] = ballot_rows(session, consultation)
    [budget_row] = ballot_rows(session, budget)
    assert (mj_row.voter_id, budget_row.voter_id) == (None, None)
    assert stored_grades(session, mj_row.id) == grading(proposals, E, P, R)
    assert stored_choices(session, budget_row.id) == set(ids(choices)[:1])
    assert session.get(User, user.id).erased_at == NOW + HOUR  # type: ignore[union-attr]
    # The erased ballot is nobody's: a new account starts afresh.
    assert get_ballot(session, resident(session), consultation) is None


def test_the_export_lists_my_ballots(session: Session) -> None:
    consultation, proposals = mj_consultation(session)
    budget, choices = budget_consultation(session)
    user = make_user(session)
    voter = accounts.load_principal(session, user)
    cast_ballot(session, resident(session), consultation, grades=grading(proposals, R, R, R), now=NOW)  # not mine
    cast_ballot(session, voter, consultation, grades=grading(proposals, E, P, R), now=NOW)
    cast_ballot(session, voter, budget, proposal_ids=ids(choices)[1:], now=NOW + HOUR)
    exported = ballots._export_ballots(session, user.id or 0)
    assert exported == [
        {"consultation_id": consultation.id, "channel": "online", "cast_at": NOW.isoformat(),
         "updated_at": NOW.isoformat(), "grades": grading(proposals, E, P, R), "proposals": None},
        {"consultation_id": budget.id, "channel": "online", "cast_at": (NOW + HOUR).isoformat(),
         "updated_at": (NOW + HOUR).isoformat(), "grades": None, "proposals": ids(choices)[1:]},
    ]
