"""The boards in Redis: one plain sorted set of uids per board (scores encoded, app/services/leaderboards.py).

Keys (all carry the hash tag ``{lb}``, so the submit script's keys share one slot, hence one shard, on a
Redis Cluster; the live boards of a million players take well under 1 GB; docs/redis-topology.md shows one
shard has ample room for phase 2's games):

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

On a Redis Cluster every multi-key command, script and pipeline here stays inside the ``{lb}`` slot, so
nothing is cross-slot; the rendered pages (no tag) spread over the shards. No MULTI/EXEC: a rebuilt
cumulative board is built aside and swapped in by one script (``SWAP_SCRIPT``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from redis.exceptions import NoScriptError

from app.core.metrics import REDIS_FAILURES
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.clients import REDIS_ERRORS, RedisClient
from app.services.countries import ISO_3166_ALPHA2
from app.services.games import Ranks
from app.services.leaderboards import (
    TIME_BITS,
    Board,
    BoardRules,
    LeaderboardUnavailableError,
    Period,
    PeriodFrame,
    Rule,
    Slice,
    day_frames,
    max_score,
    period_ids,
)

__all__ = ["RedisBoards", "RedisLeaderboardSink", "board_key", "period_ids"]

log = logging.getLogger("app.leaderboard")

T = TypeVar("T")
FAILURES = (*REDIS_ERRORS, BreakerOpenError)
TAG = "{lb}"
ALIVE_KEY = f"{TAG}:alive"
REBUILD_LOCK_KEY = f"{TAG}:rebuilding"
GAME_MARKER_TTL_S = 7 * 86400
SNAPSHOT_TTL_S = 600
#: A board being rebuilt aside (``RedisBoards.replace``) is dropped after this if the swap never comes.
REBUILD_ASIDE_TTL_S = 3600


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


# KEYS: alive. ARGV: uid, game id, numbers, frame.
# - numbers: "<score> <now> <country> <nested> <value> <value> <value> <value>": now in unix microseconds (a
#   new version's start, the clock of the boards' time to live); country an ISO code or '-'; nested 1 when
#   the score orders the same in every period (DayFrame.nested_max); the game's encoded score on each
#   period's boards (DayFrame.encoders).
# - frame (DayFrame.arg): one line per period "<key prefix> <expire at, unix s; 0: never> <global rule b|i>
#   <country rule b|i> <time bits> <within>", within: the 1-based lines of the periods inside this one
#   ('-': none). A game that did not raise a best board of a period inside this one cannot raise this one's
#   (services/leaderboards.py), so its ZADD is skipped: most games beat nobody's best of the week.
# The script builds every key from the prefixes and the game id; all carry the {lb} hash tag, so they share
# the declared key's slot. Returns {lost, fresh, global rank per period or false}.
# Why so compact: redis-py packs each argument in Python (about 1.5 us each) and each redis.call costs Redis
# a few microseconds. So the numbers travel as one string; a board's expiry and its place in the period's
# list are set only when it is new (EXPIRE NX answers 1), a version's start only when its INCR answers 1;
# the values of ``best`` boards come ready-made (string.format costs 1 us; tostring keeps 14 digits, so a
# number computed here goes back through string.format('%.0f')).
SUBMIT_SCRIPT = """
local uid, frame = ARGV[1], ARGV[4]
local numbers = '^(%d+) (%d+) (%S+) ([01]) (%d+) (%d+) (%d+) (%d+)$'
local score, now_us, country, nested, v1, v2, v3, v4 = string.match(ARGV[3], numbers)
local values = {v1, v2, v3, v4}
score, now_us = tonumber(score), tonumber(now_us)
if country == '-' then country = '' end
local out = {redis.call('EXISTS', KEYS[1]) == 0 and 1 or 0, 1}
if string.find(frame, ' i [bi] %d') or (country ~= '' and string.find(frame, ' [bi] i %d')) then
  out[2] = redis.call('SET', 'MARKER_PREFIX' .. ARGV[2], '1', 'NX', 'EX', MARKER_TTL) and 1 or 0
end

-- One board: ZADD GT for best; read, add and write for incr (only the first time a game is seen).
local function put(key, rule, value, bits)
  if rule == 'b' then return redis.call('ZADD', key, 'GT', 'CH', value, uid) end
  if out[2] == 0 then return 0 end
  local span, cap = 2 ^ bits, 2 ^ (53 - bits) - 1
  local tail = tonumber(value) - math.min(score, cap) * span
  local total = score
  local current = redis.call('ZSCORE', key, uid)
  if current then
    current = tonumber(current)
    local held = math.floor(current / span)
    total = total + held
    -- The total's time is its latest game's (the smaller tail), in whatever order the games arrive.
    tail = math.min(tail, current - held * span)
  end
  return redis.call('ZADD', key, 'CH', string.format('%.0f', math.min(total, cap) * span + tail), uid)
end

