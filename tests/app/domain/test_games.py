"""The plausibility rules of a finished game (app/domain/games.py), without a service or a database."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.games import (
    GRACE_S,
    MAX_POINTS_PER_S,
    MAX_SCORE,
    Game,
    GameMode,
    GameStatus,
    elapsed_ms,
    plausibility,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def game(points_total: int, **changes: object) -> Game:
    """An active session started at T0 whose stored events' points sum to ``points_total``."""
    started = Game(
        game_id="g1",
        uid="alice",
        mode=GameMode.classic,
        status=GameStatus.active,
        started_at=T0,
        expires_at=T0 + timedelta(days=7),
        event_count=1,
        points_total=points_total,
    )
    return replace(started, **changes)  # type: ignore[arg-type]


def allowed(seconds: float) -> float:
    return MAX_POINTS_PER_S * (seconds + GRACE_S)


def test_the_sum_of_the_events_within_the_rate_is_plausible() -> None:
    assert plausibility(game(1_000), 1_000, T0 + timedelta(seconds=60)) is None


def test_a_score_that_is_not_the_sum_of_the_events_is_rejected() -> None:
    reason = plausibility(game(1_000), 1_001, T0 + timedelta(seconds=60))
    assert reason == "score 1001 does not match the session's events (their points sum to 1000)"


@pytest.mark.parametrize("score", [-1, MAX_SCORE + 1])
def test_a_score_out_of_range_is_rejected_first(score: int) -> None:
    # Out of range wins over the mismatch with the events: the first rule broken is the reason.
    assert plausibility(game(5), score, T0 + timedelta(days=1)) == f"score must be between 0 and {MAX_SCORE}"


def test_the_rate_limit_is_inclusive_and_counts_the_grace() -> None:
    now = T0 + timedelta(seconds=10)
    limit = int(allowed(10))
    assert plausibility(game(limit), limit, now) is None
    reason = plausibility(game(limit + 1), limit + 1, now)
    assert reason == f"score {limit + 1} is more than {MAX_POINTS_PER_S} points per second of play allows"


def test_a_finish_before_the_start_counts_as_no_time_played() -> None:
    # The server's clock may step back: elapsed time never goes negative, the grace still applies.
    before = T0 - timedelta(seconds=30)
    assert elapsed_ms(game(0), before) == 0
    assert plausibility(game(int(allowed(0))), int(allowed(0)), before) is None
    assert plausibility(game(int(allowed(0)) + 1), int(allowed(0)) + 1, before) is not None


@st.composite
def finishes(draw: st.DrawFn) -> tuple[int, int, int]:
    """(points of the stored events, score claimed, whole seconds played), often near a rule's edge."""
    points = draw(st.integers(-10, MAX_SCORE + 10))
    score = draw(st.one_of(st.just(points), st.just(points + 1), st.integers(-10, MAX_SCORE + 10)))
    needed = math.ceil(score / MAX_POINTS_PER_S - GRACE_S)  # the fewest seconds this score needs
    seconds = draw(st.one_of(st.integers(needed - 2, needed + 2), st.integers(-60, 7 * 24 * 3600)))
    return points, score, seconds


@given(finishes())
def test_plausible_exactly_when_every_rule_holds(finish: tuple[int, int, int]) -> None:
    points, score, seconds = finish
    expected = 0 <= score <= MAX_SCORE and score == points and score <= allowed(max(seconds, 0))
    reason = plausibility(game(points), score, T0 + timedelta(seconds=seconds))
    assert (reason is None) is expected, reason
    if reason is not None:
        assert str(score) in reason or str(MAX_SCORE) in reason  # the reason names what was wrong
