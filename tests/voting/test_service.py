"""Supports: one per resident and proposal, at most `max_supports` per consultation, voting phase
only, eligible residents only; withdrawals, withdrawn proposals, erasure; what the database
itself refuses."""

from contextlib import nullcontext
from datetime import timedelta

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from app.accounts import service as accounts
from app.accounts.policy import Principal
from app.accounts.sessions import DatabaseSessionStore
from app.audit import service as audit
from app.consultations.models import Consultation
from app.proposals import service as proposals
from app.proposals.models import Proposal
from app.voting import service
from app.voting.models import Channel, Participation, SupportVote
from tests.factories import NOW, make_consultation, make_proposal, make_user, phase_dates

DAY = timedelta(days=1)
LENS_LIEVIN = "246200364"


def resident(session: Session, **fields: object) -> Principal:
    return accounts.load_principal(session, make_user(session, **fields))


def proposal_in(session: Session, consultation: Consultation, **fields: object) -> Proposal:
    return make_proposal(session, consultation, make_user(session), **fields)


def votes(session: Session, proposal: Proposal) -> int:
    return session.exec(select(func.count()).select_from(SupportVote)
                        .where(SupportVote.proposal_id == proposal.id)).one()


def count_of(session: Session, proposal: Proposal) -> int:
    session.refresh(proposal)
    return proposal.supports_count


def used(session: Session, consultation: Consultation, principal: Principal) -> int | None:
    row = session.exec(select(Participation).where(Participation.consultation_id == consultation.id,
                                                   Participation.voter_id == principal.id)).first()
    if row is None:
        return None
    session.refresh(row)
    return row.supports_used


def assert_consistent(session: Session, consultation: Consultation) -> None:
    """Every counter equals the rows it counts."""
    session.expire_all()
    for proposal in session.exec(select(Proposal).where(Proposal.consultation_id == consultation.id)):
        assert proposal.supports_count == votes(session, proposal), proposal.id
    running = select(Proposal.id).where(Proposal.consultation_id == consultation.id, Proposal.state != "withdrawn")
    for participation in session.exec(select(Participation).where(
            Participation.consultation_id == consultation.id)):
        held = session.exec(select(func.count()).select_from(SupportVote).where(
            SupportVote.voter_id == participation.voter_id, col(SupportVote.proposal_id).in_(running))).one()
        assert participation.supports_used == held, participation.voter_id


# --- add


def test_support_then_again_changes_nothing(session: Session) -> None:
    consultation = make_consultation(session, max_supports=3)
    proposal = proposal_in(session, consultation)
    voter = resident(session)
    first = service.add_support(session, voter, proposal, now=NOW)
    assert first == service.SupportState(supported=True, supports=1, remaining=2)
    again = service.add_support(session, voter, proposal, now=NOW + DAY)
    assert again == first
    assert votes(session, proposal) == 1
    assert used(session, consultation, voter) == 1
    (vote,) = session.exec(select(SupportVote).where(SupportVote.proposal_id == proposal.id))
    assert (vote.voter_id, vote.consultation_id, vote.channel, vote.cast_at) == (
        voter.id, consultation.id, "online", NOW)
    assert_consistent(session, consultation)


def test_without_a_limit_remaining_is_none(session: Session) -> None:
    consultation = make_consultation(session, max_supports=0)
    voter = resident(session)
    for _ in range(5):
        state = service.add_support(session, voter, proposal_in(session, consultation), now=NOW)
        assert state.remaining is None
    assert used(session, consultation, voter) == 5
    assert service.remaining_supports(session, consultation, voter.id) is None
    assert service.remaining_supports(session, consultation, None) is None


def test_the_limit_and_what_remains(session: Session) -> None:
    consultation = make_consultation(session, max_supports=2)
    voter = resident(session)
    assert service.remaining_supports(session, consultation, voter.id) == 2
    assert service.remaining_supports(session, consultation, None) == 2  # a visitor is told the rule
    a, b, c = (proposal_in(session, consultation) for _ in range(3))
    assert service.add_support(session, voter, a, now=NOW).remaining == 1
    assert service.add_support(session, voter, b, now=NOW).remaining == 0
    with pytest.raises(service.SupportLimitReached) as refused:
        service.add_support(session, voter, c, now=NOW)
    assert (refused.value.status_code, refused.value.code) == (409, "support-limit-reached")
    assert votes(session, c) == 0
    assert count_of(session, c) == 0
    assert used(session, consultation, voter) == 2
    # Supporting again what one already supports is not a new support.
    assert service.add_support(session, voter, a, now=NOW).supported
    # Withdrawing one frees one.
    assert service.withdraw_support(session, voter, a, now=NOW) == service.SupportState(False, 0, 1)
    assert service.add_support(session, voter, c, now=NOW) == service.SupportState(True, 1, 0)
    assert_consistent(session, consultation)


