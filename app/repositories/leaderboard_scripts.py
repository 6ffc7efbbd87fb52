"""The leaderboards' Lua scripts and the submit script's day frame (what it needs about a day's periods).

Every key a script touches carries the ``{lb}`` hash tag, so each script runs within one slot on a Redis
Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.domain.leaderboards import TIME_BITS, PeriodFrame, Rule, max_score
from app.repositories.leaderboard_keys import GAME_MARKER_TTL_S, board_key, game_marker_key

# KEYS: alive. ARGV: uid, game id, numbers, frame.
# - numbers: "<score> <now> <country> <nested> <value> <value> <value> <value>": now in unix microseconds (a
#   new version's start, the clock of the boards' time to live); country an ISO code or '-'; nested 1 when
#   the score orders the same in every period (DayFrame.nested_max); the game's encoded score on each
#   period's boards (DayFrame.encoders).
# - frame (DayFrame.arg): one line per period "<key prefix> <expire at, unix s; 0: never> <global rule b|i>
#   <country rule b|i> <time bits> <within>", within: the 1-based lines of the periods inside this one
#   ('-': none). A game that did not raise a best board of a period inside this one cannot raise this one's
#   (app/domain/leaderboards.py), so its ZADD is skipped: most games beat nobody's best of the week.
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
# The window is shifted (not cut) at the board's edges: app.domain.standings.around_bounds.
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
