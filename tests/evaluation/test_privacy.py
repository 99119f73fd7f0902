"""Suppression of small counts: primary and complementary suppression, checked against an attacker
who knows the algorithm, sees every shown cell and total, and works out what the suppressed cells
can hold (the subtraction attack, and its generalisation to any arithmetic on the table)."""

from collections.abc import Hashable, Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from app.evaluation.privacy import SECRET_LABEL, TOTAL, Mark, Protection, protect_column


def domain(protection: Protection, key: Hashable, ceiling: int, floor: int = 0) -> range:
    """What the attacker knows a cell may hold, from its mark alone."""
    t = protection.threshold
    mark = protection.marks[key]
    if mark is Mark.primary:
        return range(min(floor, t - 1), t)
    if mark is Mark.complementary:
        return range(max(floor, t), ceiling + 1)
    return range(0)  # not used: shown cells are known


def feasible_values_one_level(values: Mapping[Hashable, int], total: int, protection: Protection, *,
                              exact: bool, floors: Mapping[Hashable, int] | None = None) -> dict[Hashable, set[int]]:
    """Every value each suppressed cell can take, given the shown cells (brute force over sums,
    independent of the intervals the algorithm uses)."""
    floors = floors or {}
    ceiling = sum(values.values()) + total + protection.threshold
    known = {k: ({v} if protection.marks[k] is Mark.shown else set(domain(protection, k, ceiling, floors.get(k, 0))))
             for k, v in {**values, TOTAL: total}.items()}
    members = list(values)
    found: dict[Hashable, set[int]] = {k: set() for k in known if protection.marks[k] is not Mark.shown}
    for t_value in known[TOTAL]:
        for index, key in enumerate(members):
            others = members[:index] + members[index + 1:]
            for v in known[key]:
                if exact:
                    sums = {0}
                    for other in others:
                        sums = {s + x for s in sums for x in known[other] if s + x <= t_value}
                    if t_value - v in sums:
                        if key in found:
                            found[key].add(v)
                        if TOTAL in found:
                            found[TOTAL].add(t_value)
                else:
                    if v > t_value or any(min(known[o]) > t_value for o in others):
                        continue
                    best = v + sum(max(x for x in known[o] if x <= t_value) for o in others)
                    if best >= t_value:
                        if key in found:
                            found[key].add(v)
                        if TOTAL in found:
                            found[TOTAL].add(t_value)
    return found


counts = st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=5)


# Thresholds from 3: with a threshold of 2, two people in two communes of one EPCI (1 + 1 = 2) cannot
# be protected by suppression at all (the lead is asked to make 3 the setting's minimum).
@settings(max_examples=150, deadline=None)
@given(counts, st.integers(min_value=3, max_value=5), st.booleans())
def test_no_suppressed_cell_can_be_derived_from_totals_and_siblings(cells: list[int], threshold: int,
                                                                    exact: bool) -> None:
    values = {f"row{i}": v for i, v in enumerate(cells)}
    # Distinct people by axis add up to at least the total; rows of a partition add up to it.
    total = sum(cells) if exact else max(cells) + (sum(cells) - max(cells)) // 2
    protection = protect_column(values, total, threshold=threshold, exact=exact)
    # Small counts are never shown; shown counts are the true ones.
    for key, value in {**values, TOTAL: total}.items():
        if value < threshold:
            assert protection.marks[key] is Mark.primary
            assert protection.shown(key, value) == f"<{threshold}"
        elif protection.marks[key] is Mark.shown:
            assert protection.shown(key, value) == value
        else:
            assert protection.shown(key, value) == SECRET_LABEL
    feasible = feasible_values_one_level(values, total, protection, exact=exact)
    for key, possible in feasible.items():
        true_value = total if key == TOTAL else values[key]
        assert true_value in possible
        # A zero may be recognised (nobody is disclosed by it); any other value may not.
        assert len(possible) >= 2 or possible == {0}, f"{key} = {true_value} can be derived: {protection.marks}"


