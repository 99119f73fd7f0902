"""Property tests of the pure tallies (Hypothesis): majority judgment and the participatory budget
against straightforward reference implementations written here from DESIGN.md §4.

The references work the slow, literal way (expand every grade, remove medians one by one; sort
and fund one proposal after the other); the app's functions work from the seven counts and must
give the same grades, the same order and the same ranks on every generated input."""

from collections.abc import Mapping, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from app.voting.methods import budget, majority_judgment
from app.voting.methods.majority_judgment import GRADES

# Fast enough for every run of the suite, and no deadline: a slow CI machine must not fail a test.
PROPERTY = settings(max_examples=200, deadline=None)

# --- majority judgment: the reference ----------------------------------------------------------


def expand(counts: Mapping[str, int]) -> list[int]:
    """Every grade given, as indices into GRADES (0 = excellent, the best), sorted best to worst."""
    return sorted(index for index, grade in enumerate(GRADES) for _ in range(counts.get(grade, 0)))


def lower_median(grades: Sequence[int]) -> int:
    """Of the grades sorted best to worst: the middle one (odd count), or the worse of the two
    middle ones (even count), i.e. the one with the larger index."""
    n = len(grades)
    return max(grades[(n - 1) // 2], grades[n // 2])


def reference_majority_value(counts: Mapping[str, int]) -> list[int]:
    """Take the lower median, remove one occurrence of it, start again until no grade is left."""
    grades = expand(counts)
    sequence = []
    while grades:
        median = lower_median(grades)
        sequence.append(median)
        grades.remove(median)  # removing one occurrence keeps the list sorted
    return sequence


def ahead(a: Sequence[int], b: Sequence[int]) -> bool:
    """Does majority value `a` rank strictly ahead of `b`? Lexicographic, a better grade (a smaller
    index) first; when one sequence is the beginning of the other, the longer ranks ahead (the
    convention documented by the module, only reachable with different numbers of grades)."""
    for x, y in zip(a, b, strict=False):
        if x != y:
            return x < y
    return len(a) > len(b)


def reference_ranking(tallies: Mapping[int, Mapping[str, int]]) -> list[tuple[int, int]]:
    """(proposal_id, rank), best first: competition ranking (1 + how many rank strictly ahead),
    tied proposals in the order they were given."""
    values = {pid: reference_majority_value(counts) for pid, counts in tallies.items()}
    ranks = {pid: 1 + sum(ahead(other, value) for other in values.values()) for pid, value in values.items()}
    given_order = list(tallies)
    ordered = sorted(given_order, key=lambda pid: (ranks[pid], given_order.index(pid)))
    return [(pid, ranks[pid]) for pid in ordered]


# --- majority judgment: the generators ---------------------------------------------------------

grade_counts = st.fixed_dictionaries({grade: st.integers(min_value=0, max_value=30) for grade in GRADES})


@st.composite
def independent_tallies(draw: st.DrawFn) -> dict[int, dict[str, int]]:
    """2 to 6 proposals, 0 to 30 of each grade: totals differ from one proposal to the next.
    Proposals often copy another's distribution, so that true ties come up."""
    distributions = draw(st.lists(grade_counts, min_size=1, max_size=6))
    picks = draw(st.lists(st.integers(0, len(distributions) - 1), min_size=2, max_size=6))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=len(picks), max_size=len(picks), unique=True))
    return {pid: dict(distributions[pick]) for pid, pick in zip(ids, picks, strict=True)}


@st.composite
def election_tallies(draw: st.DrawFn) -> dict[int, dict[str, int]]:
    """What a real vote gives: n ballots each grading every proposal, so every proposal has n
    grades; grades drawn from a few distinct ones at a time so that medians collide often."""
    voters = draw(st.integers(min_value=0, max_value=40))
    proposals = draw(st.integers(min_value=2, max_value=6))
    palette = draw(st.lists(st.sampled_from(GRADES), min_size=1, max_size=3, unique=True))
    tallies: dict[int, dict[str, int]] = {}
    for pid in range(1, proposals + 1):
        counts: dict[str, int] = {}
        for grade in draw(st.lists(st.sampled_from(palette), min_size=voters, max_size=voters)):
            counts[grade] = counts.get(grade, 0) + 1
        tallies[pid] = counts
    return tallies


