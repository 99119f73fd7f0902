"""The current phase follows from the dates and the clock only: each boundary, the timeline."""

from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from app.consultations.models import PHASES_IN_ORDER, Consultation, Phase
from app.consultations.phases import phase_at, timeline
from tests.factories import NOW, phase_dates

TICK = timedelta(microseconds=1)
DAY = timedelta(days=1)


def consultation(*, ends: datetime | None = None, **starts: datetime) -> Consultation:
    """A consultation (not stored) whose phases start ten days apart from NOW - 5 days, unless told."""
    dates = phase_dates("information") | {f"{name}_starts_at": moment for name, moment in starts.items()}
    return Consultation(slug="c", title="Consultation", summary="Pour les tests.", axis_id=1,
                        follow_up_ends_at=ends, created_at=NOW, updated_at=NOW, **dates)


STARTS = {
    Phase.information: NOW - 5 * DAY,
    Phase.proposals: NOW + 5 * DAY,
    Phase.voting: NOW + 15 * DAY,
    Phase.results: NOW + 25 * DAY,
    Phase.follow_up: NOW + 35 * DAY,
}


def test_the_factory_dates_are_the_ones_these_tests_assume() -> None:
    assert consultation().phase_starts() == STARTS


@pytest.mark.parametrize("phase", PHASES_IN_ORDER)
def test_a_phase_starts_at_its_start_date_exactly(phase: Phase) -> None:
    c = consultation()
    start = STARTS[phase]
    assert phase_at(c, start) == phase
    assert phase_at(c, start + TICK) == phase
    index = PHASES_IN_ORDER.index(phase)
    before = PHASES_IN_ORDER[index - 1] if index else Phase.upcoming
    assert phase_at(c, start - TICK) == before


def test_upcoming_before_the_information_phase() -> None:
    assert phase_at(consultation(), STARTS[Phase.information] - 365 * DAY) == Phase.upcoming


def test_without_an_end_the_follow_up_lasts_for_ever() -> None:
    assert phase_at(consultation(), NOW + 3650 * DAY) == Phase.follow_up


def test_closed_from_the_end_of_the_follow_up_exactly() -> None:
    end = NOW + 45 * DAY
    c = consultation(ends=end)
    assert phase_at(c, end - TICK) == Phase.follow_up
    assert phase_at(c, end) == Phase.closed
    assert phase_at(c, end + 365 * DAY) == Phase.closed


def test_a_phase_of_no_length_is_skipped() -> None:
    """Equal start dates: the later phase wins at once (the earlier one lasts no time)."""
    c = consultation(information=NOW - 20 * DAY, proposals=NOW - 10 * DAY, voting=NOW, results=NOW)
    assert phase_at(c, NOW - TICK) == Phase.proposals
    assert phase_at(c, NOW) == Phase.results


def test_closing_the_voting_phase_early_is_moving_the_results_start() -> None:
    c = consultation(proposals=NOW - 20 * DAY, voting=NOW - 10 * DAY, information=NOW - 30 * DAY)
    assert phase_at(c, NOW) == Phase.voting
    c.results_starts_at = NOW - TICK
    assert phase_at(c, NOW) == Phase.results


def test_extending_the_proposals_phase_is_moving_the_next_starts() -> None:
    c = consultation(information=NOW - 20 * DAY, proposals=NOW - 10 * DAY, voting=NOW - DAY)
    assert phase_at(c, NOW) == Phase.voting
    c.voting_starts_at = NOW + 7 * DAY
    assert phase_at(c, NOW) == Phase.proposals


def states(c: Consultation, now: datetime) -> dict[Phase, str]:
    return {span.phase: span.state for span in timeline(c, now)}


def test_timeline_in_the_middle_of_a_phase() -> None:
    c = consultation(ends=NOW + 45 * DAY)
    assert states(c, STARTS[Phase.voting] + DAY) == {
        Phase.information: "past", Phase.proposals: "past", Phase.voting: "current",
        Phase.results: "future", Phase.follow_up: "future",
    }


def test_timeline_spans_end_where_the_next_phase_starts() -> None:
    end = NOW + 45 * DAY
    spans = timeline(consultation(ends=end), NOW)
    assert [span.phase for span in spans] == list(PHASES_IN_ORDER)
    for span, following in pairwise(spans):
        assert span.ends_at == following.starts_at
    assert spans[-1].ends_at == end
    assert [span.starts_at for span in spans] == list(STARTS.values())


def test_timeline_at_each_boundary() -> None:
    c = consultation(ends=NOW + 45 * DAY)
    for index, phase in enumerate(PHASES_IN_ORDER):
        expected = {p: ("past" if i < index else "current" if i == index else "future")
                    for i, p in enumerate(PHASES_IN_ORDER)}
        assert states(c, STARTS[phase]) == expected, phase


def test_timeline_before_and_after() -> None:
    c = consultation(ends=NOW + 45 * DAY)
    assert set(states(c, NOW - 30 * DAY).values()) == {"future"}
    assert set(states(c, NOW + 45 * DAY).values()) == {"past"}
    open_ended = consultation()
    assert states(open_ended, NOW + 3650 * DAY)[Phase.follow_up] == "current"
    assert timeline(open_ended, NOW)[-1].ends_at is None


def test_a_skipped_phase_is_past_not_current() -> None:
    c = consultation(information=NOW - 20 * DAY, proposals=NOW - 10 * DAY, voting=NOW, results=NOW)
    assert states(c, NOW)[Phase.voting] == "past"
    assert states(c, NOW)[Phase.results] == "current"
