"""Merging duplicates: supports carry over and a resident who supported several counts once (the
proposal's count, the residents' participations and the results agree with the rows); only
moderators of the consultation merge, only within one consultation, only shown proposals, never
once a ballot is cast; followers carry over, every merge is audited, and a merged proposal's page
and API say where it went."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from app.accounts import service as accounts
from app.accounts.models import Role
from app.accounts.policy import Principal
from app.actions import service as actions
from app.audit import service as audit
from app.consultations.models import Consultation
from app.core.errors import Forbidden
from app.moderation import merging
from app.notifications import service as notifications
from app.notifications.models import FollowTarget
from app.proposals.models import Proposal
from app.voting import results
from app.voting import service as voting
from app.voting.ballots import cast_ballot
from app.voting.models import Participation, SupportVote
from tests.actions.helpers import principal, staff
from tests.factories import NOW, bearer, make_consultation, make_proposal, make_user
from tests.support import problem


def support(session: Session, voter: Principal, proposal: Proposal) -> None:
    voting.add_support(session, voter, proposal, now=NOW)


def rows(session: Session, proposal: Proposal) -> int:
    return session.exec(select(func.count()).select_from(SupportVote).where(SupportVote.proposal_id == proposal.id)
                        ).one()


def used(session: Session, consultation: Consultation, voter: Principal) -> int:
    row = session.exec(select(Participation).where(Participation.consultation_id == consultation.id,
                                                   Participation.voter_id == voter.id)).first()
    return row.supports_used if row else 0


def held(session: Session, consultation: Consultation, voter: Principal) -> int:
    return session.exec(select(func.count()).select_from(SupportVote).where(
        SupportVote.consultation_id == consultation.id, SupportVote.voter_id == voter.id)).one()


@pytest.fixture
def consultation(session: Session) -> Consultation:
    return make_consultation(session, axis_number=1, max_supports=3)


def three(session: Session, consultation: Consultation) -> list[Proposal]:
    author = make_user(session)
    return [make_proposal(session, consultation, author, title=f"Un jardin partagé, version {n}") for n in range(3)]


def test_supports_carry_over_and_count_once(session: Session, consultation: Consultation) -> None:
    target, first, second = three(session, consultation)
    voters = [principal(session, make_user(session)) for _ in range(4)]
    both, all_three, only_first, only_second = voters
    for voter, supported in ((both, [target, first]), (all_three, [target, first, second]),
                             (only_first, [first]), (only_second, [second, first])):
        for proposal in supported:
            support(session, voter, proposal)
    assert [used(session, consultation, v) for v in voters] == [2, 3, 1, 2]

    moderator = staff(session, axis=1)
    result = merging.merge(session, moderator, into=target.id or 0, sources=[first.id or 0, second.id or 0],
                           now=NOW)
    assert (result.moved, result.dropped) == (2, 4)
    assert result.voters_counted_once == sorted([both.id, all_three.id, only_second.id])
    for proposal in (target, first, second):
        session.refresh(proposal)
    assert target.supports_count == rows(session, target) == 4  # each of the four residents, once
    assert (first.state, first.merged_into_id, first.supports_count, rows(session, first)) == (
        "merged", target.id, 0, 0)
    assert (second.state, second.merged_into_id, second.supports_count, rows(session, second)) == (
        "merged", target.id, 0, 0)
    for voter in voters:
        assert used(session, consultation, voter) == held(session, consultation, voter) == 1
    # The supports given back can be used again, up to the limit.
    support(session, all_three, make_proposal(session, consultation, make_user(session)))
    assert used(session, consultation, all_three) == 2
    # Results: the merged proposals are gone, the one that stays has every supporter once.
    participants, items = results.compute(session, consultation)
    assert participants == 4
    assert next((item["proposal_id"], item["supports"]) for item in items if item["supports"]) == (target.id, 4)
    assert {item["proposal_id"] for item in items}.isdisjoint({first.id, second.id})


def test_the_earliest_first_vote_and_the_channel_stay(session: Session, consultation: Consultation) -> None:
    target, first, _second = three(session, consultation)
    early = principal(session, make_user(session))
    voting.add_support(session, early, first, now=NOW - timedelta(days=2))
    voting.add_support(session, principal(session, make_user(session)), target, now=NOW)
    merging.merge(session, staff(session, axis=1), into=target.id or 0, sources=[first.id or 0], now=NOW)
    session.refresh(target)
    assert target.first_vote_at == NOW - timedelta(days=2)
    vote = session.exec(select(SupportVote).where(SupportVote.voter_id == early.id)).one()
    assert (vote.proposal_id, vote.cast_at) == (target.id, NOW - timedelta(days=2))


def test_followers_carry_over_and_each_merge_is_audited(session: Session, consultation: Consultation) -> None:
    target, first, second = three(session, consultation)
    follower = make_user(session)
    notifications.follow(session, follower.id or 0, FollowTarget.proposal, first.id or 0, now=NOW)
    support(session, principal(session, make_user(session)), first)
    moderator = staff(session, axis=1)
    merging.merge(session, moderator, into=target.id or 0, sources=[second.id or 0, first.id or 0], now=NOW)
    assert notifications.is_following(session, follower.id, FollowTarget.proposal, target.id or 0)
    for source in (first, second):
        (entry,) = audit.entries_for(session, target_type="proposal", target_id=source.id)
        assert (entry.action, entry.actor_id, entry.before["state"]) == ("proposal.merged", moderator.id, "published")
        assert entry.after == {"state": "merged", "merged_into_id": target.id, "supports": 0}
    (entry,) = audit.entries_for(session, target_type="proposal", target_id=target.id)
    assert entry.action == "proposal.merge_received"
    assert entry.before == {"state": "published", "supports": 0}
    assert entry.after == {"state": "published", "supports": 1, "merged": sorted([first.id, second.id]), "moved": 1,
                           "dropped": 0}


@pytest.mark.parametrize("who", ["moderator of axis 2", "moderator of another consultation", "evaluator",
                                 "mediator", "resident"])
def test_only_its_moderators_merge(session: Session, consultation: Consultation, who: str) -> None:
    target, first, _second = three(session, consultation)
    other = make_consultation(session, axis_number=1)
    person = {
        "moderator of axis 2": lambda: staff(session, axis=2),
        "moderator of another consultation": lambda: staff(session, consultation_id=other.id),
        "evaluator": lambda: staff(session, Role.evaluator, axis=None),
        "mediator": lambda: staff(session, Role.mediator, axis=None),
        "resident": lambda: principal(session, make_user(session)),
    }[who]()
    with pytest.raises(Forbidden):
        merging.merge(session, person, into=target.id or 0, sources=[first.id or 0], now=NOW)
    session.refresh(first)
    assert first.state == "published"


def test_moderators_of_the_consultation_and_admins_merge(session: Session, consultation: Consultation) -> None:
    target, first, second = three(session, consultation)
    merging.merge(session, staff(session, consultation_id=consultation.id), into=target.id or 0,
                  sources=[first.id or 0], now=NOW)
    merging.merge(session, staff(session, Role.admin, axis=None), into=target.id or 0, sources=[second.id or 0],
                  now=NOW)
    assert (first.state, second.state) == ("merged", "merged")


def test_refusals(session: Session, consultation: Consultation) -> None:
    target, first, second = three(session, consultation)
    elsewhere = make_proposal(session, make_consultation(session, axis_number=1), make_user(session))
    moderator = staff(session, axis=1)
    with pytest.raises(merging.InvalidMerge):
        merging.merge(session, moderator, into=target.id or 0, sources=[], now=NOW)
    with pytest.raises(merging.InvalidMerge):
        merging.merge(session, moderator, into=target.id or 0, sources=[target.id or 0], now=NOW)
    with pytest.raises(merging.InvalidMerge):
        merging.merge(session, moderator, into=target.id or 0, sources=[elsewhere.id or 0], now=NOW)
    with pytest.raises(merging.InvalidMerge):
        merging.merge(session, moderator, into=target.id or 0, sources=[10**9], now=NOW)
    second.state = "withdrawn"
    session.add(second)
    session.flush()
    with pytest.raises(merging.NotMergeable):
        merging.merge(session, moderator, into=target.id or 0, sources=[first.id or 0, second.id or 0], now=NOW)
    merging.merge(session, moderator, into=target.id or 0, sources=[first.id or 0], now=NOW)
    with pytest.raises(merging.NotMergeable):  # already merged: not twice
        merging.merge(session, moderator, into=target.id or 0, sources=[first.id or 0], now=NOW)
    with pytest.raises(merging.NotMergeable):  # nor into a merged one
        merging.merge(session, moderator, into=first.id or 0, sources=[target.id or 0], now=NOW)
    assert all(p.state != "merged" for p in (target, second))


@pytest.mark.parametrize("method", ["majority_judgment", "budget"])
def test_no_merge_once_a_ballot_is_cast(session: Session, method: str) -> None:
    consultation = make_consultation(session, axis_number=1, voting_method=method, budget_total=100000)
    author = make_user(session)
    target, first = (make_proposal(session, consultation, author, estimated_cost=1000) for _ in range(2))
    moderator = staff(session, axis=1)
    third = make_proposal(session, consultation, author, estimated_cost=1000)
    merging.merge(session, moderator, into=target.id or 0, sources=[third.id or 0], now=NOW)  # before any ballot
    voter = principal(session, make_user(session))
    if method == "majority_judgment":
        cast_ballot(session, voter, consultation, grades={target.id or 0: "bien", first.id or 0: "passable"}, now=NOW)
    else:
        cast_ballot(session, voter, consultation, proposal_ids=[first.id or 0], now=NOW)
    with pytest.raises(merging.BallotsCast) as refused:
        merging.merge(session, moderator, into=target.id or 0, sources=[first.id or 0], now=NOW)
    assert "bulletins" in refused.value.message
    assert first.state == "published"


def test_a_merged_proposal_says_where_it_went(client: TestClient, session: Session,
                                              consultation: Consultation) -> None:
    target, first, _second = three(session, consultation)
    merging.merge(session, staff(session, axis=1), into=target.id or 0, sources=[first.id or 0], now=NOW)
    page = client.get(f"/propositions/{first.id}")
    assert page.status_code == 200
    assert "Proposition fusionnée" in page.text
    assert f'href="/propositions/{target.id}"' in page.text
    data = client.get(f"/api/v1/proposals/{first.id}").json()
    assert (data["state"], data["merged_into_id"]) == ("merged", target.id)
    listing = client.get(f"/api/v1/consultations/{consultation.id}/proposals").json()
    assert {item["id"] for item in listing["items"]} == {target.id, _second.id}


def test_merge_through_the_api(client: TestClient, session: Session, consultation: Consultation) -> None:
    target, first, second = three(session, consultation)
    voter = make_user(session)
    for proposal in (target, first):
        support(session, principal(session, voter), proposal)
    moderator_user = make_user(session)
    accounts.grant_role(session, moderator_user, Role.moderator, now=NOW, consultation_id=consultation.id)
    headers = bearer(session, moderator_user)
    response = client.post("/api/v1/proposals/merge", json={"into": target.id, "from": [first.id, second.id]},
                           headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"into": target.id, "merged": sorted([first.id, second.id]), "supports": 1,
                               "moved": 0, "dropped": 1}
    again = client.post("/api/v1/proposals/merge", json={"into": target.id, "from": [first.id]}, headers=headers)
    problem(again, 409, "/problems/not-mergeable")
    other = make_proposal(session, consultation, make_user(session))
    refused = client.post("/api/v1/proposals/merge", json={"into": target.id, "from": [other.id]},
                          headers=bearer(session, make_user(session)))
    problem(refused, 403)
    assert client.post("/api/v1/proposals/merge", json={"into": target.id, "from": []},
                       headers=headers).status_code == 422
    session.refresh(other)
    assert other.state == "published"
    assert session.exec(select(func.count()).select_from(Proposal).where(
        col(Proposal.merged_into_id) == target.id)).one() == 2


def test_the_action_of_a_duplicate_also_comes_from_the_proposal_that_stays(session: Session,
                                                                           consultation: Consultation) -> None:
    target, first, _second = three(session, consultation)
    moderator = staff(session, axis=1)
    action = actions.answer(session, moderator, first, state="accepted", text="Retenue, la ville s’en charge.",
                            now=NOW).action
    assert action is not None
    merging.merge(session, moderator, into=target.id or 0, sources=[first.id or 0], now=NOW)
    assert actions.proposal_ids_of(session, action) == sorted([target.id, first.id])
    assert [p.id for p in actions.proposals_of(session, action)] == sorted([target.id, first.id])
    assert [a.id for a in actions.actions_of_proposal(session, target)] == [action.id]