def test_one_suppressed_cell_takes_the_next_smallest_with_it() -> None:
    values = {"Lens": 40, "Liévin": 3, "Hénin": 12, "Carvin": 25}
    protection = protect_column(values, sum(values.values()), threshold=5)
    assert protection.marks["Liévin"] is Mark.primary
    assert protection.marks["Hénin"] is Mark.complementary  # the next smallest
    assert protection.marks["Lens"] is Mark.shown
    assert protection.marks["Carvin"] is Mark.shown
    assert protection.marks[TOTAL] is Mark.shown
    # The subtraction attack: the total minus the cells shown gives only the sum of the two.
    shown = sum(v for k, v in values.items() if protection.marks[k] is Mark.shown)
    assert sum(values.values()) - shown == 15


def test_two_small_cells_that_would_pin_each_other_get_a_third() -> None:
    # 4 + 4 under a total of 8 plus the others: both "<5" would have to be 4.
    values = {"a": 4, "b": 4, "c": 30, "d": 20}
    protection = protect_column(values, 58, threshold=5)
    assert protection.marks["a"] is Mark.primary
    assert protection.marks["b"] is Mark.primary
    assert protection.marks["d"] is Mark.complementary


def test_nothing_to_hide_hides_nothing() -> None:
    protection = protect_column({"a": 10, "b": 7}, 17, threshold=5)
    assert not protection.any_suppressed


def test_a_table_with_one_small_cell_and_zeros_elsewhere_keeps_its_secret() -> None:
    # Zeros are "<5" too, so the only small cell cannot be told from them.
    values = {"a": 3, "b": 0, "c": 0}
    protection = protect_column(values, 3, threshold=5)
    assert protection.marks == {"a": Mark.primary, "b": Mark.primary, "c": Mark.primary, TOTAL: Mark.primary}
    feasible = feasible_values_one_level(values, 3, protection, exact=True)
    assert all(len(v) >= 2 for v in feasible.values())


def test_a_total_is_hidden_when_nothing_else_can_be() -> None:
    # Every bracket holds exactly 4: with the total of 8 shown, each "<5" would have to be 4.
    values = {"a": 4, "b": 4}
    protection = protect_column(values, 8, threshold=5)
    assert protection.marks[TOTAL] is Mark.complementary


two_level = st.lists(st.lists(st.integers(min_value=0, max_value=7), min_size=1, max_size=3), min_size=1, max_size=3)


@settings(max_examples=100, deadline=None)
@given(two_level, st.integers(min_value=3, max_value=5))
def test_communes_within_epcis_cannot_be_derived_either(groups: list[list[int]], threshold: int) -> None:
    """Two published levels (communes and their EPCIs, both with the grand total): brute force over
    every assignment of the suppressed cells consistent with both levels."""
    values: dict[Hashable, int] = {}
    parents: dict[Hashable, Hashable] = {}
    for e, communes in enumerate(groups):
        values[("epci", e)] = sum(communes)
        for c, count in enumerate(communes):
            values[("commune", e, c)] = count
            parents[("commune", e, c)] = ("epci", e)
    total = sum(sum(g) for g in groups)
    protection = protect_column(values, total, threshold=threshold, parents=parents)
    ceiling = total + threshold
    cells = {**values, TOTAL: total}
    unknown = [k for k in cells if protection.marks[k] is not Mark.shown]
    domains = {k: ([cells[k]] if protection.marks[k] is Mark.shown else list(domain(protection, k, ceiling)))
               for k in cells}
    possible: dict[Hashable, set[int]] = {k: set() for k in unknown}

    def consistent(assign: dict[Hashable, int]) -> bool:
        if sum(assign[("epci", e)] for e in range(len(groups))) != assign[TOTAL]:
            return False
        return all(sum(assign[("commune", e, c)] for c in range(len(g))) == assign[("epci", e)]
                   for e, g in enumerate(groups))

    def search(index: int, assign: dict[Hashable, int]) -> None:
        if index == len(unknown):
            if consistent(assign):
                for k in unknown:
                    possible[k].add(assign[k])
            return
        key = unknown[index]
        for v in domains[key]:
            assign[key] = v
            search(index + 1, assign)
        del assign[key]

    if len(unknown) <= 6:  # keep the brute force small; bigger tables are covered by the one-level test
        search(0, {k: v for k, v in cells.items() if protection.marks[k] is Mark.shown})
        for key, found in possible.items():
            assert cells[key] in found
            assert len(found) >= 2 or found == {0}, f"{key} = {cells[key]} can be derived: {protection.marks}"