def test_limits_are_per_consultation(session: Session) -> None:
    first = make_consultation(session, max_supports=1)
    second = make_consultation(session, max_supports=1)
    voter = resident(session)
    service.add_support(session, voter, proposal_in(session, first), now=NOW)
    assert service.add_support(session, voter, proposal_in(session, second), now=NOW).remaining == 0


@pytest.mark.parametrize("phase", ["information", "proposals", "results", "follow_up"])
def test_supports_only_in_the_voting_phase(session: Session, phase: str) -> None:
    consultation = make_consultation(session, phase=phase)
    proposal = proposal_in(session, consultation)
    voter = resident(session)
    with pytest.raises(service.VotingClosed) as refused:
        service.add_support(session, voter, proposal, now=NOW)
    assert (refused.value.status_code, refused.value.code) == (409, "voting-closed")
    assert refused.value.message == ("Le vote n’est pas ouvert en ce moment : cette consultation n’est pas en phase "
                                     "de vote.")
    with pytest.raises(service.VotingClosed):
        service.withdraw_support(session, voter, proposal, now=NOW)


def test_a_support_kept_after_the_vote_cannot_be_withdrawn(session: Session) -> None:
    consultation = make_consultation(session)
    proposal = proposal_in(session, consultation)
    voter = resident(session)
    service.add_support(session, voter, proposal, now=NOW)
    with pytest.raises(service.VotingClosed):
        service.withdraw_support(session, voter, proposal, now=NOW + 10 * DAY)  # the results phase
    assert votes(session, proposal) == 1


@pytest.mark.parametrize(
    ("fields", "rules", "reason"),
    [
        ({"commune": "59002"}, {"scope_kind": "epci", "scope_code": LENS_LIEVIN},
         "Cette consultation est réservée aux habitants de la Communauté d’agglomération de Lens - Liévin."),
        ({"commune": "62510"}, {"scope_kind": "commune", "scope_code": "62498"},
         "Cette consultation est réservée aux habitants de Lens."),
        ({"commune": None}, {}, "Indiquez d’abord votre commune de résidence, depuis votre compte."),
        ({"verification": "declared"}, {"required_verification": "verified"}, None),
        ({"verification": "none"}, {}, "Déclarez votre commune de résidence depuis votre compte pour participer."),
        ({"birth_year": NOW.year - 15}, {"min_age": 16}, "Cette consultation est ouverte à partir de 16 ans."),
        ({"birth_year": None}, {"min_age": 16}, None),
    ],
)
def test_ineligible_residents_may_not_support(session: Session, fields: dict[str, object],
                                              rules: dict[str, object], reason: str | None) -> None:
    consultation = make_consultation(session, **rules)
    proposal = proposal_in(session, consultation)
    voter = resident(session, **fields)
    with pytest.raises(service.NotEligible) as refused:
        service.add_support(session, voter, proposal, now=NOW)
    assert (refused.value.status_code, refused.value.code) == (403, "not-eligible")
    if reason:
        assert refused.value.message == reason
    assert votes(session, proposal) == 0
    assert used(session, consultation, voter) is None


def test_an_erased_resident_may_not_support(session: Session) -> None:
    consultation = make_consultation(session)
    voter = resident(session)
    voter.user.erased_at = NOW
    with pytest.raises(service.NotEligible):
        service.add_support(session, voter, proposal_in(session, consultation), now=NOW)


@pytest.mark.parametrize("state", ["withdrawn", "hidden", "pending"])
def test_proposals_not_running_take_no_support(session: Session, state: str) -> None:
    consultation = make_consultation(session)
    proposal = proposal_in(session, consultation, state=state)
    moderator_like = resident(session)
    with pytest.raises((service.NotSupportable, proposals.ProposalNotFound)) as refused:
        service.add_support(session, moderator_like, proposal, now=NOW)
    if isinstance(refused.value, service.NotSupportable):
        assert (refused.value.status_code, refused.value.code) == (409, "not-supportable")
    assert votes(session, proposal) == 0


@pytest.mark.parametrize("state", ["evaluating", "accepted", "rejected"])
def test_proposals_under_evaluation_or_answered_still_count(session: Session, state: str) -> None:
    consultation = make_consultation(session)
    assert service.add_support(session, resident(session), proposal_in(session, consultation, state=state),
                               now=NOW).supported


@pytest.mark.parametrize("method", ["majority_judgment", "budget"])
def test_supports_belong_to_the_support_method(session: Session, method: str) -> None:
    consultation = make_consultation(session, voting_method=method, budget_total=1000 if method == "budget" else None)
    with pytest.raises(service.WrongMethod) as refused:
        service.add_support(session, resident(session), proposal_in(session, consultation), now=NOW)
    assert (refused.value.status_code, refused.value.code) == (409, "wrong-method")


