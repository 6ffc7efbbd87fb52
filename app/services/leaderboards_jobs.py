"""Leaderboard jobs: rebuild from Firestore, archive at reset (and checkpoints), rewards exactly once.

Rebuild: Redis is an index. A period's boards are recomputed from the finished games in /games (its
``finished_at`` in the period) with the same rules as the submit script (``fold_games``). /games keeps a
game 7 days (its TTL), so the monthly and all-time boards start from their latest checkpoint in Firestore
(written by the reset job every day) and add the games finished since, with an hour of overlap: ``best``
is a maximum, so a game counted twice changes nothing. ``incr`` boards are daily or weekly only
(``BoardRules``) and are rebuilt from /games alone. ``best`` boards are merged into Redis with
``ZADD GT`` (a submit racing the rebuild is never lowered); ``incr`` boards are replaced.

Reset job (``pog leaderboards rewards``, daily a few minutes after 00:00 UTC): for each finished period
(yesterday, last ISO week, last month) it archives the final standings once, then grants the rewards of
the top ranks of every board the reward config pays (``REWARD_TIERS``: the global board, and each country
board with entries): per player and board a Firestore marker and the grant's ``source_id``
``lb:{period}:{period_id}:{board}:{uid}`` (board ``global`` or ``country:IE``), so a second run or a run
after a crash grants nothing twice (the grant service ignores a ``source_id`` it has processed). It then
checkpoints the running monthly and all-time boards.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from app.domain.leaderboards import (
    KEEP_AFTER_END,
    PERIODS,
    Board,
    BoardRules,
    Period,
    Rule,
    period_end,
    period_id,
    previous_period_id,
)
from app.domain.standings import ArchiveInfo, ScoredGame, fold_games
from app.services.analytics import Analytics
from app.services.grant_port import Granter, GrantOutcome, GrantRequest, GrantSource
from app.services.leaderboard_views import parse_period_id

log = logging.getLogger("app.leaderboard.jobs")

CHECKPOINT_OVERLAP = timedelta(hours=1)
CHECKPOINTED = (Period.monthly, Period.all_time)
REBUILD_LOCK_S = 900


@dataclass(frozen=True, slots=True)
class Tier:
    first: int
    last: int
    coins: int


#: The reward config: coins per rank range, per period and board kind: ``global``, or ``country`` (every
#: country board of the period that has entries pays its own top ranks). A (period, kind) absent pays nothing;
#: all-time never resets, so it never pays.
RewardConfig = Mapping[tuple[Period, str], tuple[Tier, ...]]
REWARD_TIERS: RewardConfig = {
    (Period.daily, "global"): (Tier(1, 1, 500), Tier(2, 3, 250), Tier(4, 10, 100)),
    (Period.weekly, "global"): (Tier(1, 1, 2500), Tier(2, 3, 1000), Tier(4, 10, 500), Tier(11, 100, 100)),
    (Period.monthly, "global"): (Tier(1, 1, 10000), Tier(2, 3, 5000), Tier(4, 10, 2000), Tier(11, 100, 500)),
    (Period.daily, "country"): (Tier(1, 1, 100), Tier(2, 3, 50)),
    (Period.weekly, "country"): (Tier(1, 1, 500), Tier(2, 3, 250), Tier(4, 10, 100)),
    (Period.monthly, "country"): (Tier(1, 1, 2000), Tier(2, 3, 1000), Tier(4, 10, 500)),
}


def board_kind(name: str) -> str:
    return "global" if name == "global" else "country"


def coins_for(tiers: Sequence[Tier], rank: int) -> int:
    return next((t.coins for t in tiers if t.first <= rank <= t.last), 0)


def source_id(period: Period, pid: str, board: str, uid: str) -> str:
    return f"lb:{period.value}:{pid}:{board}:{uid}"


class JobBoards(Protocol):
    async def load(
        self, board: Board, entries: dict[str, int], ttl_s: int | None, version_base: int
    ) -> None: ...
    async def replace(
        self, board: Board, entries: dict[str, int], ttl_s: int | None, version_base: int
    ) -> None: ...
    async def mark_alive(self, built_at: datetime) -> None: ...
    async def is_alive(self) -> bool: ...
    async def take_rebuild_lock(self, owner: str, ttl_s: int) -> bool: ...
    async def release_rebuild_lock(self, owner: str) -> None: ...
    async def boards_of(self, period: Period, period_id: str) -> list[str]: ...
    async def all_entries(self, board: Board, batch: int = ...) -> list[tuple[str, float]]: ...


class JobArchive(Protocol):
    async def finished_games(self, start: datetime, end: datetime | None) -> list[ScoredGame]: ...
    async def info(self, period: Period, period_id: str) -> ArchiveInfo | None: ...
    async def write_standings(
        self,
        period: Period,
        period_id: str,
        boards: Mapping[str, Sequence[tuple[str, int]]],
        *,
        final: bool,
        as_of: datetime,
    ) -> None: ...
    async def standings(
        self, period: Period, period_id: str, name: str, count: int
    ) -> list[tuple[str, int]]: ...
    async def rewarded(self, period: Period, period_id: str, name: str, uids: Sequence[str]) -> set[str]: ...
    async def mark_rewarded(
        self,
        period: Period,
        period_id: str,
        name: str,
        uid: str,
        rank: int,
        source_id: str,
        outcome: str,
        at: datetime,
    ) -> None: ...
    async def mark_rewards_done(self, period: Period, period_id: str, at: datetime) -> None: ...


def _ttl_s(period: Period, pid: str, now: datetime) -> int | None:
    end = period_end(period, parse_period_id(period, pid))
    return max(60, int((end + KEEP_AFTER_END[period] - now).total_seconds())) if end is not None else None


class LeaderboardJobs:
    def __init__(
        self,
        boards: JobBoards,
        archive: JobArchive,
        rules: BoardRules,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rewards: RewardConfig = REWARD_TIERS,
    ) -> None:
        self._boards = boards
        self._archive = archive
        self._rules = rules
        self._clock = clock
        self._rewards = rewards
        self._analytics: Analytics | None = None

    def send_events_through(self, analytics: Analytics) -> None:
        """Wired by the app: ``leaderboard_period_reward`` after each reward granted."""
        self._analytics = analytics

    # --- rebuild ----------------------------------------------------------------------------------

    async def standings_from_truth(self, period: Period, pid: str) -> dict[str, dict[str, int]]:
        start = parse_period_id(period, pid)
        since, base = start, None
        if period in CHECKPOINTED:
            info = await self._archive.info(period, pid)
            if info is not None:
                base = {
                    name: dict(await self._archive.standings(period, pid, name, n))
                    for name, n in info.boards.items()
                }
                since = max(start, info.as_of - CHECKPOINT_OVERLAP)
        games = await self._archive.finished_games(since, period_end(period, start))
        return fold_games(self._rules, period, games, base)

    async def rebuild_period(self, period: Period, pid: str) -> dict[str, int]:
        """Recompute one period's boards from Firestore into Redis; board name -> players."""
        boards = await self.standings_from_truth(period, pid)
        now = self._clock()
        version_base = int(now.timestamp() * 1_000_000)
        ttl_s = _ttl_s(period, pid, now)
        for name, entries in boards.items():
            board = Board(period, pid, name)
            if self._rules.rule(period, name) is Rule.best:
                await self._boards.load(board, entries, ttl_s, version_base)
            else:
                await self._boards.replace(board, entries, ttl_s, version_base)
        return {name: len(entries) for name, entries in boards.items()}

    async def rebuild(self, periods: Sequence[Period] = PERIODS) -> dict[str, dict[str, int]] | None:
        """Rebuild the current periods (and the previous ones not yet archived); None if another runs."""
        owner = uuid.uuid4().hex
        if not await self._boards.take_rebuild_lock(owner, REBUILD_LOCK_S):
            return None
        try:
            now = self._clock()
            done: dict[str, dict[str, int]] = {}
            for period in periods:
                pids = [period_id(period, now)]
                previous = previous_period_id(period, now)
                if previous is not None:
                    info = await self._archive.info(period, previous)
                    if info is None or not info.final:
                        pids.append(previous)
                for pid in pids:
                    done[f"{period.value}:{pid}"] = await self.rebuild_period(period, pid)
            await self._boards.mark_alive(now)
            log.info("leaderboards rebuilt from firestore", extra={"event": "leaderboard_rebuilt"})
            return done
        finally:
            await self._boards.release_rebuild_lock(owner)

    # --- archive and checkpoints --------------------------------------------------------------------

    async def snapshot_to_firestore(self, period: Period, pid: str, *, final: bool) -> dict[str, int]:
        """Write a period's standings from Redis (rebuilt first if Redis lost them)."""
        names = await self._boards.boards_of(period, pid)
        if not names or not await self._boards.is_alive():
            await self.rebuild_period(period, pid)
            names = await self._boards.boards_of(period, pid)
        standings = {
            name: [
                (uid, int(score)) for uid, score in await self._boards.all_entries(Board(period, pid, name))
            ]
            for name in names
        }
        await self._archive.write_standings(period, pid, standings, final=final, as_of=self._clock())
        return {name: len(entries) for name, entries in standings.items()}

    async def archive_finished(self, period: Period, pid: str) -> bool:
        """Archive a finished period once; False when it already was."""
        info = await self._archive.info(period, pid)
        if info is not None and info.final:
            return False
        await self.snapshot_to_firestore(period, pid, final=True)
        return True

    # --- rewards ------------------------------------------------------------------------------------

    async def grant_rewards(self, period: Period, pid: str, granter: Granter) -> dict[str, int]:
        """Grant the top ranks of every paying board of a finished, archived period once each (global first,
        then the country boards by name); counts per grant outcome.

        Exactly once: a player's marker is written after their grant, and a grant is asked again only when
        its marker is missing (a crash in between), with the same ``source_id``, which the grant service
        answers as a duplicate. The period is marked done only after every board.
        """
        counts: dict[str, int] = {}
        info = await self._archive.info(period, pid)
        if info is None or not info.final:
            raise RuntimeError(f"the {period.value} period {pid} is not archived: archive it first")
        if info.rewards_done_at is not None:
            return counts
        names = sorted(info.boards, key=lambda name: (name != "global", name))
        for name in names:
            tiers = self._rewards.get((period, board_kind(name)), ())
            top = min(max((t.last for t in tiers), default=0), info.boards[name])
            if top > 0:
                await self._reward_board(period, pid, name, tiers, top, granter, counts)
        await self._archive.mark_rewards_done(period, pid, self._clock())
        return counts

    async def _reward_board(
        self,
        period: Period,
        pid: str,
        name: str,
        tiers: Sequence[Tier],
        top: int,
        granter: Granter,
        counts: dict[str, int],
    ) -> None:
        entries = await self._archive.standings(period, pid, name, top)
        done = await self._archive.rewarded(period, pid, name, [uid for uid, _ in entries])
        for rank, (uid, _) in enumerate(entries, start=1):
            coins = coins_for(tiers, rank)
            if uid in done or coins <= 0:
                continue
            sid = source_id(period, pid, name, uid)
            request = GrantRequest(
                uid=uid,
                source=GrantSource.LEADERBOARD_REWARD,
                source_id=sid,
                coins=coins,
                reason=f"rank {rank} on the {period.value} {name} board {pid}",
            )
            outcome = await granter.grant(request)
            await self._archive.mark_rewarded(period, pid, name, uid, rank, sid, outcome.value, self._clock())
            counts[outcome.value] = counts.get(outcome.value, 0) + 1
            if outcome is GrantOutcome.GRANTED and self._analytics is not None:
                params = {"period": period.value, "period_id": pid, "rank": rank, "coins": coins}
                self._analytics.emit("leaderboard_period_reward", uid, params, event_id=f"reward:{sid}")

    async def reset(self, granter: Granter | None) -> dict[str, object]:
        """The daily reset job: archive and reward every finished period, checkpoint the long ones."""
        now = self._clock()
        report: dict[str, object] = {}
        for period in (Period.daily, Period.weekly, Period.monthly):
            pid = previous_period_id(period, now)
            assert pid is not None
            archived = await self.archive_finished(period, pid)
            rewards = await self.grant_rewards(period, pid, granter) if granter is not None else None
            report[f"{period.value}:{pid}"] = {"archived_now": archived, "rewards": rewards}
        for period in CHECKPOINTED:
            pid = period_id(period, now)
            report[f"checkpoint {period.value}:{pid}"] = await self.snapshot_to_firestore(
                period, pid, final=False
            )
        return report
