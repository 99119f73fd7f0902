"""Result of a `majority_judgment` consultation (*jugement majoritaire*, Balinski & Laraki).

Every ballot grades every proposal on seven grades, best to worst (`GRADES`). From the count of
each grade a proposal received (a `GROUP BY` in the database):

- its **majority grade** is the *lower* median of its grades: with the grades sorted from best
  to worst, the one at 0-based position `n // 2`; for an even number of grades that is the worse
  of the two middle ones. No grade at all: no majority grade.
- its **majority value** is the sequence of lower medians obtained by removing one median grade
  at a time until none remain (n grades, n steps).
- proposals are ranked by comparing their majority values lexicographically, a better grade
  first; equal sequences tie and share a rank (standard competition ranking: 1, 1, 3).

The majority value is computed from the seven counts, never by expanding ballots. Removing
medians from a sorted list always takes the element next to the previous ones, alternately on
either side: with the grades `a[0] … a[n-1]` sorted best to worst and `m = n // 2`, the sequence
is `a[m]`, then `a[m-1], a[m+1], a[m-2], a[m+2], …` when n is even (the better side first), and
`a[m+1], a[m-1], a[m+2], a[m-2], …` when n is odd (the worse side first). Each side moves
monotonically through at most seven grades, so the whole sequence is a handful of stretches
(`MajorityValue.segments`) in which it is constant or alternates between two grades.
`MajorityValue` stores only the counts: it reads as the sequence (`len`, indexing, slicing,
iteration; `tuple(value)` expands it) and `compare` walks the stretches, so ranking a million
grades costs no more than ranking ten.

Two facts the tests check:
- the majority value is a permutation of the proposal's grades, so two proposals have equal
  majority values exactly when they have the same counts: a true tie is an identical
  distribution;
- proposals with different numbers of grades (cannot happen when every ballot grades every
  proposal, but a snapshot may hold anything): when one sequence is the beginning of the other,
  the *longer* ranks ahead; in particular a proposal without any grade ranks after every graded
  one, and proposals without grades tie with one another, last.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from typing import overload

GRADES = ("excellent", "tres_bien", "bien", "assez_bien", "passable", "insuffisant", "a_rejeter")
_INDEX = {grade: i for i, grade in enumerate(GRADES)}

# A stretch of the majority value: `length` grades alternating first, second, first, … (constant
# when both are the same grade). Grades as indices into GRADES, 0 the best.
_Segment = tuple[int, int, int]


def normalise_counts(counts: Mapping[str, int]) -> tuple[int, ...]:
    """The seven counts, best grade first, missing grades as 0. Raises ValueError on an unknown
    grade or a negative count."""
    for grade, count in counts.items():
        if grade not in _INDEX:
            raise ValueError(f"unknown grade {grade!r}")
        if count < 0:
            raise ValueError(f"negative count for {grade!r}: {count}")
    return tuple(counts.get(grade, 0) for grade in GRADES)


@dataclass(frozen=True)
class MajorityValue(Sequence[str]):
    """The majority value of one proposal, as a lazy read-only sequence of grade names.

    It holds the seven counts only: `len()`, indexing and slicing (slices give tuples), iteration
    and `tuple(value)` work as on the expanded sequence, at O(7) per grade read; comparison with
    `compare` costs a few steps whatever the number of grades. Two values are equal when their
    counts are, which is exactly when their sequences are."""

    counts: tuple[int, ...]  # seven counts, best grade first

    def __post_init__(self) -> None:
        if len(self.counts) != len(GRADES) or any(c < 0 for c in self.counts):
            raise ValueError(f"expected seven non-negative counts, got {self.counts!r}")

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> "MajorityValue":
        return cls(normalise_counts(counts))

    def __len__(self) -> int:
        return sum(self.counts)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        n = len(self)
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(n)))
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("majority value index out of range")
        m = n // 2
        if index == 0:
            position = m
        else:
            step = (index + 1) // 2  # how far from the median
            better_first = n % 2 == 0
            on_better_side = (index % 2 == 1) == better_first
            position = m - step if on_better_side else m + step
        return GRADES[_grade_at(self.counts, position)]

    def __iter__(self) -> Iterator[str]:
        for first, second, length in self.segments():
            for i in range(length):
                yield GRADES[second if i % 2 else first]

    def __contains__(self, grade: object) -> bool:
        return isinstance(grade, str) and grade in _INDEX and self.counts[_INDEX[grade]] > 0

    def count(self, grade: str) -> int:
        """How many times a grade appears: its count (the sequence is a permutation of the grades)."""
        return self.counts[_INDEX[grade]] if grade in _INDEX else 0

    def segments(self) -> list[_Segment]:
        """The sequence as stretches `(first, second, length)`: `length` grades alternating
        first, second, first, … (grade indices, 0 the best). At most 9: the median, one per
        change of grade on either side (the two sides hold at most 8 runs), a lone last grade."""
        n = len(self)
        if n == 0:
            return []
        m = n // 2
        bounds = _bounds(self.counts)
        median = _grade_at(self.counts, m)
        # The better side: positions m-1 down to 0; the worse side: positions m+1 up to n-1; each
        # as runs [grade, how many], nearest the median first.
        better = [[g, min(bounds[g + 1], m) - bounds[g]] for g in range(median, -1, -1)]
        worse = [[g, bounds[g + 1] - max(bounds[g], m + 1)] for g in range(median, len(GRADES))]
        better = [run for run in better if run[1] > 0]
        worse = [run for run in worse if run[1] > 0]
        # The first side has m grades, the second n - 1 - m (m - 1 or m): pairs, then for an even
        # n one grade of the first side alone (the best grade given).
        first, second = (better, worse) if n % 2 == 0 else (worse, better)
        segments: list[_Segment] = [(median, median, 1)]
        i = 0
        for grade, left in second:
            while left:
                taken = min(first[i][1], left)
                segments.append((first[i][0], grade, 2 * taken))
                first[i][1] -= taken
                left -= taken
                if not first[i][1]:
                    i += 1
        if i < len(first):
            segments.append((first[i][0], first[i][0], 1))
        return segments


def _bounds(counts: tuple[int, ...]) -> list[int]:
    """bounds[g]: the first sorted position of grade g; bounds[g + 1] one past its last."""
    bounds = [0]
    for c in counts:
        bounds.append(bounds[-1] + c)
    return bounds


def _grade_at(counts: tuple[int, ...], position: int) -> int:
    """The grade at a 0-based position of the grades sorted best to worst (0 ≤ position < n:
    the callers check)."""
    for grade, c in enumerate(counts[:-1]):
        if position < c:
            return grade
        position -= c
    return len(counts) - 1


def majority_grade(counts: Mapping[str, int]) -> str | None:
    """The lower median of the grades; None without any grade."""
    normalised = normalise_counts(counts)
    n = sum(normalised)
    return GRADES[_grade_at(normalised, n // 2)] if n else None


def majority_value(counts: Mapping[str, int]) -> MajorityValue:
    return MajorityValue.of(counts)


def compare(a: MajorityValue, b: MajorityValue) -> int:
    """Negative when `a` ranks ahead of `b`, 0 when their majority values are equal, positive when
    `a` ranks behind: lexicographic, a better grade first; when one sequence is the beginning of
    the other, the longer ranks ahead."""
    walk_a, walk_b = iter(a.segments()), iter(b.segments())
    seg_a, seg_b = next(walk_a, None), next(walk_b, None)
    while seg_a is not None and seg_b is not None:
        first_a, second_a, len_a = seg_a
        first_b, second_b, len_b = seg_b
        if first_a != first_b:
            return -1 if first_a < first_b else 1
        step = min(len_a, len_b)
        # Both stretches alternate with period two: past the first two grades nothing new.
        if step > 1 and second_a != second_b:
            return -1 if second_a < second_b else 1
        seg_a = _advance(seg_a, step) or next(walk_a, None)
        seg_b = _advance(seg_b, step) or next(walk_b, None)
    if seg_a is None and seg_b is None:
        return 0
    return 1 if seg_a is None else -1


def _advance(segment: _Segment, step: int) -> _Segment | None:
    first, second, length = segment
    if length == step:
        return None
    return (second, first, length - step) if step % 2 else (first, second, length - step)


@dataclass(frozen=True)
class MajorityJudgmentResult:
    proposal_id: int
    counts: dict[str, int]  # every grade, best to worst, zeros included
    total: int
    majority_grade: str | None  # None without any grade
    majority_value: MajorityValue
    rank: int  # 1 for the best; equal majority values share a rank (1, 1, 3)


def rank(tallies: Mapping[int, Mapping[str, int]]) -> list[MajorityJudgmentResult]:
    """Rank proposals from their grade counts (`{proposal_id: {grade: count}}`), best first.
    Tied proposals share a rank and keep the order in which they were given. Raises ValueError on
    an unknown grade or a negative count."""
    values = [(proposal_id, MajorityValue.of(counts)) for proposal_id, counts in tallies.items()]
    values.sort(key=cmp_to_key(lambda x, y: compare(x[1], y[1])))
    results: list[MajorityJudgmentResult] = []
    for position, (proposal_id, value) in enumerate(values, start=1):
        tied = bool(results) and compare(results[-1].majority_value, value) == 0
        place = results[-1].rank if tied else position
        total = len(value)
        results.append(MajorityJudgmentResult(
            proposal_id=proposal_id,
            counts=dict(zip(GRADES, value.counts, strict=True)),
            total=total,
            majority_grade=value[0] if total else None,
            majority_value=value,
            rank=place,
        ))
    return results
