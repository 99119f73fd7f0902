"""Participatory budget tally (app/voting/methods/budget.py), without a database: proposals
ranked by votes (equal votes: the cheaper, then the earlier submitted), funded in that order
while they fit in what remains; one too expensive for the remainder is skipped."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.voting.methods.budget import BudgetLine, BudgetProposal, BudgetResult, allocate


def summary(result: BudgetResult) -> list[tuple[int, int, bool, int]]:
    return [(line.proposal_id, line.rank, line.funded, line.remaining) for line in result.lines]


def test_a_skipped_proposal_then_a_cheaper_one_funded() -> None:
    # Budget 100. By votes: 1 (10 votes, 60 €) fits: 40 left; 2 (8 votes, 50 €) does not fit
    # in 40: skipped, 40 left; 3 (5 votes, 40 €) fits exactly: 0 left; 4 (3 votes, 10 €) no
    # longer fits.
    result = allocate(100, [(4, 10, 3, 4), (3, 40, 5, 3), (2, 50, 8, 2), (1, 60, 10, 1)])
    assert result.lines == (
        BudgetLine(proposal_id=1, rank=1, votes=10, cost=60, funded=True, remaining=40),
        BudgetLine(proposal_id=2, rank=2, votes=8, cost=50, funded=False, remaining=40),
        BudgetLine(proposal_id=3, rank=3, votes=5, cost=40, funded=True, remaining=0),
        BudgetLine(proposal_id=4, rank=4, votes=3, cost=10, funded=False, remaining=0),
    )
    assert (result.budget, result.spent, result.left) == (100, 100, 0)


def test_skipping_goes_on_down_the_list() -> None:
    # Budget 1000: 1 (900 €) funded, 100 left; 2 (500 €) and 3 (200 €) skipped; 4 (100 €)
    # fits exactly; 5 (1 €) finds nothing left.
    result = allocate(1000, [(1, 900, 50, 1), (2, 500, 40, 2), (3, 200, 30, 3), (4, 100, 20, 4), (5, 1, 10, 5)])
    assert summary(result) == [(1, 1, True, 100), (2, 2, False, 100), (3, 3, False, 100), (4, 4, True, 0),
                               (5, 5, False, 0)]
    assert (result.spent, result.left) == (1000, 0)


def test_exact_fit() -> None:
    result = allocate(250_000, [(1, 250_000, 3, 1)])
    assert summary(result) == [(1, 1, True, 0)]
    assert (result.spent, result.left) == (250_000, 0)


def test_nothing_fits() -> None:
    result = allocate(10, [(1, 11, 5, 1), (2, 50, 2, 2)])
    assert summary(result) == [(1, 1, False, 10), (2, 2, False, 10)]
    assert (result.spent, result.left) == (0, 10)


def test_zero_budget() -> None:
    # Nothing fits in 0 € but a proposal that costs nothing (0 ≤ 0).
    result = allocate(0, [(1, 5, 9, 1), (2, 0, 1, 2)])
    assert summary(result) == [(1, 1, False, 0), (2, 2, True, 0)]
    assert (result.spent, result.left) == (0, 0)


def test_no_proposal() -> None:
    assert allocate(500, []) == BudgetResult(budget=500, lines=(), spent=0, left=500)


def test_equal_votes_the_cheaper_first_then_the_earlier_submitted() -> None:
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    # Budget 100, all with 5 votes: 2 (30 €) first, 70 left; then the two at 70 €, 3 submitted
    # before 4: 3 funded, 0 left; 4 and 1 (80 €) skipped. Decided by the order of submission
    # alone, 4 would have come before 3, and by submission alone 1 would have been first.
    result = allocate(100, [
        BudgetProposal(1, 80, 5, t0),
        BudgetProposal(2, 30, 5, t0 + timedelta(minutes=1)),
        BudgetProposal(4, 70, 5, t0 + timedelta(minutes=3)),
        BudgetProposal(3, 70, 5, t0 + timedelta(minutes=2)),
    ])
    assert summary(result) == [(2, 1, True, 70), (3, 2, True, 0), (4, 3, False, 0), (1, 4, False, 0)]


def test_more_votes_beat_a_lower_cost() -> None:
    # 1 has one vote more: it comes first and takes the budget, although 2 and 3 together would
    # have used it as well.
    result = allocate(100, [(2, 50, 4, 1), (1, 100, 5, 2), (3, 50, 4, 3)])
    assert summary(result) == [(1, 1, True, 0), (2, 2, False, 0), (3, 3, False, 0)]


def test_a_proposal_without_votes_is_funded_if_it_fits() -> None:
    # The rules fund in rank order while it fits, whatever the votes.
    result = allocate(100, [(1, 60, 3, 1), (2, 40, 0, 2)])
    assert summary(result) == [(1, 1, True, 40), (2, 2, True, 0)]


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="negative budget"):
        allocate(-1, [])
    with pytest.raises(ValueError, match="proposal 2: negative cost"):
        allocate(10, [(1, 1, 1, 1), (2, -5, 1, 2)])
    with pytest.raises(ValueError, match="proposal 1: negative votes"):
        allocate(10, [(1, 1, -1, 1)])
    with pytest.raises(ValueError, match="proposal 1 given twice"):
        allocate(10, [(1, 1, 1, 1), (1, 2, 2, 2)])
    with pytest.raises(ValueError, match="share a submission order"):
        allocate(10, [(1, 1, 1, 7), (2, 2, 2, 7)])


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_definition(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(200):
        budget = rnd.choice((0, rnd.randint(0, 100), rnd.randint(0, 1000)))
        orders = rnd.sample(range(1000), rnd.randint(0, 10))
        proposals = [(pid, rnd.randint(0, 300), rnd.randint(0, 5), order) for pid, order in enumerate(orders)]
        result = allocate(budget, proposals)

        # Rank: 1 + the number of proposals ahead (more votes; equal votes and cheaper; equal
        # votes and cost and submitted earlier).
        def ahead(q: tuple[int, int, int, int], p: tuple[int, int, int, int]) -> bool:
            return (q[2] > p[2] or (q[2] == p[2] and q[1] < p[1])
                    or (q[2] == p[2] and q[1] == p[1] and q[3] < p[3]))

        expected_rank = {p[0]: 1 + sum(ahead(q, p) for q in proposals) for p in proposals}
        assert [line.rank for line in result.lines] == list(range(1, len(proposals) + 1))
        assert {line.proposal_id: line.rank for line in result.lines} == expected_rank

        # Funding, literally: walk down the ranking, fund what fits in what remains.
        remaining = budget
        by_id = {p[0]: p for p in proposals}
        for line in result.lines:
            _, cost, votes, _ = by_id[line.proposal_id]
            assert (line.cost, line.votes) == (cost, votes)
            assert line.funded == (cost <= remaining)
            if line.funded:
                remaining -= cost
            assert line.remaining == remaining
        spent = sum(line.cost for line in result.lines if line.funded)
        assert (result.budget, result.spent, result.left) == (budget, spent, budget - spent)
        assert 0 <= result.left <= budget
