"""Result of a participatory `budget` consultation.

Proposals are ranked by votes, most first; equal votes: the cheaper first, then the earlier
submitted. They are funded in that order while they fit in what remains of the budget: a
proposal costing more than what remains is skipped (not funded) and the next one is tried, so a
cheaper proposal further down can still be funded. A proposal fits when its cost is at most what
remains (an exact fit is funded). The rules say nothing about votes, so a proposal without any
vote is funded too if it fits.

The rank is the position in that order (1, 2, 3, …) and never shared: the submission order is
unique (ValueError otherwise; pass `(submitted_at, proposal_id)` if times can collide), so no
two proposals have the same (votes, cost, order)."""

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple


class BudgetProposal(NamedTuple):
    """One proposal's figures. A plain `(proposal_id, cost, votes, order)` tuple does as well."""

    proposal_id: int
    cost: int  # euros
    votes: int
    order: Any  # the submission order: a sequence number or the submission time; unique


@dataclass(frozen=True)
class BudgetLine:
    proposal_id: int
    rank: int  # position in the ranking, 1 first; never shared
    votes: int
    cost: int
    funded: bool
    remaining: int  # what is left of the budget after this proposal (unchanged when not funded)


@dataclass(frozen=True)
class BudgetResult:
    budget: int
    lines: tuple[BudgetLine, ...]  # in rank order
    spent: int
    left: int  # budget - spent


def allocate(budget: int, proposals: Iterable[tuple[int, int, int, Any]]) -> BudgetResult:
    """Rank the proposals and fund them while they fit. Raises ValueError on a negative budget,
    cost or vote count, on a proposal given twice or on two proposals with the same order."""
    if budget < 0:
        raise ValueError(f"negative budget ({budget})")
    entries = [BudgetProposal(*entry) for entry in proposals]
    _check(entries)
    ordered = sorted(entries, key=lambda p: (-p.votes, p.cost, p.order))
    remaining = budget
    lines: list[BudgetLine] = []
    for position, proposal in enumerate(ordered, start=1):
        funded = proposal.cost <= remaining
        if funded:
            remaining -= proposal.cost
        lines.append(BudgetLine(proposal.proposal_id, position, proposal.votes, proposal.cost, funded, remaining))
    return BudgetResult(budget=budget, lines=tuple(lines), spent=budget - remaining, left=remaining)


def _check(entries: list[BudgetProposal]) -> None:
    ids: set[int] = set()
    orders: list[Any] = []
    for entry in entries:
        if entry.cost < 0:
            raise ValueError(f"proposal {entry.proposal_id}: negative cost ({entry.cost})")
        if entry.votes < 0:
            raise ValueError(f"proposal {entry.proposal_id}: negative votes ({entry.votes})")
        if entry.proposal_id in ids:
            raise ValueError(f"proposal {entry.proposal_id} given twice")
        ids.add(entry.proposal_id)
        orders.append(entry.order)
    orders.sort()
    if any(a == b for a, b in pairwise(orders)):
        raise ValueError("two proposals share a submission order")