-- A board that changed: when it is new, its expiry and its name in the period's list.
local function register(key, registry, name, ttl)
  if ttl == 0 or redis.call('EXPIRE', key, ttl, 'NX') == 1 then
    if redis.call('SADD', registry, name) == 1 and ttl > 0 then redis.call('EXPIRE', registry, ttl) end
  end
end

-- Whether a best board of a period inside this one kept its value (then this one keeps its value too).
local function kept(same, within)
  if nested == '0' or within == '-' then return false end
  for k = 1, #within do
    if same[tonumber(string.sub(within, k, k))] then return true end
  end
  return false
end
local same_global, same_country = {}, {}

-- One board of period i: written unless a best board of a period inside it kept its value; 1 if it moved.
local function write(same, i, within, key, name, rule, value, bits, registry, ttl)
  local moved = 0
  if not (rule == 'b' and kept(same, within)) then moved = put(key, rule, value, bits) end
  if moved == 1 then register(key, registry, name, ttl) elseif rule == 'b' then same[i] = true end
  return moved
end

local i = 0
local line = '(%S+) (%d+) (%a) (%a) (%d+) (%S+)'
for prefix, expire_at, rule_g, rule_c, bits, within in string.gmatch(frame, line) do
  i = i + 1
  local value = values[i]
  local ttl = tonumber(expire_at)
  if ttl > 0 then ttl = math.max(60, ttl - math.floor(now_us / 1000000)) end
  local registry = prefix .. 'boards'
  local board = prefix .. 'global'
  local changed = write(same_global, i, within, board, 'global', rule_g, value, bits, registry, ttl)
  if country ~= '' then
    local name = 'country:' .. country
    local key = prefix .. name
    changed = changed + write(same_country, i, within, key, name, rule_c, value, bits, registry, ttl)
  end
  if changed > 0 then
    local vkey = prefix .. 'v'
    if redis.call('INCR', vkey) == 1 then
      local first = string.format('%.0f', now_us + 1)
      if ttl > 0 then redis.call('SET', vkey, first, 'EX', ttl) else redis.call('SET', vkey, first) end
    end
  end
  out[#out + 1] = redis.call('ZREVRANK', board, uid)
end
return out
""".replace("MARKER_TTL", str(GAME_MARKER_TTL_S)).replace("MARKER_PREFIX", game_marker_key(""))


@dataclass(frozen=True, slots=True)
class DayFrame:
    """What the submit script needs about the periods of one UTC day (built once a day, not once a game)."""

    #: the script's frame argument
    arg: bytes
    #: per period ``(span, span - 1 + period start, highest score)``: a game's encoded value is
    #: ``min(score, highest) * span + (span - 1 + start) - finished_at`` (leaderboards.encode, inlined)
    encoders: tuple[tuple[int, int, int], ...]
    #: scores up to this are encoded uncapped on every board, so every period orders them the same way
    nested_max: int

    @classmethod
    def of(cls, frames: Sequence[PeriodFrame]) -> DayFrame:
        code = {Rule.best: "b", Rule.incr: "i"}
        arg = "".join(
            f"{board_key(f.period.value, f.period_id, '')} {f.expire_at or 0} "
            f"{code[f.global_rule]} {code[f.country_rule]} {TIME_BITS[f.period]} "
            f"{''.join(str(i + 1) for i in f.within) or '-'}\n"
            for f in frames
        ).encode()
        spans = [2 ** TIME_BITS[f.period] for f in frames]
        encoders = tuple(
            (span, span - 1 + f.start_s, max_score(f.period)) for span, f in zip(spans, frames, strict=True)
        )
        return cls(arg, encoders, min(top for _, _, top in encoders))


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


# KEYS: the rebuilt board (aside), the board, its version, the period's board list.
# ARGV: 1 when the rebuilt board has entries, version base, board name, expiry in s (0: none).
# The swap of RedisBoards.replace in one step (no MULTI/EXEC: a cluster client cannot run one without a
# thread per command); every key carries {lb}, so one slot.
SWAP_SCRIPT = """
if ARGV[1] == '1' then
  redis.call('RENAME', KEYS[1], KEYS[2])
  if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
else
  redis.call('DEL', KEYS[1], KEYS[2])
end
redis.call('SET', KEYS[3], ARGV[2], 'NX')
redis.call('INCR', KEYS[3])
redis.call('SADD', KEYS[4], ARGV[3])
return 1
"""


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
    ) -> Ranks:
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
            return Ranks()
        if result[0] and self.on_lost is not None:
            self.on_lost()
        ranks = [r + 1 if isinstance(r, int) else None for r in result[2:]]
        return Ranks(daily=ranks[0], weekly=ranks[1], monthly=ranks[2], all_time=ranks[3])

    def _frame_of(self, day: int) -> DayFrame:
        if len(self._frames) >= 8:  # the days of games still being finished: a handful at most
            self._frames.clear()
        frame = self._frames[day] = DayFrame.of(day_frames(self._rules, day))
        return frame
