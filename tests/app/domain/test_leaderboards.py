"""The pure rules: periods and rollover, the encoding and its tie-break, windows, deltas, rule config."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.leaderboards import (
    ALL_TIME_START,
    TIME_BITS,
    BoardRules,
    Period,
    Rule,
    day_frames,
    decode,
    encode,
    max_score,
    period_end,
    period_id,
    period_start,
    previous_period_id,
    time_offset,
)
from app.domain.standings import (
    Entry,
    ScoredGame,
    around_bounds,
    changed_entries,
    fold_games,
    page_bounds,
    ranked,
)
from app.services.errors import Failure, ServiceError
from app.services.leaderboard_views import parse_period_id

pytestmark = pytest.mark.unit


def test_periods_roll_over_at_utc_boundaries() -> None:
    sunday_night = datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC)
    monday = sunday_night + timedelta(seconds=1)
    assert period_id(Period.weekly, sunday_night) == "2026-W48"
    assert period_id(Period.weekly, monday) == "2026-W49"
    assert period_id(Period.daily, monday) == "2026-11-30"
    assert period_id(Period.monthly, datetime(2026, 12, 1, tzinfo=UTC)) == "2026-12"
    assert period_id(Period.weekly, datetime(2027, 1, 1, tzinfo=UTC)) == "2026-W53"  # ISO week-year
    assert period_end(Period.monthly, datetime(2026, 12, 1, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_end(Period.weekly, period_start(Period.weekly, sunday_night)) == monday
    assert period_end(Period.all_time, ALL_TIME_START) is None
    assert previous_period_id(Period.daily, monday) == "2026-11-29"
    assert previous_period_id(Period.weekly, monday) == "2026-W48"


def test_period_ids_parse_back_to_their_start() -> None:
    for period in (Period.daily, Period.weekly, Period.monthly):
        at = datetime(2026, 3, 18, 7, tzinfo=UTC)
        assert parse_period_id(period, period_id(period, at)) == period_start(period, at)
    for bad in ("2026-13", "2026-11-31x", "all"):
        with pytest.raises(ServiceError) as err:
            parse_period_id(Period.monthly, bad)
        assert err.value.failure is Failure.INVALID


@given(
    score=st.integers(0, 10_000_000),
    seconds=st.integers(0, 2**29 - 1),
)
def test_all_time_encoding_is_exact_below_2_53(score: int, seconds: int) -> None:
    value = encode(Period.all_time, score, seconds)
    assert value < 2**53
    assert float(value) == value  # a double holds it exactly
    assert decode(Period.all_time, float(value)) == (score, seconds)


def test_every_period_encodes_the_highest_score_of_a_game() -> None:
    assert set(Period) == {Period.daily, Period.weekly, Period.monthly, Period.all_time}
    for period in Period:
        assert max_score(period) >= 10_000_000
        last = 2 ** TIME_BITS[period] - 1
        assert encode(period, 10_000_000, last) < 2**53


def test_higher_score_then_earlier_achievement_ranks_first() -> None:
    early, late = 10, 500
    entries = {
        "late": encode(Period.daily, 100, late),
        "early": encode(Period.daily, 100, early),
        "best": encode(Period.daily, 101, 80_000),
        "low": encode(Period.daily, 99, 0),
        "same-b": encode(Period.daily, 100, late),  # same score, same second: uid order (descending)
    }
    assert [uid for uid, _ in ranked(entries)] == ["best", "early", "same-b", "late", "low"]


def test_times_outside_the_period_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the encodable range"):
        time_offset(Period.all_time, datetime(2024, 12, 31, tzinfo=UTC))


def test_best_keeps_the_earlier_of_equal_scores_and_incr_adds() -> None:
    t0 = datetime(2026, 11, 26, 10, tzinfo=UTC)
    games = [
        ScoredGame("g1", "a", 50, "IE", t0),
        ScoredGame("g2", "a", 50, "IE", t0 + timedelta(hours=1)),
        ScoredGame("g3", "a", 20, "FR", t0 + timedelta(hours=2)),
    ]
    best = fold_games(BoardRules(), Period.daily, games)
    assert decode(Period.daily, best["global"]["a"]) == (50, 10 * 3600)
    assert set(best) == {"global", "country:IE", "country:FR"}
    assert decode(Period.daily, best["country:FR"]["a"])[0] == 20
    incr = fold_games(BoardRules({(Period.daily, "global"): Rule.incr}), Period.daily, games)
    assert decode(Period.daily, incr["global"]["a"]) == (120, 12 * 3600)
    assert decode(Period.daily, incr["country:IE"]["a"])[0] == 50  # country boards keep best


def test_board_rules_parse_and_refuse_what_cannot_be_rebuilt() -> None:
    rules = BoardRules.parse("daily:global=incr, weekly:country=incr")
    assert rules.rule(Period.daily, "global") is Rule.incr
    assert rules.rule(Period.daily, "country:IE") is Rule.best
    assert rules.rule(Period.weekly, "country:IE") is Rule.incr
    for bad in (
        "monthly:global=incr",
        "daily=incr",
        "daily:global=max",
        "daily:team=best",
        "hourly:global=best",
    ):
        with pytest.raises(ValueError, match=r"incr boards|expected period|unknown period|board kind"):
            BoardRules.parse(bad)


def test_pages_and_around_me_windows_at_the_edges() -> None:
    assert page_bounds(1) == (0, 99)
    assert page_bounds(3) == (200, 299)
    assert around_bounds(0, 1000, 5) == (0, 10)  # first place: shifted down, still 11 players
    assert around_bounds(999, 1000, 5) == (989, 999)  # last place
    assert around_bounds(99, 1000, 2) == (97, 101)  # across the page 1 / page 2 boundary
    assert around_bounds(3, 4, 5) == (0, 3)  # a board smaller than the window
    assert around_bounds(0, 1, 0) == (0, 0)


def test_changed_entries_report_rank_and_score_changes_and_leavers() -> None:
    old = [Entry(1, "a", 10), Entry(2, "b", 9), Entry(3, "c", 8)]
    new = [Entry(1, "d", 12), Entry(2, "a", 10), Entry(3, "b", 9)]
    changed, removed = changed_entries(old, new)
    assert [e.uid for e in changed] == ["d", "a", "b"]
    assert removed == ["c"]
    assert changed_entries(old, old) == ([], [])


def test_day_frames_know_which_periods_lie_inside_which() -> None:
    """The submit skips a longer period's best board only when the shorter period lies inside it."""

    def within(day: datetime) -> dict[str, tuple[str, ...]]:
        frames = day_frames(BoardRules(), int(day.timestamp()) // 86_400)
        return {f.period.value: tuple(frames[i].period.value for i in f.within) for f in frames}

    inside_month = within(datetime(2026, 11, 26, tzinfo=UTC))  # ISO week 48: Mon 23 .. Sun 29 November
    assert inside_month == {
        "daily": (),
        "weekly": ("daily",),
        "monthly": ("daily", "weekly"),
        "all_time": ("daily", "weekly", "monthly"),
    }
    straddling = within(datetime(2026, 12, 1, tzinfo=UTC))  # week 49 starts on Monday 30 November
    assert straddling["monthly"] == ("daily",)
    assert straddling["all_time"] == ("daily", "weekly", "monthly")
    with pytest.raises(ValueError, match="outside the encodable range of the all_time boards"):
        day_frames(BoardRules(), int(ALL_TIME_START.timestamp()) // 86_400 - 1)
