"""``judge_finish``: the verdict on a finish request, from the stored game alone (no store, no clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.games import MAX_SCORE, Accept, Game, GameMode, GameStatus, Reject, Replay, plausibility
from app.services.errors import Failure, ServiceError
from app.services.games import judge_finish

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)


def game(status: GameStatus = GameStatus.active, points_total: int = 1_200, **changes: object) -> Game:
    started = Game(
        game_id="g1",
        uid="alice",
        mode=GameMode.timed,
        status=status,
        started_at=T0,
        expires_at=T0 + timedelta(days=7),
        event_count=3,
        points_total=points_total,
    )
    return replace(started, **changes)  # type: ignore[arg-type]


def test_a_plausible_score_is_accepted() -> None:
    assert judge_finish(game(), 1_200, LATER) == Accept(1_200)


def test_an_implausible_score_is_rejected_with_the_rule_it_breaks() -> None:
    verdict = judge_finish(game(), 1_300, LATER)
    assert verdict == Reject("score 1300 does not match the session's events (their points sum to 1200)")


def test_finishing_again_with_the_same_score_replays_the_first_answer() -> None:
    finished = game(GameStatus.finished, final_score=1_200, finished_at=LATER)
    assert judge_finish(finished, 1_200, LATER + timedelta(hours=1)) == Replay(finished)


def test_finishing_again_with_another_score_is_a_conflict() -> None:
    finished = game(GameStatus.finished, final_score=1_200, finished_at=LATER)
    with pytest.raises(ServiceError) as raised:
        judge_finish(finished, 1_201, LATER)
    assert (raised.value.failure, raised.value.code) == (Failure.CONFLICT, "game_already_finished")
    assert "1200" in raised.value.message


@given(score=st.integers(-5, MAX_SCORE + 5))
def test_a_rejected_game_replays_whatever_the_score(score: int) -> None:
    rejected = game(GameStatus.rejected, reject_reason="score must be between 0 and 10000000")
    assert judge_finish(rejected, score, LATER) == Replay(rejected)


@given(
    points=st.integers(0, 200_000),
    delta=st.sampled_from([0, 0, 0, 1, -1, 7]),
    seconds=st.integers(-10, 600),
)
def test_an_active_game_is_accepted_exactly_when_plausible(points: int, delta: int, seconds: int) -> None:
    """Accept carries the score; Reject carries the reason plausibility gives; nothing else happens."""
    active = game(points_total=points)
    score = points + delta
    now = T0 + timedelta(seconds=seconds)
    reason = plausibility(active, score, now)
    assert judge_finish(active, score, now) == (Accept(score) if reason is None else Reject(reason))
