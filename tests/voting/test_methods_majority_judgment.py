"""Majority judgment tally (app/voting/methods/majority_judgment.py), without a database.

Hand-worked examples first (each expected result reasoned in the comments, grades sorted best to
worst, positions 0-based, the lower median at position n // 2), then a deterministic brute-force
cross-check: a reference written from the definition expands the counts to a list of grades and
literally removes one lower median at a time; the count-based functions must agree with it,
grade by grade and rank by rank."""

import random
from collections.abc import Mapping
from itertools import combinations_with_replacement

import pytest

from app.voting.methods.majority_judgment import (
    GRADES,
    MajorityValue,
    _advance,
    compare,
    majority_grade,
    majority_value,
    normalise_counts,
    rank,
)

E, TB, B, AB, P, INS, R = GRADES  # excellent … a_rejeter


def ballots(*grades: str) -> dict[str, int]:
    """Grade counts from individual grades, as a GROUP BY would give them."""
    counts: dict[str, int] = {}
    for grade in grades:
        counts[grade] = counts.get(grade, 0) + 1
    return counts


# --- the reference, from the definition -------------------------------------------------------

def reference_majority_value(counts: Mapping[str, int]) -> tuple[str, ...]:
    """Expand, sort best to worst, and remove the lower median until nothing remains."""
    grades = [grade for grade in GRADES for _ in range(counts.get(grade, 0))]
    sequence = []
    while grades:
        n = len(grades)
        # The middle grade (n odd), or the two middle grades (n even: positions n/2 - 1 and n/2).
        middle = (grades[(n - 1) // 2], grades[n // 2])
        lower = max(middle, key=GRADES.index)  # the worse of the two
        sequence.append(lower)
        grades.remove(lower)  # the list stays sorted
    return tuple(sequence)


def reference_key(counts: Mapping[str, int]) -> tuple[int, ...]:
    """Sort key: lexicographic on the majority value, a better grade (lower index) first. The
    trailing 7 (worse than any grade) puts a sequence after any longer one it begins: the longer
    ranks ahead, as the module documents; it changes nothing between sequences of equal length."""
    return (*(GRADES.index(g) for g in reference_majority_value(counts)), len(GRADES))


def reference_ranks(tallies: dict[int, dict[str, int]]) -> dict[int, int]:
    """Standard competition ranking: 1 + the number of proposals strictly ahead."""
    keys = {pid: reference_key(counts) for pid, counts in tallies.items()}
    return {pid: 1 + sum(other < key for other in keys.values()) for pid, key in keys.items()}


# --- majority grade -----------------------------------------------------------------------------

@pytest.mark.parametrize(("grades", "expected"), [
    # One voter: their grade.
    ((P,), P),
    # Odd n = 3: sorted E, B, R; position 1: bien.
    ((R, E, B), B),
    # Even n = 2: the two middle grades are excellent and a_rejeter; the lower median is the worse.
    ((E, R), R),
    # The classic case where lower and upper medians differ: sorted E, TB, P, INS; the middle two
    # are tres_bien (upper median) and passable; the lower median is passable.
    ((E, TB, P, INS), P),
    # Even n = 6: sorted E, E, E, R, R, R: middle E (position 2) and R (position 3): a_rejeter.
    ((E, E, E, R, R, R), R),
    # Odd n = 7: sorted E, E, E, R, R, R, R: position 3: a_rejeter; with one more excellent
    # (n = 8) sorted E×4, R×4, position 4: still a_rejeter; with a fifth excellent (n = 9):
    # position 4 is excellent.
    ((E, E, E, R, R, R, R), R),
    ((E, E, E, E, R, R, R, R), R),
    ((E, E, E, E, E, R, R, R, R), E),
    # Everyone agrees.
    ((AB,) * 6, AB),
])
def test_majority_grade_is_the_lower_median(grades: tuple[str, ...], expected: str) -> None:
    assert majority_grade(ballots(*grades)) == expected


def test_no_grade_no_majority_grade() -> None:
    assert majority_grade({}) is None
    assert majority_grade(dict.fromkeys(GRADES, 0)) is None


# --- majority value, by hand --------------------------------------------------------------------

@pytest.mark.parametrize(("grades", "expected"), [
    ((P,), (P,)),
    ((B,) * 7, (B,) * 7),
    # n = 4, sorted E, TB, P, INS: lower median P (position 2); left E, TB, INS: median TB; left E, INS:
    # lower median INS; left E.
    ((E, TB, P, INS), (P, TB, INS, E)),
    # n = 5, sorted TB, B, B, P, INS: B; then TB, B, P, INS → P; TB, B, INS → B; TB, INS → INS; TB.
    ((TB, B, B, P, INS), (B, P, B, INS, TB)),
    # n = 4, sorted E, B, B, R: B; E, B, R → B; E, R → R; E.
    ((E, B, B, R), (B, B, R, E)),
    # n = 6, half excellent, half a_rejeter: R, then alternately E and R, the last one E.
    ((E, E, E, R, R, R), (R, E, R, E, R, E)),
    # n = 7, sorted E, TB, B, AB, P, INS, R: AB; E, TB, B, P, INS, R → P; E, TB, B, INS, R → B;
    # E, TB, INS, R → INS; E, TB, R → TB; E, R → R; E.
    ((E, TB, B, AB, P, INS, R), (AB, P, B, INS, TB, R, E)),
])
def test_majority_value_by_hand(grades: tuple[str, ...], expected: tuple[str, ...]) -> None:
    value = majority_value(ballots(*grades))
    assert tuple(value) == expected
    assert value[:] == expected
    assert [value[i] for i in range(len(value))] == list(expected)
    assert reference_majority_value(ballots(*grades)) == expected  # the reference agrees by hand too


def test_majority_value_behaves_as_a_read_only_sequence() -> None:
    value = majority_value(ballots(E, TB, B, AB, P, INS, R))  # (AB, P, B, INS, TB, R, E), see above
    assert len(value) == 7
    assert value[-1] == E
    assert value[-7] == AB
    assert value[1:4] == (P, B, INS)
    assert value[::-1] == (E, R, TB, INS, B, P, AB)
    assert list(reversed(value)) == [E, R, TB, INS, B, P, AB]
    assert value.index(INS) == 3
    assert AB in value
    assert "inconnu" not in value
    assert 3 not in value
    assert value.count(B) == 1
    assert value.count("inconnu") == 0
    with pytest.raises(IndexError):
        value[7]
    with pytest.raises(IndexError):
        value[-8]
    empty = majority_value({})
    assert len(empty) == 0
    assert tuple(empty) == ()
    assert empty.segments() == []
    assert E not in empty
    with pytest.raises(IndexError):
        empty[0]


def test_a_stretch_cut_after_an_odd_number_of_grades_goes_on_with_the_other_grade() -> None:
    # `compare` walks stretches of grades alternating first, second, …: after taking 3 grades of
    # (0, 6, 8) (0, 6, 0, 6, 0, 6, 0, 6) the remainder is 6, 0, 6, 0, 6; after 2, 0, 6, 0, 6, 0, 6.
    # (The stretches of majority values only ever meet at even offsets, so the ranking tests
    # cannot tell: this keeps the walk right for any stretches.)
    assert _advance((0, 6, 8), 3) == (6, 0, 5)
    assert _advance((0, 6, 8), 2) == (0, 6, 6)
    assert _advance((0, 6, 8), 8) is None


def test_equal_values_are_equal_distributions() -> None:
    assert majority_value(ballots(B, E, R)) == majority_value({R: 1, B: 1, E: 1, P: 0})
    assert hash(majority_value(ballots(B, E, R))) == hash(majority_value({E: 1, B: 1, R: 1}))
    assert majority_value(ballots(B, E, R)) != majority_value(ballots(B, TB, R))


def test_counts_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown grade 'moyen'"):
        majority_value({"moyen": 1})
    with pytest.raises(ValueError, match="negative count"):
        majority_value({B: -1})
    with pytest.raises(ValueError, match="seven non-negative counts"):
        MajorityValue((1, 2, 3))
    with pytest.raises(ValueError, match="seven non-negative counts"):
        MajorityValue((0, 0, 0, -1, 0, 0, 0))
    with pytest.raises(ValueError, match="unknown grade"):
        rank({1: {"top": 3}})
    assert normalise_counts({R: 2, E: 1}) == (1, 0, 0, 0, 0, 0, 2)


# --- ranking, by hand ---------------------------------------------------------------------------

def test_ties_broken_at_second_third_and_fourth_median_and_a_true_tie() -> None:
    # Five voters; every proposal has the majority grade bien except 6.
    tallies = {
        # sorted E, B, B, AB, R: B; E, B, AB, R → AB; E, B, R → B; E, R → R; E.
        2: ballots(E, B, B, AB, R),    # (B, AB, B, R, E)
        # sorted TB, B, B, AB, INS: B; TB, B, AB, INS → AB; TB, B, INS → B; TB, INS → INS; TB.
        3: ballots(TB, B, B, AB, INS),   # (B, AB, B, INS, TB)
        # sorted TB, TB, B, AB, R: B; TB, TB, AB, R → AB; TB, TB, R → TB; TB, R → R; TB.
        4: ballots(TB, TB, B, AB, R),  # (B, AB, TB, R, TB)
        # sorted TB, B, B, P, INS: B; then P (see the by-hand values above).
        1: ballots(TB, B, B, P, INS),    # (B, P, B, INS, TB)
        5: ballots(INS, AB, B, B, TB),   # the same distribution as 3, given in another order
        # sorted E, E, AB, AB, AB: AB; E, E, AB, AB → AB; E, E, AB → E; E, AB → AB; E.
        6: ballots(E, E, AB, AB, AB),  # (AB, AB, E, AB, E)
    }
    results = rank(tallies)
    # 4 beats 3, 5 and 2 at the third median (TB against B); 3 and 5 beat 2 at the fourth (INS
    # against R) and tie with each other (same distribution, listed in the order given); all of
    # them beat 1 at the second (AB against P); 6 has a worse majority grade (AB) and comes last.
    assert [(r.proposal_id, r.rank) for r in results] == [(4, 1), (3, 2), (5, 2), (2, 4), (1, 5), (6, 6)]
    assert [r.majority_grade for r in results] == [B, B, B, B, B, AB]
    assert tuple(results[0].majority_value) == (B, AB, TB, R, TB)
    assert results[1].majority_value == results[2].majority_value
    assert compare(results[1].majority_value, results[2].majority_value) == 0
    assert compare(results[0].majority_value, results[1].majority_value) < 0
    assert compare(results[3].majority_value, results[1].majority_value) > 0
    assert reference_ranks(tallies) == {r.proposal_id: r.rank for r in results}


def test_even_number_of_voters() -> None:
    tallies = {
        # sorted E, B, B, P: B; E, B, P → B; E, P → P; E.
        1: ballots(E, B, B, P),     # (B, B, P, E)
        # sorted TB, B, B, AB: B; TB, B, AB → B; TB, AB → AB; TB.
        2: ballots(TB, B, B, AB),   # (B, B, AB, TB)
        # sorted E, E, B, R: lower median B (position 2; the upper median is excellent);
        # E, E, R → E; E, R → R; E.
        3: ballots(E, E, B, R),     # (B, E, R, E)
        # sorted E, E, R, R: lower median R although half the voters said excellent.
        4: ballots(E, E, R, R),     # (R, E, R, E)
    }
    results = rank(tallies)
    # 3 beats 1 and 2 at the second median (E against B); 2 beats 1 at the third (AB against P).
    assert [(r.proposal_id, r.rank) for r in results] == [(3, 1), (2, 2), (1, 3), (4, 4)]
    assert [r.majority_grade for r in results] == [B, B, B, R]


def test_single_voter() -> None:
    results = rank({1: {P: 1}, 2: {TB: 1}, 3: {P: 1}})
    assert [(r.proposal_id, r.rank, r.majority_grade) for r in results] == [(2, 1, TB), (1, 2, P), (3, 2, P)]
    assert tuple(results[0].majority_value) == (TB,)


def test_everyone_gives_the_same_grade() -> None:
    results = rank({1: {AB: 9}, 2: {AB: 9}, 3: {B: 9}})
    assert [(r.proposal_id, r.rank) for r in results] == [(3, 1), (1, 2), (2, 2)]
    assert tuple(results[1].majority_value) == (AB,) * 9


def test_identical_distributions_tie_and_share_a_rank() -> None:
    same = ballots(E, TB, B, AB, P, INS, R, R)
    results = rank({10: same, 11: dict(same), 12: {E: 8}})
    assert [(r.proposal_id, r.rank) for r in results] == [(12, 1), (10, 2), (11, 2)]


def test_result_fields() -> None:
    (result,) = rank({7: {R: 2, E: 1}})
    assert result.proposal_id == 7
    assert result.counts == {E: 1, TB: 0, B: 0, AB: 0, P: 0, INS: 0, R: 2}
    assert list(result.counts) == list(GRADES)  # every grade, best to worst
    assert result.total == 3
    assert result.majority_grade == R  # sorted E, R, R: position 1
    assert tuple(result.majority_value) == (R, R, E)
    assert result.rank == 1


def test_proposals_without_grades_rank_last_and_tie() -> None:
    results = rank({1: {}, 2: {R: 1}, 3: dict.fromkeys(GRADES, 0), 4: {E: 3}})
    assert [(r.proposal_id, r.rank) for r in results] == [(4, 1), (2, 2), (1, 3), (3, 3)]
    assert [r.majority_grade for r in results] == [E, R, None, None]
    assert results[2].total == 0
    assert results[2].counts == dict.fromkeys(GRADES, 0)
    assert tuple(results[2].majority_value) == ()


def test_one_vote_against_many() -> None:
    # Different numbers of grades cannot arise when every ballot grades every proposal, but the
    # function stays total. A lone excellent beats a hundred bien at the first median.
    assert [r.proposal_id for r in rank({1: {B: 100}, 2: {E: 1}})] == [2, 1]
    # A lone bien against bien, a_rejeter (sorted B, R: lower median R): the lone one leads.
    assert [r.proposal_id for r in rank({1: {B: 1, R: 1}, 2: {B: 1}})] == [2, 1]
    # (B) begins (B, B, B) and (B, B, E): the longer sequence ranks ahead; no tie.
    results = rank({1: {B: 1}, 2: {B: 3}, 3: {B: 2, E: 1}})
    # (B, B, E) against (B, B, B): E is better at the third step.
    assert [(r.proposal_id, r.rank) for r in results] == [(3, 1), (2, 2), (1, 3)]
    assert compare(majority_value({B: 1}), majority_value({B: 3})) > 0
    assert compare(majority_value({B: 3}), majority_value({B: 1})) < 0


def test_empty_ranking() -> None:
    assert rank({}) == []


# --- a million grades, from the counts alone ------------------------------------------------------

def test_a_million_grades() -> None:
    # 300 000 excellent, 200 001 bien, 499 999 a_rejeter: n = 1 000 000, m = 500 000; positions
    # 0–299 999 are E, 300 000–500 000 are B, the rest R: the majority grade is bien.
    counts = {E: 300_000, B: 200_001, R: 499_999}
    value = majority_value(counts)
    assert len(value) == 1_000_000
    assert majority_grade(counts) == B
    # n even: the better side first: position 499 999 (B), then 500 001 (R), then 499 998 (B)…
    assert value[:4] == (B, B, R, B)
    # The better side holds 200 000 B then 300 000 E; the worse side 499 999 R. Step 2k - 1 takes
    # from the better side, step 2k from the worse: step 400 001 is the first E.
    assert value[399_999] == B
    assert value[400_001] == E
    # The last step is position 0 (E); the one before it position 999 999 (R).
    assert value[-1] == E
    assert value[-2] == R
    assert len(value.segments()) <= 9

    # Two distributions that differ only in their best grade (position 0), which is removed
    # last: they are separated at the millionth step, and decided from the counts alone.
    first = MajorityValue((1, 499_999, 0, 0, 0, 0, 500_000))
    second = MajorityValue((0, 500_000, 0, 0, 0, 0, 500_000))
    assert first[:999_999:100_000] == second[:999_999:100_000]
    assert (first[-1], second[-1]) == (E, TB)
    assert compare(first, second) < 0
    assert compare(second, first) > 0
    million = rank({1: dict(zip(GRADES, second.counts, strict=True)),
                    2: dict(zip(GRADES, first.counts, strict=True)),
                    3: dict(zip(GRADES, second.counts, strict=True))})
    assert [(r.proposal_id, r.rank) for r in million] == [(2, 1), (1, 2), (3, 2)]


# --- the brute-force cross-check ----------------------------------------------------------------

def random_counts(rnd: random.Random, total: int) -> dict[str, int]:
    """`total` grades over a random handful of the seven grades (zeros included)."""
    used = rnd.sample(GRADES, rnd.randint(1, len(GRADES)))
    counts = dict.fromkeys(GRADES, 0)
    for _ in range(total):
        counts[rnd.choice(used)] += 1
    return counts


def nudge(rnd: random.Random, counts: dict[str, int]) -> dict[str, int]:
    """The same distribution with one grade moved to a neighbouring grade: a close contender,
    whose majority value often differs only deep in the sequence."""
    moved = dict(counts)
    given = [i for i, grade in enumerate(GRADES) if moved[grade]]
    if not given:
        return moved
    i = rnd.choice(given)
    j = min(max(i + rnd.choice((-1, 1)), 0), len(GRADES) - 1)
    moved[GRADES[i]] -= 1
    moved[GRADES[j]] += 1
    return moved


@pytest.mark.parametrize("seed", range(8))
def test_count_based_majority_value_matches_the_reference(seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(150):
        counts = random_counts(rnd, rnd.randint(0, 40))
        expected = reference_majority_value(counts)
        value = majority_value(counts)
        assert tuple(value) == expected, counts
        assert [value[i] for i in range(len(value))] == list(expected), counts
        assert [value[-i] for i in range(1, len(value) + 1)] == list(reversed(expected)), counts
        segments = value.segments()
        assert len(segments) <= 9
        assert sum(length for _, _, length in segments) == len(expected)
        assert majority_grade(counts) == (expected[0] if expected else None)


@pytest.mark.parametrize("seed", range(8))
def test_ranks_match_the_reference(seed: int) -> None:
    rnd = random.Random(1000 + seed)
    for round_ in range(60):
        voters = rnd.randint(1, 25)
        tallies: dict[int, dict[str, int]] = {}
        for pid in range(rnd.randint(1, 8)):
            roll = rnd.random()
            if tallies and roll < 0.2:  # a true tie
                tallies[pid] = dict(rnd.choice(list(tallies.values())))
            elif tallies and roll < 0.6:  # a close contender
                tallies[pid] = nudge(rnd, rnd.choice(list(tallies.values())))
            elif round_ % 5 == 0:  # now and then, proposals with different numbers of grades
                tallies[pid] = random_counts(rnd, rnd.randint(0, 25))
            else:
                tallies[pid] = random_counts(rnd, voters)
        results = rank(tallies)
        expected = reference_ranks(tallies)
        assert {r.proposal_id: r.rank for r in results} == expected, tallies
        # Best first; tied proposals keep the order in which they were given.
        order = sorted(tallies, key=lambda pid: (expected[pid], list(tallies).index(pid)))
        assert [r.proposal_id for r in results] == order
        for r in results:
            assert tuple(r.majority_value) == reference_majority_value(tallies[r.proposal_id])


def test_every_pair_of_small_distributions_compares_as_the_reference() -> None:
    # Every distribution of 0 to 4 grades (330 of them), every ordered pair: the comparison has
    # the sign of the reference's, and equal majority values are exactly equal distributions.
    distributions = [
        dict.fromkeys(GRADES, 0) | ballots(*chosen)
        for n in range(5) for chosen in combinations_with_replacement(GRADES, n)
    ]
    assert len(distributions) == 330
    values = [majority_value(d) for d in distributions]
    keys = [reference_key(d) for d in distributions]
    for i, (value_i, key_i) in enumerate(zip(values, keys, strict=True)):
        for j, (value_j, key_j) in enumerate(zip(values, keys, strict=True)):
            sign = compare(value_i, value_j)
            assert (sign > 0) - (sign < 0) == (key_i > key_j) - (key_i < key_j), (distributions[i], distributions[j])
            assert (sign == 0) == (i == j)
