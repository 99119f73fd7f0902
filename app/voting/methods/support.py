"""Result of a `support` consultation: proposals ranked by supports, the most supported first.

Ties are shown as ties: standard competition ranking ("1, 1, 3"): proposals with as many
supports share a rank, and the next proposal's rank counts every proposal ahead of it. Within a
tie the earlier submitted is listed first; that is display order only, the rank is shared."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple


class SupportTally(NamedTuple):
    """One proposal's count. A plain `(proposal_id, supports, order)` tuple does as well."""

    proposal_id: int
    supports: int
    order: Any  # the submission order: a sequence number or the submission time (anything comparable)


@dataclass(frozen=True)
class SupportResult:
    proposal_id: int
    supports: int
    rank: int  # 1 for the most supported; equal supports share a rank


def rank(proposals: Iterable[tuple[int, int, Any]]) -> list[SupportResult]:
    """Rank proposals by supports, most first; ties share a rank (1, 1, 3) and are listed in
    submission order. Raises ValueError on a negative count or a proposal given twice."""
    tallies = [SupportTally(*entry) for entry in proposals]
    _check(tallies)
    ordered = sorted(tallies, key=lambda t: (-t.supports, t.order))
    results: list[SupportResult] = []
    for position, tally in enumerate(ordered, start=1):
        tied = bool(results) and results[-1].supports == tally.supports
        place = results[-1].rank if tied else position
        results.append(SupportResult(tally.proposal_id, tally.supports, place))
    return results


def _check(tallies: list[SupportTally]) -> None:
    seen: set[int] = set()
    for tally in tallies:
        if tally.supports < 0:
            raise ValueError(f"proposal {tally.proposal_id}: negative supports ({tally.supports})")
        if tally.proposal_id in seen:
            raise ValueError(f"proposal {tally.proposal_id} given twice")
        seen.add(tally.proposal_id)
