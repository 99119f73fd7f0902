"""Results of the three voting methods (app/voting/results.py) and GET
/api/v1/consultations/{id}/results: ranks (ties shared), counts, the grades of majority judgment,
the funded line of budgets; hidden until the end when the consultation says so; a snapshot once
the vote is over that later votes or moderation acts never change; tallies by SQL whose number
of statements does not grow with the ballots."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, func, insert
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.accounts.policy import Principal
from app.consultations.models import Consultation
from app.moderation import service as moderation
from app.moderation.models import ReportReason
from app.proposals import service as proposals_service
from app.proposals.models import Proposal, ProposalState
from app.territory.models import Axis
from app.voting import results
from app.voting import service as supports
from app.voting.ballots import cast_ballot
from app.voting.methods.majority_judgment import GRADES
from app.voting.models import Ballot, BallotGrade, ResultSnapshot
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.support import problem, statements

E, TB, B, AB, P, INS, R = GRADES
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
ZEROS = dict.fromkeys(GRADES, 0)


@pytest.fixture(autouse=True)
def _clock(app: FastAPI) -> None:
    app.state.clock = lambda: NOW


def resident(session: Session, **fields: Any) -> Principal:
    return accounts.load_principal(session, make_user(session, **fields))


def staff(session: Session, role: Role, axis_number: int | None = 1) -> dict[str, str]:
    user = make_user(session)
    axis_id = session.exec(select(Axis.id).where(Axis.number == axis_number)).one() if axis_number else None
    accounts.grant_role(session, user, role, now=NOW, axis_id=axis_id)
    return bearer(session, user)


def proposals_of(session: Session, consultation: Consultation, count: int,
                 costs: tuple[int, ...] | None = None) -> list[int]:
    """`count` proposals submitted one day apart, the first the earliest."""
    author = make_user(session)
    made = []
    for n in range(count):
        fields = {"estimated_cost": costs[n]} if costs else {}
        made.append(make_proposal(session, consultation, author, now=NOW - DAY * (20 - n), **fields).id or 0)
    return made


def vote_mj(session: Session, consultation: Consultation, ids: list[int], *ballots: tuple[str, ...],
            now: datetime = NOW) -> None:
    for grades in ballots:
        cast_ballot(session, resident(session), consultation, grades=dict(zip(ids, grades, strict=True)), now=now)


def vote_budget(session: Session, consultation: Consultation, *ballots: list[int]) -> None:
    for choice in ballots:
        cast_ballot(session, resident(session), consultation, proposal_ids=choice, now=NOW)


def support(session: Session, voter: Principal, pid: int) -> None:
    proposal = session.get(Proposal, pid)
    assert proposal is not None
    supports.add_support(session, voter, proposal, now=NOW)


def get(client: TestClient, consultation: Consultation, headers: dict[str, str] | None = None) -> Response:
    return client.get(f"/api/v1/consultations/{consultation.id}/results", headers=headers or {})


def items(response: Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()["items"]


def mj_counts(**counts: int) -> dict[str, int]:
    return ZEROS | counts


# --- the three methods, ties shown as ties


def test_support_results_rank_by_supports_with_shared_ranks(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, voting_method="support")
    a, b, c, d, gone = proposals_of(session, consultation, 5)
    voters = [resident(session) for _ in range(3)]
    for voter, chosen in zip(voters, ([b, c, gone], [b, c, a], [gone]), strict=True):
        for pid in chosen:
            support(session, voter, pid)
    withdrawn = session.get(Proposal, gone)
    assert withdrawn is not None
    proposals_service.withdraw(session, accounts.load_principal(session, session.get(User, withdrawn.author_id)),
                               withdrawn, now=NOW)
    response = get(client, consultation)
    data = response.json()
    assert (data["method"], data["participants"], data["is_final"], data["budget_total"]) == ("support", 2, False, None)
    # b and c: 2 supports each, tied first (b, submitted earlier, listed first); a third; d none.
    # The withdrawn proposal's supports no longer count, nor does the voter who supported only it.
    assert items(response) == [
        {"proposal_id": b, "rank": 1, "supports": 2},
        {"proposal_id": c, "rank": 1, "supports": 2},
        {"proposal_id": a, "rank": 3, "supports": 1},
        {"proposal_id": d, "rank": 4, "supports": 0},
    ]


def test_majority_judgment_results(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, voting_method="majority_judgment")
    a, b, c, d = proposals_of(session, consultation, 4)
    vote_mj(session, consultation, [a, b, c, d],
            (E, B, TB, B),
            (B, E, TB, B),
            (B, P, AB, B),
            (P, B, R, P))
    response = get(client, consultation)
    assert (response.json()["method"], response.json()["participants"]) == ("majority_judgment", 4)
    # a: E B B P, majority value B B P E; b: the same grades from other ballots: a true tie.
    # d: B B B P, majority value B B P B: tied with a and b until the fourth grade, bien < excellent.
    # c: TB TB AB R, majority grade assez_bien (the lower of the two middle grades): last.
    assert items(response) == [
        {"proposal_id": a, "rank": 1, "grades": mj_counts(excellent=1, bien=2, passable=1), "majority_grade": B,
         "total": 4},
        {"proposal_id": b, "rank": 1, "grades": mj_counts(excellent=1, bien=2, passable=1), "majority_grade": B,
         "total": 4},
        {"proposal_id": d, "rank": 3, "grades": mj_counts(bien=3, passable=1), "majority_grade": B, "total": 4},
        {"proposal_id": c, "rank": 4, "grades": mj_counts(tres_bien=2, assez_bien=1, a_rejeter=1),
         "majority_grade": AB, "total": 4},
    ]
    assert list(items(response)[0]["grades"]) == list(GRADES)  # best first, every grade


def test_majority_judgment_results_before_any_ballot(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, voting_method="majority_judgment")
    a, b = proposals_of(session, consultation, 2)
    response = get(client, consultation)
    assert response.json()["participants"] == 0
    assert items(response) == [
        {"proposal_id": pid, "rank": 1, "grades": ZEROS, "majority_grade": None, "total": 0} for pid in (a, b)
    ]


def test_budget_results_fund_in_rank_order_skipping_what_does_not_fit(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, voting_method="budget", budget_total=10_000)
    p1, p2, p3, p4, p5 = proposals_of(session, consultation, 5, costs=(6000, 5000, 3000, 1000, 1000))
    vote_budget(session, consultation, [p1, p3], [p1, p4], [p1], [p2, p3], [p2], [p5])
    response = get(client, consultation)
    data = response.json()
    assert (data["method"], data["participants"], data["budget_total"]) == ("budget", 6, 10_000)
    # p1 (3 votes) funded, 4 000 left; p2 and p3 (2 votes each): the cheaper p3 first, funded,
    # 1 000 left; p2 (5 000) does not fit: skipped; p4 and p5 (1 vote, 1 000 each): the earlier
    # submitted p4 first, funded, an exact fit; nothing left for p5.
    assert items(response) == [
        {"proposal_id": p1, "rank": 1, "votes": 3, "cost": 6000, "funded": True, "remaining": 4000},
        {"proposal_id": p3, "rank": 2, "votes": 2, "cost": 3000, "funded": True, "remaining": 1000},
        {"proposal_id": p2, "rank": 3, "votes": 2, "cost": 5000, "funded": False, "remaining": 1000},
        {"proposal_id": p4, "rank": 4, "votes": 1, "cost": 1000, "funded": True, "remaining": 0},
        {"proposal_id": p5, "rank": 5, "votes": 1, "cost": 1000, "funded": False, "remaining": 0},
    ]


def test_results_leave_out_proposals_no_longer_on_the_ballot(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, voting_method="majority_judgment")
    a, b, c = proposals_of(session, consultation, 3)
    vote_mj(session, consultation, [a, b, c], (E, B, R), (TB, B, R))
    hidden = session.get(Proposal, b)
    assert hidden is not None
    hidden.state = ProposalState.hidden
    session.add(hidden)
    session.flush()
    response = get(client, consultation)
    assert [(item["proposal_id"], item["rank"]) for item in items(response)] == [(a, 1), (c, 2)]
    assert response.json()["participants"] == 2


def test_an_erased_voter_still_counts(client: TestClient, session: Session) -> None:
    from contextlib import nullcontext

    from app.accounts.sessions import DatabaseSessionStore

    consultation = make_consultation(session, voting_method="majority_judgment")
    a, b = proposals_of(session, consultation, 2)
    user = make_user(session)
    cast_ballot(session, accounts.load_principal(session, user), consultation, grades={a: E, b: R}, now=NOW)
    vote_mj(session, consultation, [a, b], (E, R))
    accounts.erase_account(session, DatabaseSessionStore(lambda **_options: nullcontext(session)), user, now=NOW)
    response = get(client, consultation)
    assert response.json()["participants"] == 2
    assert items(response)[0]["grades"] == mj_counts(excellent=2)


# --- hidden until the end of the vote


@pytest.mark.parametrize("method", ["support", "majority_judgment", "budget"])
def test_results_hidden_until_the_end_of_the_vote(client: TestClient, session: Session, app: FastAPI,
                                                  method: str) -> None:
    consultation = make_consultation(session, voting_method=method, results_hidden_until_end=True,
                                     budget_total=10_000 if method == "budget" else None)
    proposals_of(session, consultation, 2, costs=(1000, 2000))
    for headers in ({}, bearer(session, make_user(session)), staff(session, Role.moderator, axis_number=2)):
        data = problem(get(client, consultation, headers), 403, "/problems/results-hidden")
        assert data["detail"] == "Les résultats de cette consultation seront publiés à la fin du vote."
    # The consultation's moderators and the admins see them as they stand.
    for headers in (staff(session, Role.moderator), staff(session, Role.admin, axis_number=None)):
        response = get(client, consultation, headers)
        assert response.status_code == 200, response.text
        assert (response.json()["method"], response.json()["is_final"]) == (method, False)
    assert session.exec(select(ResultSnapshot).where(ResultSnapshot.consultation_id == consultation.id)).first() is None
    # Once the vote is over, everybody.
    app.state.clock = lambda: consultation.results_starts_at
    response = get(client, consultation)
    assert response.status_code == 200, response.text
    assert response.json()["is_final"] is True


def test_results_are_hidden_before_the_vote_too(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, phase="proposals", voting_method="majority_judgment",
                                     results_hidden_until_end=True)
    problem(get(client, consultation), 403, "/problems/results-hidden")
    shown = make_consultation(session, phase="proposals", voting_method="majority_judgment")
    assert get(client, shown).status_code == 200


def test_results_shown_during_the_vote_when_not_hidden(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, voting_method="majority_judgment")
    a, b = proposals_of(session, consultation, 2)
    vote_mj(session, consultation, [a, b], (E, R))
    assert [item["proposal_id"] for item in items(get(client, consultation))] == [a, b]
    vote_mj(session, consultation, [a, b], (R, E), (R, E))
    response = get(client, consultation)
    assert [item["proposal_id"] for item in items(response)] == [b, a]  # live: the latest ballots count
    assert (response.json()["is_final"], response.json()["computed_at"]) == (False, "2027-03-01T12:00:00Z")


def test_results_of_a_draft_are_404_to_the_public(client: TestClient, session: Session) -> None:
    consultation = make_consultation(session, voting_method="majority_judgment", status="draft")
    problem(get(client, consultation), 404)
    problem(client.get("/api/v1/consultations/999999/results"), 404)


# --- the snapshot of a closed vote


def snapshot_of(session: Session, consultation: Consultation) -> list[ResultSnapshot]:
    return list(session.exec(select(ResultSnapshot).where(ResultSnapshot.consultation_id == consultation.id)
                             .execution_options(populate_existing=True)))


def test_a_closed_vote_is_published_once_and_never_changes(client: TestClient, session: Session,
                                                           app: FastAPI) -> None:
    consultation = make_consultation(session, voting_method="majority_judgment")
    a, b, c = proposals_of(session, consultation, 3)
    vote_mj(session, consultation, [a, b, c], (E, B, R), (TB, B, R), (TB, P, AB))
    live = get(client, consultation).json()
    assert snapshot_of(session, consultation) == []  # nothing stored while the vote goes on

    closed_at = consultation.results_starts_at + HOUR
    app.state.clock = lambda: closed_at
    published = get(client, consultation).json()
    assert (published["is_final"], published["computed_at"]) == (True, "2027-03-06T13:00:00Z")
    assert (published["participants"], published["items"]) == (live["participants"], live["items"])
    [snapshot] = snapshot_of(session, consultation)
    assert (snapshot.method, snapshot.participants, snapshot.items, snapshot.computed_at) == (
        "majority_judgment", 3, published["items"], closed_at)

    # Afterwards: a ballot slips in (no service would take it now), a proposal is hidden by
    # moderation; the live tally would change, the published results do not.
    ballot = Ballot(consultation_id=consultation.id or 0, voter_id=make_user(session).id, cast_at=closed_at,
                    updated_at=closed_at)
    session.add(ballot)
    session.flush()
    session.execute(insert(BallotGrade), [{"ballot_id": ballot.id, "proposal_id": pid, "grade": R}
                                          for pid in (a, b, c)])
    hidden_at = closed_at + DAY
    moderation.report(session, resident(session), target_type="proposal", target_id=a, reason=ReportReason.spam,
                      text=None, now=hidden_at, threshold=1)
    participants, recomputed = results.compute(session, consultation)
    assert (participants, [item["proposal_id"] for item in recomputed]) == (4, [b, c])  # what a recount would say

    for moment in (closed_at + 2 * DAY, consultation.follow_up_starts_at + DAY):
        app.state.clock = lambda moment=moment: moment
        again = get(client, consultation).json()
        assert again == published
    assert len(snapshot_of(session, consultation)) == 1

    # The later moderation act is listed beside the results, not folded into them.
    acts = results.later_moderation_acts(session, consultation, since=snapshot.computed_at)
    assert [(act.action, act.target_type, act.target_id, act.at) for act in acts] == [
        ("content.hidden", "proposal", str(a), hidden_at)]
    assert results.later_moderation_acts(session, consultation, since=hidden_at) == []


def test_the_snapshot_is_taken_by_the_first_request_after_the_vote_whenever_it_comes(
    client: TestClient, session: Session, app: FastAPI
) -> None:
    consultation = make_consultation(session, voting_method="budget", budget_total=5000)
    p1, p2 = proposals_of(session, consultation, 2, costs=(4000, 2000))
    vote_budget(session, consultation, [p1], [p2], [p1])
    late = consultation.follow_up_starts_at + 3 * DAY
    app.state.clock = lambda: late
    data = get(client, consultation).json()
    assert (data["is_final"], data["computed_at"], data["participants"], data["budget_total"]) == (
        True, "2027-03-19T12:00:00Z", 3, 5000)
    assert [(item["proposal_id"], item["funded"]) for item in data["items"]] == [(p1, True), (p2, False)]
    assert snapshot_of(session, consultation)[0].computed_at == late


def test_a_support_vote_snapshot_ignores_a_later_withdrawal(client: TestClient, session: Session,
                                                            app: FastAPI) -> None:
    consultation = make_consultation(session, voting_method="support")
    a, b = proposals_of(session, consultation, 2)
    voter = resident(session)
    support(session, voter, a)
    support(session, voter, b)
    support(session, resident(session), b)
    app.state.clock = lambda: consultation.results_starts_at
    published = get(client, consultation).json()
    assert [(i["proposal_id"], i["rank"], i["supports"]) for i in published["items"]] == [(b, 1, 2), (a, 2, 1)]
    withdrawn = session.get(Proposal, b)
    assert withdrawn is not None
    author = accounts.load_principal(session, session.get(User, withdrawn.author_id))  # type: ignore[arg-type]
    proposals_service.withdraw(session, author, withdrawn, now=consultation.results_starts_at + HOUR)
    assert get(client, consultation).json() == published


def test_the_snapshot_keeps_the_method_it_was_computed_with(session: Session) -> None:
    consultation = make_consultation(session, phase="results", voting_method="majority_judgment")
    a, = proposals_of(session, consultation, 1)
    first = results.get_results(session, consultation, now=NOW)
    consultation.voting_method = "support"  # cannot happen through the services once voted; still
    session.add(consultation)
    session.flush()
    again = results.get_results(session, consultation, now=NOW + DAY)
    assert (again.method, again.items, again.computed_at) == ("majority_judgment", first.items, NOW)
    assert again.items[0]["proposal_id"] == a


# --- tallies by SQL


def add_ballots(session: Session, consultation: Consultation, ids: list[int], count: int) -> None:
    """`count` ballots straight into the tables (the services are tested elsewhere; this is bulk)."""
    users = [make_user(session) for _ in range(count)]
    for n, user in enumerate(users):
        ballot = Ballot(consultation_id=consultation.id or 0, voter_id=user.id, cast_at=NOW, updated_at=NOW)
        session.add(ballot)
        session.flush()
        if consultation.voting_method == "majority_judgment":
            session.execute(insert(BallotGrade), [
                {"ballot_id": ballot.id, "proposal_id": pid, "grade": GRADES[(n + i) % 7]} for i, pid in enumerate(ids)
            ])
        else:
            from app.voting.models import BallotChoice

            session.execute(insert(BallotChoice), [{"ballot_id": ballot.id, "proposal_id": ids[n % len(ids)]}])


@pytest.mark.parametrize("method", ["support", "majority_judgment", "budget"])
def test_results_cost_the_same_statements_whatever_the_number_of_ballots(
    client: TestClient, session: Session, engine: Engine, app: FastAPI, method: str
) -> None:
    consultation = make_consultation(session, voting_method=method, budget_total=100_000)
    ids = proposals_of(session, consultation, 4, costs=(1000, 2000, 3000, 4000))
    url = f"/api/v1/consultations/{consultation.id}/results"
    counts = []
    for batch in (5, 45):  # 5 ballots, then 50
        if method == "support":
            for n in range(batch):
                support(session, resident(session), ids[n % len(ids)])
        else:
            add_ballots(session, consultation, ids, batch)
        session.flush()
        with statements(engine) as seen:
            response = client.get(url)
        assert response.status_code == 200, response.text
        tallied = response.json()
        counts.append(len(seen))
        # What is counted is grouped in the database: one statement per tally, never a row per ballot.
        assert sum("GROUP BY" in s.upper() for s in seen) == 1
    assert tallied["participants"] == 50
    assert counts[0] == counts[1], counts
    assert counts[0] <= 6, counts
    # The snapshot, stored once the vote is over, is computed the same way.
    app.state.clock = lambda: consultation.results_starts_at
    with statements(engine) as seen:
        assert client.get(url).json()["items"] == tallied["items"]
    assert len(seen) <= counts[0] + 6, seen


def test_majority_judgment_tallies_are_exact_on_many_ballots(session: Session) -> None:
    consultation = make_consultation(session, voting_method="majority_judgment")
    ids = proposals_of(session, consultation, 3)
    add_ballots(session, consultation, ids, 70)
    participants, ranked = results.compute(session, consultation)
    assert participants == 70
    grades = {item["proposal_id"]: item["grades"] for item in ranked}
    for i, pid in enumerate(ids):
        # Ballot n gave grade (n + i) % 7: 70 ballots, ten of each grade.
        assert grades[pid] == dict.fromkeys(GRADES, 10), i
    assert session.exec(select(func.count()).select_from(BallotGrade)
                        .where(BallotGrade.proposal_id == ids[0])).one() == 70


def test_closing_finished_votes_fixes_their_results_once(session: Session) -> None:
    author = make_user(session)
    ended = make_consultation(session, phase="results")
    make_proposal(session, ended, author)
    voting = make_consultation(session, phase="voting")
    draft = make_consultation(session, phase="results", status="draft")
    closed = results.close_finished_votes(session, now=NOW)
    closed_ids = {c.id for c in closed}
    assert ended.id in closed_ids
    assert voting.id not in closed_ids
    assert draft.id not in closed_ids
    snapshot = session.exec(select(ResultSnapshot).where(ResultSnapshot.consultation_id == ended.id)).one()
    assert snapshot.computed_at == NOW
    assert results.close_finished_votes(session, now=NOW + timedelta(hours=1)) == []  # once only
    later = results.get_results(session, ended, now=NOW + timedelta(days=1))
    assert later.is_final
    assert later.computed_at == NOW  # the results page shows the stored snapshot
