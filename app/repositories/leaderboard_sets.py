"""The boards in Redis: one plain sorted set of uids per board (scores encoded, app/services/leaderboards.py).

Keys (all carry the hash tag ``{lb}``, so the submit script's keys share one slot on a Redis cluster; the
live boards of a million players take well under 1 GB):

- ``{lb}:{period}:{period_id}:{board}``: the board (``global`` or ``country:CC``), expiring a while after
  its period ends (``KEEP_AFTER_END``), never for all-time;
- ``{lb}:{period}:{period_id}:v``: the version of the period's boards, started at the creation time in
  microseconds and incremented by every submit that changed one of them, so versions never go back,
  even after a flush and rebuild;
- ``{lb}:{period}:{period_id}:boards``: the set of the period's boards (the archive job's list);
- ``{lb}:alive``: set by a completed rebuild; its absence means the boards were lost (flush, failover to an
  empty replica), which the submit script and page reads report so the service rebuilds them;
- ``{lb}:game:{game_id}``: only when an ``incr`` board exists: the game was added (7 days).

Rendered pages (``leaderboard:{scope}:{period}:{period_id}[:CC]:p{N}``) are a cache with the seed's TTLs;
``…:s{version}`` keeps a render for ``/changes`` (10 minutes).

Submitting a game is ONE round trip: the script updates every board of the game (``ZADD GT`` for
``best``, read-add-write for ``incr``), bumps the versions of the boards that changed and returns the global
ranks. ``best`` is idempotent by itself (the same game encodes to the same value); ``incr`` boards are
guarded by the per-game key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.core.metrics import REDIS_FAILURES
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.services.games import Ranks
from app.services.leaderboards import (
    TIME_BITS,
    Board,
    BoardRules,
    BoardWrite,
    LeaderboardUnavailableError,
    Period,
    Rule,
    Slice,
    SubmitOutcome,
    period_ids,
    writes_for_game,
)

__all__ = ["RedisBoards", "RedisLeaderboardSink", "board_key", "period_ids"]

log = logging.getLogger("app.leaderboard")

T = TypeVar("T")
FAILURES = (RedisError, OSError, BreakerOpenError)
TAG = "{lb}"
ALIVE_KEY = f"{TAG}:alive"
REBUILD_LOCK_KEY = f"{TAG}:rebuilding"
GAME_MARKER_TTL_S = 7 * 86400
SNAPSHOT_TTL_S = 600


def board_key(period: str, period_id: str, name: str = "global") -> str:
    return f"{TAG}:{period}:{period_id}:{name}"


def key_of(board: Board) -> str:
    return board_key(board.period.value, board.period_id, board.name)


def version_key(board: Board) -> str:
    """One version per period, shared by its global and country boards (one increment per submit)."""
    return f"{TAG}:{board.period.value}:{board.period_id}:v"


def registry_key(period: Period, period_id: str) -> str:
    return f"{TAG}:{period.value}:{period_id}:boards"


def game_marker_key(game_id: str) -> str:
    return f"{TAG}:game:{game_id}"


# KEYS: alive, game marker, then per board: board, version, registry.
# ARGV: uid, score, marker ttl, version base, board count, then per board: rule (b|i), time bits, offset,
# seconds to live (0: forever), board name, want rank (1|0).
# Numbers go back to Redis through string.format('%.0f'): Lua's tostring keeps only 14 digits.
SUBMIT_SCRIPT = """
local uid = ARGV[1]
local score = tonumber(ARGV[2])
local n = tonumber(ARGV[5])
local lost = redis.call('EXISTS', KEYS[1]) == 0 and 1 or 0
local fresh = 1
for i = 0, n - 1 do
  if ARGV[6 + i * 6] == 'i' then
    fresh = redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) and 1 or 0
    break
  end
