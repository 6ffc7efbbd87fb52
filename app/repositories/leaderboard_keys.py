"""The leaderboards' Redis keys.

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
"""

from __future__ import annotations

from app.domain.leaderboards import Board, Period

TAG = "{lb}"
ALIVE_KEY = f"{TAG}:alive"
REBUILD_LOCK_KEY = f"{TAG}:rebuilding"
GAME_MARKER_TTL_S = 7 * 86400


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
