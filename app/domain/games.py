"""A game session: its stored state, event chunks, the finish verdicts and the plausibility rules.

Plausibility rules for ``finish`` (``plausibility``; a failure rejects the game with the reason):

1. the score is an integer in ``0..MAX_SCORE``;
2. the score equals the sum of ``points`` over every event the session stored;
3. the score is at most ``MAX_POINTS_PER_S`` per second of the session's server-measured duration
   (start to finish, plus ``GRACE_S`` for network latency).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel

from app.domain.players import Stats

GAME_TTL = timedelta(days=7)
MAX_SCORE = 10_000_000
MAX_POINTS_PER_S = 500
GRACE_S = 2.0
CLOCK_SLACK_MS = 2_000
MAX_EVENTS_PER_GAME = 5_000
#: Keeps the game document (events included) well under Firestore's 1 MiB document limit.
MAX_COMPRESSED_BYTES = 512 * 1024


class GameMode(StrEnum):
    classic = "classic"
    timed = "timed"
    challenge = "challenge"


class GameStatus(StrEnum):
    active = "active"
    finished = "finished"
    rejected = "rejected"


@dataclass(frozen=True, slots=True)
class Game:
    """A stored session without its event chunks."""

    game_id: str
    uid: str
    mode: GameMode
    status: GameStatus
    started_at: datetime
    expires_at: datetime
    event_count: int = 0
    chunk_count: int = 0
    last_t_ms: int = -1
    points_total: int = 0
    compressed_bytes: int = 0
    final_score: int | None = None
    finished_at: datetime | None = None
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventChunk:
    """One accepted batch: the compressed bytes and the game's counters after it."""

    index: int
    data: bytes
    event_count: int
    last_t_ms: int
    points_total: int
    compressed_bytes: int


@dataclass(frozen=True, slots=True)
class Accept:
    final_score: int


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The game was already finished (or rejected): answer as the first time, write nothing."""

    game: Game


Verdict = Accept | Reject | Replay


@dataclass(frozen=True, slots=True)
class Finished:
    """What the finish transaction committed (or found already committed)."""

    game: Game
    country: str | None


class Ranks(BaseModel):
    """1-based ranks on the four global boards; ``None`` when the board could not be reached."""

    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None
    all_time: int | None = None


@dataclass(frozen=True, slots=True)
class PendingSubmit:
    """A finished game whose leaderboard submit did not reach the boards (``board_pending`` on its document
    in ``database``): the reconciler submits it again."""

    database: str
    game_id: str
    uid: str
    score: int
    country: str | None
    finished_at: datetime


def compress_events(events: Sequence[dict[str, Any]]) -> bytes:
    # mtime=0: the same batch always compresses to the same bytes.
    return gzip.compress(orjson.dumps(list(events)), mtime=0)


def decompress_events(chunks: Sequence[bytes]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for chunk in chunks:
        events.extend(orjson.loads(gzip.decompress(chunk)))
    return events


def elapsed_ms(game: Game, now: datetime) -> int:
    return max(0, int((now - game.started_at).total_seconds() * 1000))


def plausibility(game: Game, score: int, now: datetime) -> str | None:
    """The first rule the score breaks (module docstring), or ``None`` when it is plausible."""
    if not 0 <= score <= MAX_SCORE:
        return f"score must be between 0 and {MAX_SCORE}"
    if score != game.points_total:
        return f"score {score} does not match the session's events (their points sum to {game.points_total})"
    allowed = MAX_POINTS_PER_S * (elapsed_ms(game, now) / 1000 + GRACE_S)
    if score > allowed:
        return f"score {score} is more than {MAX_POINTS_PER_S} points per second of play allows"
    return None


def add_game_to_stats(stats: Stats, score: int) -> Stats:
    return Stats(
        games_played=stats.games_played + 1,
        best_score=max(stats.best_score, score),
        total_score=stats.total_score + score,
    )