def test_a_draft_consultation_takes_no_support(session: Session) -> None:
    consultation = make_consultation(session, status="draft")
    with pytest.raises(service.consultations.ConsultationNotFound):
        service.add_support(session, resident(session), proposal_in(session, consultation), now=NOW)


def test_the_first_vote_freezes_the_rules_and_the_proposal(session: Session) -> None:
    consultation = make_consultation(session)
    proposal = proposal_in(session, consultation)
    service.add_support(session, resident(session), proposal, now=NOW)
    service.add_support(session, resident(session), proposal, now=NOW + DAY)
    session.refresh(consultation)
    session.refresh(proposal)
    assert consultation.first_vote_at == NOW
    assert proposal.first_vote_at == NOW


def test_assisted_supports_name_the_mediator_in_the_audit_log(session: Session) -> None:
    consultation = make_consultation(session)
    proposal = proposal_in(session, consultation)
    mediator = resident(session, name="Médiatrice")
    voter = resident(session)
    service.add_support(session, voter, proposal, now=NOW, channel=Channel.assisted, mediator=mediator)
    (vote,) = session.exec(select(SupportVote).where(SupportVote.proposal_id == proposal.id))
    assert vote.channel == "assisted"
    (entry,) = audit.entries_for(session, target_type="proposal", target_id=proposal.id)
    assert (entry.action, entry.actor_id, entry.channel, entry.after) == (
        "support.added", mediator.id, "assisted", {"voter_id": voter.id})


def test_supported_ids_for_a_page(session: Session) -> None:
    consultation = make_consultation(session)
    a, b, c = (proposal_in(session, consultation) for _ in range(3))
    voter = resident(session)
    service.add_support(session, voter, a, now=NOW)
    service.add_support(session, voter, c, now=NOW)
    ids = [p.id or 0 for p in (a, b, c)]
    assert service.supported_ids(session, voter.id, ids) == {a.id, c.id}
    assert service.supported_ids(session, None, ids) == set()
    assert service.supported_ids(session, voter.id, []) == set()


# --- withdraw


def test_withdrawing_twice_changes_nothing(session: Session) -> None:
    consultation = make_consultation(session, max_supports=3)
    proposal = proposal_in(session, consultation)
    voter = resident(session)
    service.add_support(session, voter, proposal, now=NOW)
    assert service.withdraw_support(session, voter, proposal, now=NOW) == service.SupportState(False, 0, 3)
    assert service.withdraw_support(session, voter, proposal, now=NOW) == service.SupportState(False, 0, 3)
    assert used(session, consultation, voter) == 0
    # Withdrawing what one never supported neither.
    assert service.withdraw_support(session, resident(session), proposal, now=NOW).supports == 0
    assert_consistent(session, consultation)


def test_withdrawing_leaves_the_others_supports(session: Session) -> None:
    consultation = make_consultation(session)
    proposal = proposal_in(session, consultation)
    voters = [resident(session) for _ in range(3)]
    for voter in voters:
        service.add_support(session, voter, proposal, now=NOW)
    assert service.withdraw_support(session, voters[1], proposal, now=NOW).supports == 2
    assert service.supported_ids(session, voters[0].id, [proposal.id or 0]) == {proposal.id}
    assert_consistent(session, consultation)


def test_a_withdrawn_proposal_gives_its_supports_back_once(session: Session) -> None:
    """Withdrawing the proposal gave each supporter their support back; their support on it,
    withdrawn afterwards, must not be given back a second time."""
    consultation = make_consultation(session, max_supports=1)
    author = resident(session)
    withdrawn = make_proposal(session, consultation, author.user)
    other, third = proposal_in(session, consultation), proposal_in(session, consultation)
    voter = resident(session)
    service.add_support(session, voter, withdrawn, now=NOW)
    proposals.withdraw(session, author, withdrawn, now=NOW)
    assert used(session, consultation, voter) == 0
    service.add_support(session, voter, other, now=NOW)
    assert used(session, consultation, voter) == 1
    service.withdraw_support(session, voter, withdrawn, now=NOW)  # the old support on the withdrawn one
    assert used(session, consultation, voter) == 1
    with pytest.raises(service.SupportLimitReached):
        service.add_support(session, voter, third, now=NOW)
    assert_consistent(session, consultation)


def test_taking_back_a_support_on_a_withdrawn_proposal_alone(session: Session) -> None:
    """…nor go below zero (the database would refuse it)."""
    consultation = make_consultation(session, max_supports=2)
    author = resident(session)
    withdrawn = make_proposal(session, consultation, author.user)
    voter = resident(session)
    service.add_support(session, voter, withdrawn, now=NOW)
    proposals.withdraw(session, author, withdrawn, now=NOW)
    state = service.withdraw_support(session, voter, withdrawn, now=NOW)
    assert (state.supported, state.remaining) == (False, 2)
    assert used(session, consultation, voter) == 0
    assert_consistent(session, consultation)


