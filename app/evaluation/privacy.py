"""Statistical disclosure control of the participation figures: small counts are suppressed, and
enough other cells with them that no suppressed count can be worked out from what is shown.

The algorithm (cell suppression with an audit by interval propagation):

1. **Primary suppression.** Every count under the threshold `t` (setting `privacy_threshold`,
   5 by default), zero included, is shown as `<5`. Zeros are suppressed too, so that `<5` never
   means "at least one person" (which would narrow what a reader can infer).
2. **The tables' arithmetic.** A table is described as cells and *groups*: a group says that its
   members add up to its total (a 1-D table: the rows add up to the total shown at the bottom; the
   communes of an EPCI add up to the EPCI's row, which is itself a member of the group of EPCIs).
   A reader who knows the algorithm knows that a `<5` cell lies in [0, t-1] (or [1, t-1] when
   another figure proves it is not zero, see `lower_bounds`), and that a cell suppressed to protect
   another (shown as `s`, "secret") holds at least `t`.
3. **Audit.** From the shown values and those bounds, the bounds of every suppressed cell are
   narrowed through every group (value = total − the sum of the other members, with interval
   arithmetic) until nothing changes. A suppressed cell whose interval shrinks to one value is
   *exposed*: the subtraction attack would recover it. (A cell pinned to zero is not exposed:
   learning that nobody in a group took part discloses no one, and protecting zeros would
   suppress most of a table wherever participation gathers in one commune.)
4. **Complementary suppression.** While a cell is exposed, the smallest cell still shown in one
   of its groups is suppressed too (shown as `s`): the classic rule "if exactly one cell of a row
   is suppressed, also suppress the next smallest", generalised so that two cells that would
   still pin each other down (two cells of 4 under a total of 8) get a third. When a group has
   no member left to suppress, its total is suppressed. Each round suppresses one more cell, so
   it ends.

For one table with its total, interval propagation is exact: the range it gives each cell is
exactly the set of values the cell can take given everything shown (unit coefficients, integer
bounds). The tests check this against a brute-force attacker on small tables.

What this does not cover, and is said on the pages: comparing two different filters (e.g. one
period, then the same period plus one day) can reveal a difference below the threshold."""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Mark(StrEnum):
    shown = "shown"
    primary = "primary"  # under the threshold: "<5"
    complementary = "complementary"  # suppressed to protect another cell: "s"


@dataclass(frozen=True)
class Group:
    """`members` add up to `total` (a key of another cell). With `exact=False` they add up to at
    least the total, each at most the total: distinct participants by axis or by day, where one
    person may count in several rows."""

    members: tuple[Hashable, ...]
    total: Hashable
    exact: bool = True


@dataclass
class Protection:
    marks: dict[Hashable, Mark]
    threshold: int
    bounds: dict[Hashable, tuple[int, int]] = field(default_factory=dict)  # what a reader can infer

    def is_suppressed(self, key: Hashable) -> bool:
        return self.marks[key] is not Mark.shown

    @property
    def any_suppressed(self) -> bool:
        return any(mark is not Mark.shown for mark in self.marks.values())

    def shown(self, key: Hashable, value: int) -> int | str:
        """The value as published: the number, `<5` or `s`."""
        return display(self.marks[key], value, self.threshold)


def primary_label(threshold: int) -> str:
    return f"<{threshold}"


SECRET_LABEL = "s"


def display(mark: Mark, value: int, threshold: int) -> int | str:
    if mark is Mark.primary:
        return primary_label(threshold)
    if mark is Mark.complementary:
        return SECRET_LABEL
    return value


Bounds = dict[Hashable, tuple[int, int]]


def reader_bounds(values: Mapping[Hashable, int], marks: Mapping[Hashable, Mark], groups: Sequence[Group],
                  threshold: int, lower_bounds: Mapping[Hashable, int] | None = None) -> Bounds:
    """What a reader who knows this algorithm can infer about each cell: its interval, narrowed
    through every group until nothing changes."""
    ceiling = max(sum(values.values()), threshold)  # no count exceeds the sum of all the counts
    lower_bounds = lower_bounds or {}
    bounds: dict[Hashable, tuple[int, int]] = {}
    for key, value in values.items():
        mark = marks[key]
        low = lower_bounds.get(key, 0)
        if mark is Mark.shown:
            bounds[key] = (value, value)
        elif mark is Mark.primary:
            bounds[key] = (min(low, threshold - 1), threshold - 1)
        else:
            bounds[key] = (max(low, threshold), ceiling)
    changed = True
    rounds = 0
    while changed and rounds < 10_000:
        changed = False
        rounds += 1
        for group in groups:
            total_low, total_high = bounds[group.total]
            member_low = sum(bounds[m][0] for m in group.members)
            member_high = sum(bounds[m][1] for m in group.members)
            if group.exact:  # the total lies within the sum of its members' bounds
                new_total = (max(total_low, member_low), min(total_high, member_high))
            else:  # at least the largest member, at most the sum of the members
                new_total = (max(total_low, *(bounds[m][0] for m in group.members)), min(total_high, member_high))
            if new_total != (total_low, total_high):
                bounds[group.total] = new_total
                total_low, total_high = new_total
                changed = True
            for member in group.members:
                low, high = bounds[member]
                others_low = member_low - low
                others_high = member_high - high
                if group.exact:
                    new = (max(low, total_low - others_high), min(high, total_high - others_low))
                else:
                    new = (max(low, total_low - others_high), min(high, total_high))
                if new != (low, high):
                    bounds[member] = new
                    member_low += new[0] - low
                    member_high += new[1] - high
                    changed = True
    return bounds


