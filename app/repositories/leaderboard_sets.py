"""A minimal ``LeaderboardSink``: the four global boards as Redis sorted sets, one member per player.

This is the stub of the leaderboards issue's implementation (country and friends boards, pages, deltas,
rebuilds from Firestore): it only keeps each player's best score per period and reports global ranks.
Redis is an index here, never the only copy: every finished game's score is in ``/games`` (indexed by
``status, final_score``), from which the boards can be rebuilt.

Keys: ``lb:{period}:{period_id}:global`` (``daily`` 2026-11-26, ``weekly`` 2026-W48, ``monthly``
2026-11, ``all_time`` all), periods in UTC. ``ZADD GT`` keeps the best score, so submitting the same game
twice changes nothing. Ranks are 1-based (``ZREVRANK`` + 1); all ``None`` when Redis fails.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.services.games import Ranks

log = logging.getLogger("app.leaderboard")

PERIODS = ("daily", "weekly", "monthly", "all_time")
#: How long a period's board outlives the period (the leaderboards issue archives them to Firestore).
_KEEP_S = {"daily": 2 * 86400, "weekly": 15 * 86400, "monthly": 62 * 86400}


def period_ids(at: datetime) -> dict[str, str]:
    at = at.astimezone(UTC)
    year, week, _ = at.isocalendar()
    return {
        "daily": at.strftime("%Y-%m-%d"),
        "weekly": f"{year}-W{week:02d}",
        "monthly": at.strftime("%Y-%m"),
        "all_time": "all",
    }


def board_key(period: str, period_id: str) -> str:
    return f"lb:{period}:{period_id}:global"


class RedisLeaderboardSink:
    def __init__(self, client: redis.Redis, breaker: RedisBreaker) -> None:
        self._redis = client
        self._breaker = breaker

    async def submit(
        self, uid: str, game_id: str, score: int, country: str | None, finished_at: datetime
    ) -> Ranks:
        ids = period_ids(finished_at)
        keys = [board_key(period, ids[period]) for period in PERIODS]

        async def one_round_trip() -> list[Any]:
            async with self._redis.pipeline(transaction=True) as pipe:
                for period, key in zip(PERIODS, keys, strict=True):
                    pipe.zadd(key, {uid: score}, gt=True)
                    if period in _KEEP_S:
                        pipe.expire(key, _KEEP_S[period])
                for key in keys:
                    pipe.zrevrank(key, uid)
                return await pipe.execute()

        try:
            results = await self._breaker.call(one_round_trip)
        except (RedisError, OSError, BreakerOpenError) as exc:
            log.warning("leaderboard submit failed for game %s: %s", game_id, type(exc).__name__)
            return Ranks()
        ranks = results[-len(PERIODS) :]
        found = {p: (r + 1 if isinstance(r, int) else None) for p, r in zip(PERIODS, ranks, strict=True)}
        return Ranks(**found)