def assert_same_as_reference(tallies: dict[int, dict[str, int]]) -> None:
    results = majority_judgment.rank(tallies)
    assert [(r.proposal_id, r.rank) for r in results] == reference_ranking(tallies)
    for r in results:
        reference = reference_majority_value(tallies[r.proposal_id])
        assert r.total == len(reference)
        assert r.majority_grade == (GRADES[reference[0]] if reference else None)
        assert r.counts == {grade: tallies[r.proposal_id].get(grade, 0) for grade in GRADES}
        assert list(r.counts) == list(GRADES)  # every grade, best first, zeros included


@PROPERTY
@given(independent_tallies())
def test_majority_judgment_ranks_as_the_reference(tallies: dict[int, dict[str, int]]) -> None:
    assert_same_as_reference(tallies)


@PROPERTY
@given(election_tallies())
def test_majority_judgment_ranks_a_real_vote_as_the_reference(tallies: dict[int, dict[str, int]]) -> None:
    assert_same_as_reference(tallies)


@PROPERTY
@given(grade_counts)
def test_the_majority_value_is_the_reference_sequence(counts: dict[str, int]) -> None:
    value = majority_judgment.majority_value(counts)
    assert [GRADES.index(grade) for grade in value] == reference_majority_value(counts)


# --- participatory budget ----------------------------------------------------------------------


def reference_allocation(total: int, proposals: list[tuple[int, int, int, int]]) -> list[tuple[int, int, bool, int]]:
    """(proposal_id, rank, funded, remaining) in rank order. Ranked by votes, most first; equal
    votes: the cheaper first, then the earlier submitted. Then, one after the other: funded when
    the cost fits in what remains (which then shrinks), skipped otherwise."""
    waiting = list(proposals)
    ranked = []
    while waiting:  # selection: the best of those left, one at a time
        best = waiting[0]
        for candidate in waiting[1:]:
            _, cost, votes, order = candidate
            _, best_cost, best_votes, best_order = best
            if (votes > best_votes or (votes == best_votes and cost < best_cost)
                    or (votes == best_votes and cost == best_cost and order < best_order)):
                best = candidate
        waiting.remove(best)
        ranked.append(best)
    remaining = total
    lines = []
    for position, (pid, cost, _votes, _order) in enumerate(ranked, start=1):
        funded = cost <= remaining
        if funded:
            remaining -= cost
        lines.append((pid, position, funded, remaining))
    return lines


@st.composite
def budget_inputs(draw: st.DrawFn) -> tuple[int, list[tuple[int, int, int, int]]]:
    """A budget and up to 8 proposals (id, cost, votes, order) with few distinct costs and votes,
    so that equal votes and equal costs are common; submission orders are unique."""
    size = draw(st.integers(min_value=0, max_value=8))
    ids = draw(st.lists(st.integers(1, 1000), min_size=size, max_size=size, unique=True))
    orders = draw(st.permutations(range(size)))
    costs = draw(st.lists(st.sampled_from([0, 10, 25, 50, 100, 150]), min_size=size, max_size=size))
    votes = draw(st.lists(st.integers(0, 4), min_size=size, max_size=size))
    total = draw(st.integers(min_value=0, max_value=400))
    return total, list(zip(ids, costs, votes, orders, strict=True))


@PROPERTY
@given(budget_inputs())
def test_budget_allocates_as_the_reference(data: tuple[int, list[tuple[int, int, int, int]]]) -> None:
    total, proposals = data
    result = budget.allocate(total, proposals)
    expected = reference_allocation(total, proposals)
    assert [(line.proposal_id, line.rank, line.funded, line.remaining) for line in result.lines] == expected
    figures = {pid: (cost, votes) for pid, cost, votes, _ in proposals}
    assert all((line.cost, line.votes) == figures[line.proposal_id] for line in result.lines)
    spent = sum(line.cost for line in result.lines if line.funded)
    assert (result.budget, result.spent, result.left) == (total, spent, total - spent)
    assert spent <= total
    # Nothing left unfunded would still fit in what remains at the end.
    assert all(line.funded or line.cost > result.left for line in result.lines)
