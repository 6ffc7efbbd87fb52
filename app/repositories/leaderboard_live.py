"""The published versions of live board pages in Redis (the CDN path, app/services/leaderboards_live.py).

Per page (its render key ``leaderboard:…:p{N}``, which names the scope, country, period, period id and
page), all under one hash tag, so one slot on a Redis Cluster and the pages spread over the shards:

- ``live:{<page>}``: the chain, a list of ``"<live version> <board version> <published at, ms>"``,
  oldest first, trimmed to the versions kept;
- ``live:{<page>}:b<live version>``: what was published, ``"<previous live version>|<board version>|"``
  then the page body (0: none before it in the chain);
- ``live:{<page>}:gate``: held for one interval by the origin that publishes (``SET NX PX``).

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


# KEYS: the chain. ARGV: the body key prefix, board version, now (unix µs), published at (ms), body, keep,
# ttl (s), grace (s). Appends a version unless the chain's last one has this board version (an idle board
# publishes nothing new), the bodies trimmed off the chain then expiring after the grace; either way the
# chain and every body it names get the full TTL again. The new live version is the publish time in µs,
# raised past the chain's last one (a clock behind it) and past any body still stored (a chain lost before
# its bodies), so a live version never names two bodies. Lua numbers are doubles: exact up to 2^53, and
# string.format('%.0f') writes them without an exponent.
# Returns {1 if appended else 0, entry, entry, ...}.
PUBLISH_SCRIPT = """
local chain, prefix, board_version = KEYS[1], ARGV[1], ARGV[2]
local keep, ttl, grace = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local last = redis.call('LINDEX', chain, -1)
local appended = 0
if not last or string.match(last, '^%d+ (%d+) ') ~= board_version then
  local previous = last and string.match(last, '^(%d+) ') or '0'
  local version = math.max(tonumber(ARGV[3]), tonumber(previous) + 1)
  while redis.call('EXISTS', prefix .. string.format('%.0f', version)) == 1 do version = version + 1 end
  local id = string.format('%.0f', version)
  redis.call('SET', prefix .. id, previous .. '|' .. board_version .. '|' .. ARGV[5], 'EX', ttl)
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
    previous, board_version, body = raw.split(b"|", 2)
    return Published(int(previous), int(board_version), body)


class LiveChains:
    """Every Redis call of the live pages, each through the boards' breaker (one slot per page)."""

    def __init__(self, boards: RedisBoards) -> None:
        self._boards = boards
        self._redis = boards.client
        self._publish = self._redis.register_script(PUBLISH_SCRIPT)

    async def open_gate(self, page_key: str, interval_ms: int) -> tuple[bool, list[LiveEntry]]:
        """One round trip: take the page's publish turn if nobody took it in the last interval, and read
        its chain (as it was before this turn)."""

        async def run() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(gate_key(page_key), b"1", nx=True, px=interval_ms)
                pipe.lrange(chain_key(page_key), 0, -1)
                return await pipe.execute()

        taken, raw = await self._boards.call("live", run)
        return bool(taken), _entries(raw)

    async def chain(self, page_key: str) -> list[LiveEntry]:
        raw = await self._boards.call("live", lambda: self._redis.lrange(chain_key(page_key), 0, -1))
        return _entries(raw)

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
    ) -> tuple[bool, list[LiveEntry]]:
        """Append the page at ``board_version`` unless the chain ends with it; whether it was appended,
        and the chain after. The chain and its bodies expire ``ttl_s`` after this; a body trimmed off it
        ``grace_s`` after this."""
        args: list[bytes | str | int] = [
            body_prefix(page_key),
            board_version,
            now_us,
            published_ms,
            body,
            keep,
            ttl_s,
            grace_s,
        ]
        out = await self._boards.call("live", lambda: self._publish(keys=[chain_key(page_key)], args=args))
        return bool(out[0]), _entries(out[1:])

    async def published(self, page_key: str, versions: Sequence[int]) -> list[Published | None]:
        """What each live version names, None for one not stored (never published, or expired)."""
        keys = [body_key(page_key, v) for v in versions]
        raw = await self._boards.call("live", lambda: self._redis.mget(keys))
        return [_published(value) for value in raw]
