"""The boards in Redis: one plain sorted set of uids per board (scores encoded, app/domain/leaderboards.py).

The keys are in ``leaderboard_keys``, the Lua scripts in ``leaderboard_scripts``.

Rendered pages (``leaderboard:{scope}:{period}:{period_id}[:CC]:p{N}``) are a cache with the seed's TTLs;
``…:s{version}`` keeps a render for ``/changes`` (10 minutes).

Submitting a game is ONE round trip: the script updates every board of the game (``ZADD GT`` for
``best``, read-add-write for ``incr``), bumps the versions of the boards that changed and returns the global
ranks. ``best`` is idempotent by itself (the same game encodes to the same value); ``incr`` boards are
guarded by the per-game key.

On a Redis Cluster every multi-key command, script and pipeline here stays inside the ``{lb}`` slot, so
nothing is cross-slot; the rendered pages (no tag) spread over the shards. No MULTI/EXEC: a rebuilt
cumulative board is built aside and swapped in by one script (``SWAP_SCRIPT``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from redis.exceptions import NoScriptError

from app.core.metrics import REDIS_FAILURES
from app.domain.countries import ISO_3166_ALPHA2
from app.domain.games import Ranks
from app.domain.leaderboards import Board, BoardRules, Period, day_frames
from app.domain.standings import Slice
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.clients import REDIS_ERRORS, RedisClient
from app.repositories.errors import LeaderboardUnavailableError
from app.repositories.leaderboard_keys import (
    ALIVE_KEY,
    REBUILD_LOCK_KEY,
    TAG,
    key_of,
    registry_key,
    version_key,
)
from app.repositories.leaderboard_scripts import (
    AROUND_SCRIPT,
    PAGE_SCRIPT,
    SUBMIT_SCRIPT,
    SWAP_SCRIPT,
    DayFrame,
)

log = logging.getLogger("app.leaderboard")

T = TypeVar("T")
FAILURES = (*REDIS_ERRORS, BreakerOpenError)
SNAPSHOT_TTL_S = 600
#: Held by one run of the reconciler (app/services/leaderboards_reconcile.py) across every process.
RECONCILE_LOCK_KEY = f"{TAG}:reconciling"
#: A board being rebuilt aside (``RedisBoards.replace``) is dropped after this if the swap never comes.
REBUILD_ASIDE_TTL_S = 3600


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> list[tuple[str, float]]:
    return [(_text(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]


class RedisBoards:
    """Every Redis call of the leaderboards, each through the breaker."""

    def __init__(self, client: RedisClient, breaker: RedisBreaker) -> None:
        self._redis = client
        self._breaker = breaker
        self._submit = client.register_script(SUBMIT_SCRIPT)
        self._page = client.register_script(PAGE_SCRIPT)
        self._around = client.register_script(AROUND_SCRIPT)
        self._swap = client.register_script(SWAP_SCRIPT)

    @property
    def client(self) -> RedisClient:
        return self._redis

    async def call(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self._breaker.call(fn)
        except FAILURES as exc:
            reason = "breaker_open" if isinstance(exc, BreakerOpenError) else type(exc).__name__
            REDIS_FAILURES.labels(operation=f"leaderboard_{operation}", reason=reason).inc()
            raise LeaderboardUnavailableError(reason) from exc

    # --- writes ---------------------------------------------------------------------------------

    async def submit(self, uid: str, game_id: str, numbers: str, frame: bytes) -> list[Any]:
        """Every board of one game, one ``EVALSHA``: ``[lost, fresh, global rank per period]``.

        ``numbers`` and ``frame``: see SUBMIT_SCRIPT (``RedisLeaderboardSink.submit`` builds them).
        """
        args = (ALIVE_KEY, uid, game_id, numbers, frame)
        return await self.call("submit", lambda: self._evalsha(args))

    async def _evalsha(self, args: tuple[Any, ...]) -> list[Any]:
        # The script's object would add a tuple copy and an import per call; the fallback is the same.
        try:
            result: list[Any] = await self._redis.execute_command("EVALSHA", self._submit.sha, 1, *args)
        except NoScriptError:  # a flushed script cache (restart, failover): EVAL loads it again
            result = await self._redis.execute_command("EVAL", SUBMIT_SCRIPT, 1, *args)
        return result

    async def load(self, board: Board, entries: dict[str, int], ttl_s: int | None, version_base: int) -> None:
        """Merge rebuilt entries into a board (``ZADD GT``: a concurrent submit is never lowered)."""
        items = list(entries.items())
        batch = 10_000

        async def run() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                for i in range(0, len(items), batch):
                    pipe.zadd(key_of(board), dict(items[i : i + batch]), gt=True)
                pipe.set(version_key(board), version_base, nx=True)
                pipe.incr(version_key(board))
                pipe.sadd(registry_key(board.period, board.period_id), board.name)
                if ttl_s is not None:
                    for key in (
                        key_of(board),
                        version_key(board),
                        registry_key(board.period, board.period_id),
                    ):
                        pipe.expire(key, ttl_s)
                await pipe.execute()

        await self.call("load", run)

    async def replace(
        self, board: Board, entries: dict[str, int], ttl_s: int | None, version_base: int
    ) -> None:
        """Replace a cumulative board with its rebuilt content: built aside, then swapped in by one script
        (readers see the old board or the new one, never a part of it)."""
        aside = key_of(board) + ":rebuild"
        items = list(entries.items())

        async def build_aside() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(aside)
                for i in range(0, len(items), 10_000):
                    pipe.zadd(aside, dict(items[i : i + 10_000]))
                pipe.expire(aside, REBUILD_ASIDE_TTL_S)
                await pipe.execute()

        keys = [aside, key_of(board), version_key(board), registry_key(board.period, board.period_id)]
        args = [1 if items else 0, version_base, board.name, ttl_s or 0]
        await self.call("load", build_aside)
        await self.call("load", lambda: self._swap(keys=keys, args=args))

    async def mark_alive(self, built_at: datetime) -> None:
        await self.call("alive", lambda: self._redis.set(ALIVE_KEY, built_at.isoformat()))

    async def is_alive(self) -> bool:
        return bool(await self.call("alive", lambda: self._redis.exists(ALIVE_KEY)))

    async def take_rebuild_lock(self, owner: str, ttl_s: int) -> bool:
        return bool(
            await self.call("lock", lambda: self._redis.set(REBUILD_LOCK_KEY, owner, nx=True, ex=ttl_s))
        )

    async def release_rebuild_lock(self, owner: str) -> None:
        await self._release(REBUILD_LOCK_KEY, owner)

    async def take_reconcile_lock(self, owner: str, ttl_s: int) -> bool:
        return bool(
            await self.call("lock", lambda: self._redis.set(RECONCILE_LOCK_KEY, owner, nx=True, ex=ttl_s))
        )

    async def release_reconcile_lock(self, owner: str) -> None:
        await self._release(RECONCILE_LOCK_KEY, owner)

    async def _release(self, key: str, owner: str) -> None:
        current = await self.call("lock", lambda: self._redis.get(key))
        if current is not None and _text(current) == owner:
            await self.call("lock", lambda: self._redis.delete(key))

    # --- reads ----------------------------------------------------------------------------------

    async def slice(self, board: Board, start: int, stop: int) -> Slice:
        keys = [key_of(board), version_key(board), ALIVE_KEY]
        out = await self.call("page", lambda: self._page(keys=keys, args=[start, stop]))
        return Slice(int(out[0]), int(out[1]), start, _pairs(out[3:]), alive=bool(out[2]))

    async def around(self, board: Board, uid: str, radius: int) -> Slice:
        keys = [key_of(board), version_key(board)]
        out = await self.call("around", lambda: self._around(keys=keys, args=[uid, radius]))
        rank0 = int(out[2])
        return Slice(
            int(out[0]), int(out[1]), int(out[3]), _pairs(out[4:]), rank0=None if rank0 < 0 else rank0
        )

    async def scores_of(self, board: Board, uids: Sequence[str]) -> tuple[int, list[float | None]]:
        """The board's version and the encoded scores of ``uids`` (``ZMSCORE``): one round trip."""

        async def run() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(version_key(board))
                pipe.zmscore(key_of(board), list(uids))
                return await pipe.execute()

        version, scores = await self.call("friends", run)
        return int(version or 0), [None if s is None else float(s) for s in scores]

    async def version(self, board: Board) -> int:
        return int(await self.call("version", lambda: self._redis.get(version_key(board))) or 0)

    async def boards_of(self, period: Period, period_id: str) -> list[str]:
        names = await self.call("registry", lambda: self._redis.smembers(registry_key(period, period_id)))
        return sorted(_text(n) for n in names)

    async def exists(self, board: Board) -> bool:
        return bool(await self.call("exists", lambda: self._redis.exists(key_of(board))))

    async def all_entries(self, board: Board, batch: int = 50_000) -> list[tuple[str, float]]:
        """The whole board, highest first, read in batches (the archive job)."""
        members: list[tuple[str, float]] = []
        start = 0
        while True:
            first = start
            chunk = await self.call("archive", lambda: self._range(board, first, first + batch - 1))  # noqa: B023
            members += chunk
            if len(chunk) < batch:
                return members
            start += batch

    async def _range(self, board: Board, start: int, stop: int) -> list[tuple[str, float]]:
        found: list[Any] = await self._redis.zrevrange(key_of(board), start, stop, withscores=True)
        return [(_text(uid), float(score)) for uid, score in found]

    # --- rendered pages -------------------------------------------------------------------------

    async def cached_render(self, cache_key: str, board: Board) -> tuple[bytes | None, int, bool]:
        """One round trip: the cached render, the board's version, whether the boards are alive."""

        async def run() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(cache_key)
                pipe.get(version_key(board))
                pipe.exists(ALIVE_KEY)
                return await pipe.execute()

        cached, version, alive = await self.call("cache", run)
        return cached, int(version or 0), bool(alive)

    async def store_render(self, cache_key: str, version: int, value: bytes, ttl_s: int) -> None:
        async def run() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                if ttl_s > 0:
                    pipe.set(cache_key, value, ex=ttl_s)
                pipe.set(f"{cache_key}:s{version}", value, ex=SNAPSHOT_TTL_S)
                await pipe.execute()

        await self.call("cache", run)

    async def snapshot(self, cache_key: str, version: int) -> bytes | None:
        value = await self.call("cache", lambda: self._redis.get(f"{cache_key}:s{version}"))
        return value if isinstance(value, bytes) else None

    async def drop_renders(self, cache_keys: Sequence[str]) -> None:
        if cache_keys:
            await self.call("cache", lambda: self._redis.delete(*cache_keys))


