"""The published versions of live board pages in Redis (the CDN path, app/services/leaderboards_live.py).

Per page (its render key ``leaderboard:…:p{N}``, which names the scope, country, period, period id and
page), all under one hash tag, so one slot on a Redis Cluster and the pages spread over the shards:

- ``live:{<page>}``: the chain, a list of ``"<live version> <board version> <published at, ms>"``,
  oldest first, trimmed to the versions kept;
- ``live:{<page>}:b<live version>``: what was published, ``"<previous live version>|"`` then the page
  body (0: none before it in the chain);
- ``live:{<page>}:gate``: the page's publish turn, held for one interval by the origin that publishes,
  or only for the first-publish hold while the page has no chain (OPEN_GATE_SCRIPT).

The chain and the bodies it names expire together (their TTL is set again at each publish turn); a body
trimmed off the chain stays a grace period more, for the segments from it that a latest document cached
at the edge still offers. A body is written once, under a live version no body has had (PUBLISH_SCRIPT).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.domain.live_boards import LiveEntry, Published
from app.repositories.leaderboard_sets import RedisBoards


def chain_key(page_key: str) -> str:
    return f"live:{{{page_key}}}"


def body_prefix(page_key: str) -> str:
    return f"{chain_key(page_key)}:b"


def body_key(page_key: str, version: int) -> str:
    return f"{body_prefix(page_key)}{version}"


def gate_key(page_key: str) -> str:
    return f"{chain_key(page_key)}:gate"


# KEYS: the chain, the gate. ARGV: the interval (ms), the first-publish hold (ms).
# With a chain, the turn is the gate for one interval (SET NX PX). Without one (a page never published, or
# its chain evicted or flushed), the turn is held only for the hold, so an origin that dies before its
# first publish blocks the page that long and no more; and a gate that outlives the hold was taken for a
# chain that is gone, so it is taken over at once rather than leaving the page unpublished (and every
# request for it waiting) for the rest of an interval. Returns {1 if taken else 0, {entry, ...}}, the
# chain as it was before this turn.
OPEN_GATE_SCRIPT = """
local chain, gate = KEYS[1], KEYS[2]
local interval, hold = tonumber(ARGV[1]), math.min(tonumber(ARGV[1]), tonumber(ARGV[2]))
local entries = redis.call('LRANGE', chain, 0, -1)
if #entries > 0 then
  return {redis.call('SET', gate, '1', 'NX', 'PX', interval) and 1 or 0, entries}
end
if redis.call('SET', gate, '1', 'NX', 'PX', hold) or redis.call('PTTL', gate) > hold then
  redis.call('SET', gate, '1', 'PX', hold)
  return {1, entries}
end
return {0, entries}
"""

# KEYS: the chain, the gate. ARGV: the body key prefix, board version, now (unix µs), published at (ms),
# body, keep, ttl (s), grace (s), interval (ms). Appends a version unless the chain's last one has this
# board version (an idle board publishes nothing new), the bodies trimmed off the chain then expiring after
# the grace; either way the chain and every body it names get the full TTL again. The new live version is
# the publish time in µs, raised past the chain's last one (a clock behind it) and past any body still
# stored (a chain lost before its bodies), so a live version never names two bodies. Lua numbers are
# doubles: exact up to 2^53, and string.format('%.0f') writes them without an exponent. The gate then
# holds a whole interval from this publish (a first publish took it only for the hold).
# Returns {1 if appended else 0, entry, entry, ...}.
PUBLISH_SCRIPT = """
local chain, gate, prefix, board_version = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local keep, ttl, grace = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local last = redis.call('LINDEX', chain, -1)
local appended = 0
if not last or string.match(last, '^%d+ (%d+) ') ~= board_version then
  local previous = last and string.match(last, '^(%d+) ') or '0'
  local version = math.max(tonumber(ARGV[3]), tonumber(previous) + 1)
  while redis.call('EXISTS', prefix .. string.format('%.0f', version)) == 1 do version = version + 1 end
  local id = string.format('%.0f', version)
  redis.call('SET', prefix .. id, previous .. '|' .. ARGV[5], 'EX', ttl)
  local excess = redis.call('RPUSH', chain, id .. ' ' .. board_version .. ' ' .. ARGV[4]) - keep
  if excess > 0 then
    for _, entry in ipairs(redis.call('LRANGE', chain, 0, excess - 1)) do
      redis.call('EXPIRE', prefix .. string.match(entry, '^(%d+) '), grace)
    end
    redis.call('LTRIM', chain, -keep, -1)
  end
  appended = 1