end
local out = {lost, fresh}
local bumped = {}
for i = 0, n - 1 do
  local a = 6 + i * 6
  local key, vkey, reg = KEYS[3 + i * 3], KEYS[4 + i * 3], KEYS[5 + i * 3]
  local span = 2 ^ tonumber(ARGV[a + 1])
  local tail = span - 1 - tonumber(ARGV[a + 2])
  local changed = 0
  if ARGV[a] == 'b' then
    changed = redis.call('ZADD', key, 'GT', 'CH', string.format('%.0f', score * span + tail), uid)
  elseif fresh == 1 then
    local total = score
    local current = redis.call('ZSCORE', key, uid)
    if current then total = total + math.floor(tonumber(current) / span) end
    local cap = 2 ^ (53 - tonumber(ARGV[a + 1])) - 1
    if total > cap then total = cap end
    changed = redis.call('ZADD', key, 'CH', string.format('%.0f', total * span + tail), uid)
  end
  if changed == 1 then
    local ttl = ARGV[a + 3]
    if ttl ~= '0' and redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
    if redis.call('SADD', reg, ARGV[a + 4]) == 1 and ttl ~= '0' then redis.call('EXPIRE', reg, ttl) end
    if not bumped[vkey] then
      bumped[vkey] = true
      if redis.call('SET', vkey, ARGV[4], 'NX') and ttl ~= '0' then redis.call('EXPIRE', vkey, ttl) end
      redis.call('INCR', vkey)
    end
  end
  if ARGV[a + 5] == '1' then
    out[#out + 1] = redis.call('ZREVRANK', key, uid)
  end
end
return out
"""

# KEYS: board, version, alive. ARGV: start, stop. -> {version, total, alive, uid, score, uid, score, ...}
PAGE_SCRIPT = """
local out = {redis.call('GET', KEYS[2]) or '0', redis.call('ZCARD', KEYS[1]), redis.call('EXISTS', KEYS[3])}
local members = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
for i = 1, #members do out[#out + 1] = members[i] end
return out
"""

# KEYS: board, version. ARGV: uid, radius. -> {version, total, rank or -1, start, uid, score, ...}
# The window is shifted (not cut) at the board's edges: services.leaderboards.around_bounds.
AROUND_SCRIPT = """
local total = redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
local out = {redis.call('GET', KEYS[2]) or '0', total, rank or -1, 0}
if not rank then return out end
local radius = tonumber(ARGV[2])
local size = 2 * radius + 1
local start = math.max(0, math.min(rank - radius, total - size))
out[4] = start
local members = redis.call('ZREVRANGE', KEYS[1], start, start + size - 1, 'WITHSCORES')
for i = 1, #members do out[#out + 1] = members[i] end
return out
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _pairs(flat: Sequence[Any]) -> list[tuple[str, float]]:
    return [(_text(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]


class RedisBoards:
    """Every Redis call of the leaderboards, each through the breaker."""

    def __init__(self, client: redis.Redis, breaker: RedisBreaker) -> None:
        self._redis = client
        self._breaker = breaker
        self._submit = client.register_script(SUBMIT_SCRIPT)
        self._page = client.register_script(PAGE_SCRIPT)
        self._around = client.register_script(AROUND_SCRIPT)

    @property
    def client(self) -> redis.Redis:
        return self._redis

    async def call(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self._breaker.call(fn)
        except FAILURES as exc:
            reason = "breaker_open" if isinstance(exc, BreakerOpenError) else type(exc).__name__
            REDIS_FAILURES.labels(operation=f"leaderboard_{operation}", reason=reason).inc()
            raise LeaderboardUnavailableError(reason) from exc

    # --- writes ---------------------------------------------------------------------------------

    async def submit(
        self, uid: str, game_id: str, score: int, writes: Sequence[BoardWrite], now: datetime
    ) -> SubmitOutcome:
        """``now`` gives the versions' base and the boards' time to live (their expiry is relative to it)."""
        version_base = int(now.timestamp() * 1_000_000)
        now_s = int(now.timestamp())
        keys = [ALIVE_KEY, game_marker_key(game_id)]
        args: list[Any] = [uid, score, GAME_MARKER_TTL_S, version_base, len(writes)]
        ranked: list[Period] = []
        for w in writes:
            keys += [key_of(w.board), version_key(w.board), registry_key(w.board.period, w.board.period_id)]
            want_rank = w.board.name == "global"
            if want_rank:
                ranked.append(w.board.period)
            args += [
                "b" if w.rule is Rule.best else "i",
                TIME_BITS[w.board.period],
                w.offset,
                max(60, w.expire_at - now_s) if w.expire_at is not None else 0,
                w.board.name,
                1 if want_rank else 0,
            ]
        result = await self.call("submit", lambda: self._submit(keys=keys, args=args))
        ranks = {
            period: (r if isinstance(r, int) else None) for period, r in zip(ranked, result[2:], strict=True)
        }
        return SubmitOutcome(lost=bool(result[0]), ranks=ranks)

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
        """Replace a cumulative board with its rebuilt content (built aside, then renamed in)."""
        temp = key_of(board) + ":rebuild"
        items = list(entries.items())

        async def run() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(temp)
                for i in range(0, len(items), 10_000):
                    pipe.zadd(temp, dict(items[i : i + 10_000]))
                if items:
                    pipe.rename(temp, key_of(board))
                else:
                    pipe.delete(key_of(board))
                pipe.set(version_key(board), version_base, nx=True)
                pipe.incr(version_key(board))
                pipe.sadd(registry_key(board.period, board.period_id), board.name)
                if ttl_s is not None and items:
                    pipe.expire(key_of(board), ttl_s)
                await pipe.execute()

        await self.call("load", run)

    async def mark_alive(self, built_at: datetime) -> None:
        await self.call("alive", lambda: self._redis.set(ALIVE_KEY, built_at.isoformat()))

    async def is_alive(self) -> bool:
        return bool(await self.call("alive", lambda: self._redis.exists(ALIVE_KEY)))

    async def take_rebuild_lock(self, owner: str, ttl_s: int) -> bool:
        return bool(
            await self.call("lock", lambda: self._redis.set(REBUILD_LOCK_KEY, owner, nx=True, ex=ttl_s))
        )

    async def release_rebuild_lock(self, owner: str) -> None:
        current = await self.call("lock", lambda: self._redis.get(REBUILD_LOCK_KEY))
        if current is not None and _text(current) == owner:
            await self.call("lock", lambda: self._redis.delete(REBUILD_LOCK_KEY))

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

    Never raises: an unreachable Redis answers null ranks (the finish replays the submit, and a rebuild
    from /games restores anything lost). ``on_lost`` is called when the script finds the boards lost.
    """

    def __init__(
        self,
        client: redis.Redis,
        breaker: RedisBreaker,
        rules: BoardRules | None = None,
        on_lost: OnLost | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._boards = RedisBoards(client, breaker)
        self._rules = rules or BoardRules()
        self.on_lost = on_lost
        self._clock = clock

    @property
    def boards(self) -> RedisBoards:
        return self._boards

    async def submit(
        self, uid: str, game_id: str, score: int, country: str | None, finished_at: datetime
    ) -> Ranks:
        writes = writes_for_game(self._rules, score, country, finished_at)
        try:
            outcome = await self._boards.submit(uid, game_id, score, writes, self._clock())
        except LeaderboardUnavailableError as exc:
            log.warning("leaderboard submit failed for game %s: %s", game_id, exc)
            return Ranks()
        if outcome.lost and self.on_lost is not None:
            self.on_lost()
        return Ranks(**{p.value: (r + 1 if r is not None else None) for p, r in outcome.ranks.items()})