OnLost = Callable[[], None]


class RedisLeaderboardSink:
    """The ``LeaderboardSink`` of the finish path: every board of a game in one round trip.

    Never raises: an unreachable Redis answers ``None`` (the finish marks the game ``board_pending`` and the
    reconciler submits it when Redis is back, app/services/leaderboards_reconcile.py). ``on_lost`` is called
    when the script finds the boards lost.
    """

    def __init__(
        self,
        client: RedisClient,
        breaker: RedisBreaker,
        rules: BoardRules | None = None,
        on_lost: OnLost | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._boards = RedisBoards(client, breaker)
        self._rules = rules or BoardRules()
        self.on_lost = on_lost
        self._clock = clock
        self._frames: dict[int, DayFrame] = {}  # by UTC day (days since 1970)

    @property
    def boards(self) -> RedisBoards:
        return self._boards

    async def submit(
        self, uid: str, game_id: str, score: int, country: str | None, finished_at: datetime
    ) -> Ranks | None:
        """The game's global ranks, or ``None`` when the submit did not reach the boards."""
        at_s = int(finished_at.timestamp())
        frame = self._frames.get(at_s // 86_400) or self._frame_of(at_s // 86_400)
        values = " ".join([str(min(score, top) * span + tail - at_s) for span, tail, top in frame.encoders])
        code = country if country is not None and country in ISO_3166_ALPHA2 else "-"
        nested = 1 if score <= frame.nested_max else 0
        numbers = f"{score} {int(self._clock().timestamp() * 1_000_000)} {code} {nested} {values}"
        try:
            result = await self._boards.submit(uid, game_id, numbers, frame.arg)
        except LeaderboardUnavailableError as exc:
            log.warning("leaderboard submit failed for game %s: %s", game_id, exc)
            return None
        if result[0] and self.on_lost is not None:
            self.on_lost()
        ranks = [r + 1 if isinstance(r, int) else None for r in result[2:]]
        return Ranks(daily=ranks[0], weekly=ranks[1], monthly=ranks[2], all_time=ranks[3])

    def _frame_of(self, day: int) -> DayFrame:
        if len(self._frames) >= 8:  # the days of games still being finished: a handful at most
            self._frames.clear()
        frame = self._frames[day] = DayFrame.of(day_frames(self._rules, day))
        return frame