# --- erasure


def test_erasure_keeps_the_supports_counted_without_the_voter(session: Session) -> None:
    consultation = make_consultation(session, max_supports=3)
    proposal = proposal_in(session, consultation)
    voter = resident(session)
    other = resident(session)
    service.add_support(session, voter, proposal, now=NOW)
    service.add_support(session, other, proposal, now=NOW)
    accounts.erase_account(session, DatabaseSessionStore(lambda **_options: nullcontext(session)), voter.user,
                           now=NOW)
    assert count_of(session, proposal) == 2
    voter_ids = sorted(v.voter_id or 0 for v in session.exec(
        select(SupportVote).where(SupportVote.proposal_id == proposal.id)))
    assert voter_ids == sorted([0, other.id])  # one vote with voter_id NULL
    assert used(session, consultation, voter) is None
    assert service.supported_ids(session, voter.id, [proposal.id or 0]) == set()
    exported = accounts.export_data(session, DatabaseSessionStore(lambda **_options: nullcontext(session)),
                                    other.user, now=NOW)
    assert [s["proposal_id"] for s in exported["supports"]] == [proposal.id]
    # Two anonymous votes on one proposal are allowed: NULLs are distinct in the unique index.
    third = resident(session)
    service.add_support(session, third, proposal, now=NOW)
    accounts.erase_account(session, DatabaseSessionStore(lambda **_options: nullcontext(session)), third.user,
                           now=NOW)
    assert count_of(session, proposal) == votes(session, proposal) == 3


# --- the database's own rules


def store(session: Session, row: object) -> None:
    session.add(row)
    session.flush()


def test_the_database_refuses_a_second_support_through_the_orm(session: Session) -> None:
    consultation = make_consultation(session)
    proposal = proposal_in(session, consultation)
    voter = resident(session)
    service.add_support(session, voter, proposal, now=NOW)
    duplicate = SupportVote(proposal_id=proposal.id or 0, consultation_id=consultation.id or 0, voter_id=voter.id,
                            cast_at=NOW)
    with pytest.raises(IntegrityError), session.begin_nested():
        store(session, duplicate)
    assert votes(session, proposal) == 1


def test_the_database_refuses_a_second_support_in_raw_sql(session: Session) -> None:
    consultation = make_consultation(session)
    proposal = proposal_in(session, consultation)
    voter = resident(session)
    insert = text("INSERT INTO support_vote (proposal_id, consultation_id, voter_id, channel, cast_at) "
                  "VALUES (:proposal, :consultation, :voter, 'online', :at)")
    values = {"proposal": proposal.id, "consultation": consultation.id, "voter": voter.id, "at": NOW}
    with session.begin_nested():
        session.execute(insert, values)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(insert, values)
    assert votes(session, proposal) == 1


def test_the_database_refuses_a_second_participation_row_and_negative_counts(session: Session) -> None:
    consultation = make_consultation(session)
    voter = resident(session)
    session.add(Participation(consultation_id=consultation.id or 0, voter_id=voter.id, supports_used=1))
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        store(session, Participation(consultation_id=consultation.id or 0, voter_id=voter.id))
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(text("UPDATE participation SET supports_used = -1 WHERE voter_id = :voter"),
                        {"voter": voter.id})
    proposal = proposal_in(session, consultation)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(text("UPDATE proposal SET supports_count = -1 WHERE id = :id"), {"id": proposal.id})
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(text("INSERT INTO support_vote (proposal_id, consultation_id, voter_id, channel, cast_at) "
                             "VALUES (:proposal, :consultation, :voter, 'pigeon', :at)"),
                        {"proposal": proposal.id, "consultation": consultation.id, "voter": voter.id, "at": NOW})


def test_the_unique_constraints_exist_after_the_migrations(session: Session) -> None:
    inspector = inspect(session.connection())
    unique = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("support_vote")}
    assert ("proposal_id", "voter_id") in unique
    unique = {tuple(c["column_names"]) for c in inspector.get_unique_constraints("participation")}
    assert ("consultation_id", "voter_id") in unique
    checks = " ".join(c["sqltext"] for c in inspector.get_check_constraints("participation"))
    assert "supports_used >= 0" in checks


def test_moving_the_dates_reopens_the_vote(session: Session) -> None:
    consultation = make_consultation(session, phase="results")
    proposal = proposal_in(session, consultation)
    voter = resident(session)
    with pytest.raises(service.VotingClosed):
        service.add_support(session, voter, proposal, now=NOW)
    for name, value in phase_dates("voting").items():  # a moderator extends the vote
        setattr(consultation, name, value)
    session.flush()
    assert service.add_support(session, voter, proposal, now=NOW).supported
