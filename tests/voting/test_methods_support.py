"""Support tally (app/voting/methods/support.py), without a database: proposals ranked by
supports, ties shared (1, 1, 3) and listed in submission order."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from app.voting.methods.support import SupportResult, SupportTally, rank


def test_ranked_by_supports_with_shared_ranks() -> None:
    results = rank([
        (1, 5, 1),
        (2, 7, 2),
        (3, 5, 3),
        (4, 0, 4),
        (5, 7, 0),
    ])
    # 7 supports: 5 (submitted first) and 2 share rank 1; 5 supports: 1 and 3 share rank 3 (two
    # proposals are ahead of them); 4 comes fifth.
    assert results == [
        SupportResult(5, 7, 1),
        SupportResult(2, 7, 1),
        SupportResult(1, 5, 3),
        SupportResult(3, 5, 3),
        SupportResult(4, 0, 5),
    ]


def test_no_proposal_one_proposal_all_equal() -> None:
    assert rank([]) == []
    assert rank([(9, 0, 1)]) == [SupportResult(9, 0, 1)]
    assert [(r.proposal_id, r.rank) for r in rank([(3, 0, 3), (1, 0, 1), (2, 0, 2)])] == [(1, 1), (2, 1), (3, 1)]


def test_submission_times_and_named_tuples() -> None:
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    results = rank([
        SupportTally(1, 4, t0 + timedelta(hours=2)),
        SupportTally(2, 4, t0),
        (3, 10, t0 + timedelta(days=1)),
    ])
    assert [(r.proposal_id, r.rank) for r in results] == [(3, 1), (2, 2), (1, 2)]


def test_counts_are_checked() -> None:
    with pytest.raises(ValueError, match="proposal 2: negative supports"):
        rank([(1, 0, 1), (2, -1, 2)])
    with pytest.raises(ValueError, match="proposal 1 given twice"):
        rank([(1, 0, 1), (1, 3, 2)])


@pytest.mark.parametrize("seed", range(5))
def test_matches_the_definition(seed: int) -> None:
    # Competition ranking, by definition: 1 + the number of proposals with strictly more supports.
    rnd = random.Random(seed)
    for _ in range(100):
        orders = rnd.sample(range(100), rnd.randint(0, 12))
        tallies = [(pid, rnd.randint(0, 6), order) for pid, order in enumerate(orders)]
        results = rank(tallies)
        expected = {pid: 1 + sum(other > supports for _, other, _ in tallies) for pid, supports, _ in tallies}
        assert {r.proposal_id: r.rank for r in results} == expected
        assert {r.proposal_id: r.supports for r in results} == {pid: s for pid, s, _ in tallies}
        order_of = {pid: order for pid, _, order in tallies}
        assert [r.proposal_id for r in results] == sorted(order_of, key=lambda pid: (expected[pid], order_of[pid]))