def _exposed(bounds: Mapping[Hashable, tuple[int, int]], marks: Mapping[Hashable, Mark]) -> list[Hashable]:
    """Suppressed cells pinned to one value other than zero (that nobody in a group took part
    discloses no one)."""
    return [key for key, mark in marks.items()
            if mark is not Mark.shown and bounds[key][0] == bounds[key][1] and bounds[key][1] > 0]


def suppress(values: Mapping[Hashable, int], groups: Iterable[Group], *, threshold: int,
             lower_bounds: Mapping[Hashable, int] | None = None,
             order: Sequence[Hashable] | None = None) -> Protection:
    """Mark the cells to suppress. `values` holds every cell, totals included; `lower_bounds`
    what a reader knows besides (e.g. 1 for participants where the contributions shown prove
    someone took part); `order` breaks ties between equal candidates (default: key order of
    `values`), so the same figures always give the same marks."""
    groups = list(groups)
    marks = {key: (Mark.primary if value < threshold else Mark.shown) for key, value in values.items()}
    rank = {key: index for index, key in enumerate(order if order is not None else values)}
    groups_of: dict[Hashable, list[Group]] = {}
    for group in groups:
        for member in group.members:
            groups_of.setdefault(member, []).append(group)
        groups_of.setdefault(group.total, []).append(group)
    while True:
        bounds = reader_bounds(values, marks, groups, threshold, lower_bounds)
        exposed = _exposed(bounds, marks)
        if not exposed:
            return Protection(marks, threshold, bounds)
        candidate = _complement_for(exposed, groups_of, values, marks, rank)
        if candidate is None:
            # Nothing left to suppress around the exposed cells: everything near them already is.
            return Protection(marks, threshold, bounds)
        marks[candidate] = Mark.complementary


def _complement_for(exposed: list[Hashable], groups_of: Mapping[Hashable, list[Group]],
                    values: Mapping[Hashable, int], marks: Mapping[Hashable, Mark],
                    rank: Mapping[Hashable, int]) -> Hashable | None:
    """The smallest shown member of a group of an exposed cell; failing that, a shown total."""
    for key in sorted(exposed, key=lambda k: rank.get(k, 0)):
        members = [m for g in groups_of.get(key, []) for m in g.members if marks[m] is Mark.shown]
        if members:
            return min(members, key=lambda m: (values[m], rank.get(m, 0)))
        totals = [g.total for g in groups_of.get(key, []) if marks[g.total] is Mark.shown]
        if totals:
            return min(totals, key=lambda m: (values[m], rank.get(m, 0)))
    return None


TOTAL = "__total__"


def protect_column(values: Mapping[Hashable, int], total: int, *, threshold: int, exact: bool = True,
                   lower_bounds: Mapping[Hashable, int] | None = None,
                   parents: Mapping[Hashable, Hashable] | None = None) -> Protection:
    """A column of a 1-D table whose rows add up to `total` (key `TOTAL` in the result; with
    exact=False, to at least the total). With `parents` (row → parent row), rows that have a
    parent add up to it instead: a two-level table such as communes within EPCIs, both published."""
    cells: dict[Hashable, int] = {**values, TOTAL: total}
    children: dict[Hashable, list[Hashable]] = {}
    top: list[Hashable] = []
    for key in values:
        parent = (parents or {}).get(key)
        if parent is None:
            top.append(key)
        else:
            children.setdefault(parent, []).append(key)
    groups = [Group(tuple(top), TOTAL, exact)] if top else []
    groups += [Group(tuple(members), parent, exact) for parent, members in children.items()]
    return suppress(cells, groups, threshold=threshold, lower_bounds=lower_bounds, order=[*values, TOTAL])
