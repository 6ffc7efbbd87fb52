"""Standings on the leaderboards: boards folded from games, rankings, pages, around-me windows, deltas.

The score encoding and the periods are in ``app/domain/leaderboards.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.domain.countries import ISO_3166_ALPHA2
from app.domain.leaderboards import (
    PAGE_SIZE,
    TIME_BITS,
    BoardRules,
    Period,
    Rule,
    board_name,
    decode,
    encode,
    time_offset,
)

# --- standings as pure data (rebuilds, archives, tests) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScoredGame:
    game_id: str
    uid: str
    score: int
    country: str | None
    finished_at: datetime


def fold_games(
    rules: BoardRules,
    period: Period,
    games: Sequence[ScoredGame],
    base: Mapping[str, dict[str, int]] | None = None,
) -> dict[str, dict[str, int]]:
    """board name -> uid -> encoded score after applying ``games`` (exactly what the submit script does)."""
    boards: dict[str, dict[str, int]] = {name: dict(entries) for name, entries in (base or {}).items()}
    span = 2 ** TIME_BITS[period]
    for game in sorted(games, key=lambda g: (g.finished_at, g.game_id)):
        offset = time_offset(period, game.finished_at)
        names = ["global"] + ([board_name(game.country)] if game.country in ISO_3166_ALPHA2 else [])
        for name in names:
            entries = boards.setdefault(name, {})
            current = entries.get(game.uid)
            if rules.rule(period, name) is Rule.best:
                value = encode(period, game.score, offset)
                entries[game.uid] = value if current is None else max(current, value)
            else:
                total = game.score + (current // span if current is not None else 0)
                entries[game.uid] = encode(period, total, offset)
    return boards


def ranked(entries: Mapping[str, int]) -> list[tuple[str, int]]:
    """Highest encoded first; equal encoded scores by uid descending, as ``ZREVRANGE`` orders them."""
    return sorted(entries.items(), key=lambda item: (item[1], item[0].encode()), reverse=True)


# --- pages, windows, deltas ---------------------------------------------------------------------------


def page_bounds(page: int, size: int = PAGE_SIZE) -> tuple[int, int]:
    """0-based inclusive ``(start, stop)`` ranks of a 1-based page."""
    start = (page - 1) * size
    return start, start + size - 1


def around_bounds(rank0: int, total: int, radius: int) -> tuple[int, int]:
    """A window of ``2 * radius + 1`` ranks centred on ``rank0`` and shifted (not cut) at the board's edges.

    At rank 1 the window is ranks 1..2r+1; at the last rank it ends there; a board smaller than the window
    is shown whole. Pages play no part: the window never stops at a page boundary.
    """
    size = 2 * radius + 1
    start = max(0, min(rank0 - radius, total - size))
    stop = min(total - 1, start + size - 1)
    return start, stop


@dataclass(frozen=True, slots=True)
class Entry:
    rank: int
    uid: str
    score: int


def entries_from(period: Period, first_rank0: int, members: Sequence[tuple[str, float]]) -> list[Entry]:
    return [
        Entry(rank=first_rank0 + i + 1, uid=uid, score=decode(period, value)[0])
        for i, (uid, value) in enumerate(members)
    ]


def changed_entries(old: Sequence[Entry], new: Sequence[Entry]) -> tuple[list[Entry], list[str]]:
    """Entries of ``new`` whose rank or score differ from ``old`` (or are new), and uids that left."""
    before = {e.uid: (e.rank, e.score) for e in old}
    now = {e.uid for e in new}
    changed = [e for e in new if before.get(e.uid) != (e.rank, e.score)]
    removed = [e.uid for e in old if e.uid not in now]
    return changed, removed


# --- what the stores answer ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Slice:
    """A consistent read of part of a board: its version, size and members (uid, encoded score)."""

    version: int
    total: int
    start: int
    members: list[tuple[str, float]]
    alive: bool = True
    rank0: int | None = None


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    """A period's document in Firestore: a final archive or a checkpoint of a running board."""

    final: bool
    as_of: datetime
    boards: dict[str, int]
    rewards_done_at: datetime | None = None