end
redis.call('EXPIRE', chain, ttl)
redis.call('SET', gate, '1', 'PX', ARGV[9])
local entries = redis.call('LRANGE', chain, 0, -1)
local out = {appended}
for i = 1, #entries do
  redis.call('EXPIRE', prefix .. string.match(entries[i], '^(%d+) '), ttl)
  out[#out + 1] = entries[i]
end
return out
"""


def _entries(raw: Sequence[Any]) -> list[LiveEntry]:
    out = []
    for item in raw:
        version, board_version, published_ms = (item.decode() if isinstance(item, bytes) else item).split()
        out.append(LiveEntry(int(version), int(board_version), int(published_ms)))
    return out


def _published(raw: Any) -> Published | None:
    if not isinstance(raw, bytes):
        return None
    previous, body = raw.split(b"|", 1)
    return Published(int(previous), body)


class LiveChains:
    """Every Redis call of the live pages, each through the boards' breaker (one slot per page)."""

    def __init__(self, boards: RedisBoards) -> None:
        self._boards = boards
        self._redis = boards.client
        self._publish = self._redis.register_script(PUBLISH_SCRIPT)
        self._open_gate = self._redis.register_script(OPEN_GATE_SCRIPT)

    async def open_gate(self, page_key: str, interval_ms: int, hold_ms: int) -> tuple[bool, list[LiveEntry]]:
        """One round trip: take the page's publish turn if it is free (OPEN_GATE_SCRIPT), and read its chain
        as it was before this turn."""
        keys = [chain_key(page_key), gate_key(page_key)]
        taken, raw = await self._boards.call(
            "live", lambda: self._open_gate(keys=keys, args=[interval_ms, hold_ms])
        )
        return bool(taken), _entries(raw)

    async def publish(
        self,
        page_key: str,
        board_version: int,
        now_us: int,
        published_ms: int,
        body: bytes,
        *,
        keep: int,
        ttl_s: int,
        grace_s: int,
        interval_ms: int,
    ) -> tuple[bool, list[LiveEntry]]:
        """Append the page at ``board_version`` unless the chain ends with it; whether it was appended,
        and the chain after. The chain and its bodies expire ``ttl_s`` after this; a body trimmed off it
        ``grace_s`` after this; the page's next turn is ``interval_ms`` after this."""
        args: list[bytes | str | int] = [
            body_prefix(page_key),
            board_version,
            now_us,
            published_ms,
            body,
            keep,
            ttl_s,
            grace_s,
            interval_ms,
        ]
        keys = [chain_key(page_key), gate_key(page_key)]
        out = await self._boards.call("live", lambda: self._publish(keys=keys, args=args))
        return bool(out[0]), _entries(out[1:])

    async def release_gate(self, page_key: str) -> None:
        """Free the page's turn (a turn that published nothing: the next request takes it at once)."""
        await self._boards.call("live", lambda: self._redis.delete(gate_key(page_key)))

    async def published(self, page_key: str, versions: Sequence[int]) -> list[Published | None]:
        """What each live version names, None for one not stored (never published, or expired)."""
        keys = [body_key(page_key, v) for v in versions]
        raw = await self._boards.call("live", lambda: self._redis.mget(keys))
        return [_published(value) for value in raw]
