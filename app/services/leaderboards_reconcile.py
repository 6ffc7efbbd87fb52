"""The reconciler: submits the finished games whose leaderboard submit failed (``board_pending`` in /games).

A finish that cannot reach Redis marks its game (app/services/games.py); this puts those games on the boards
once Redis answers again, with no action from the client. It runs

1. in each API process when its Redis breaker closes again (``RedisBreaker.on_recovered``, one run at a time
   per process: ``app/core/background.py``);
2. every 5 minutes as a job in every region (``pog leaderboards reconcile``, contract/backend.yaml), for
   the marks a process left (it stopped, or Redis failed again during its run).

Per games database, in batches of ``BATCH`` (at most ``MAX_BATCHES`` per run): read the marked games,
submit each through the finish path's own sink (idempotent per game), and clear the marks of those the
boards took, only after. A submit that does not reach the boards ends the run: the rest stays marked for
the next one. A short Redis lock keeps the processes of every region from doing the same work at once;
overlapping runs would still be correct (idempotent submits, clearing a cleared mark changes nothing).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from app.core.metrics import count_reconciled
from app.domain.games import PendingSubmit
from app.repositories.errors import LeaderboardUnavailableError
from app.services.games import LeaderboardSink

log = logging.getLogger("app.leaderboard.reconcile")

BATCH = 200
MAX_BATCHES = 25
#: Longer than a bounded run takes (5,000 submits and 25 batch writes per database); a run that outlives it
#: only lets a second run overlap, which is correct, merely wasted.
LOCK_S = 120


class PendingGames(Protocol):
    @property
    def databases(self) -> Sequence[str]: ...
    async def pending(self, database: str, limit: int) -> list[PendingSubmit]: ...
    async def clear(self, submits: Sequence[PendingSubmit]) -> None: ...


class ReconcileLock(Protocol):
    async def take_reconcile_lock(self, owner: str, ttl_s: int) -> bool: ...
    async def release_reconcile_lock(self, owner: str) -> None: ...


@dataclass
class ReconcileReport:
    #: Games put on the boards and cleared by this run.
    submitted: int = 0
    #: Marked games remain: the boards became unreachable, or the run reached its bound.
    left: bool = False
    #: Why the run did nothing or stopped early: ``locked`` (another run holds the lock) or
    #: ``boards_unreachable``.
    stopped: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class LeaderboardReconciler:
    def __init__(
        self,
        games: PendingGames,
        sink: LeaderboardSink,
        lock: ReconcileLock,
        batch: int = BATCH,
        max_batches: int = MAX_BATCHES,
    ) -> None:
        self._games = games
        self._sink = sink
        self._lock = lock
        self._batch = batch
        self._max_batches = max_batches

    async def run(self) -> ReconcileReport:
        owner = uuid.uuid4().hex
        try:
            if not await self._lock.take_reconcile_lock(owner, LOCK_S):
                return ReconcileReport(stopped="locked")
        except LeaderboardUnavailableError:
            return ReconcileReport(left=True, stopped="boards_unreachable")
        report = ReconcileReport()
        try:
            for database in self._games.databases:
                if not await self._reconcile(database, report):
                    break
        finally:
            with contextlib.suppress(LeaderboardUnavailableError):  # else it expires by itself
                await self._lock.release_reconcile_lock(owner)
        if report.submitted:
            log.info(
                "pending leaderboard submits reconciled",
                extra={"event": "leaderboard_reconciled", "games": report.submitted, "left": report.left},
            )
        return report

    async def _reconcile(self, database: str, report: ReconcileReport) -> bool:
        """One database's marked games; False when the boards stopped answering."""
        for _ in range(self._max_batches):
            pending = await self._games.pending(database, self._batch)
            done: list[PendingSubmit] = []
            reached = True
            for game in pending:
                ranks = await self._sink.submit(
                    game.uid, game.game_id, game.score, game.country, game.finished_at
                )
                if ranks is None:
                    reached = False
                    break
                done.append(game)
            await self._games.clear(done)  # only what the boards took
            report.submitted += len(done)
            count_reconciled(len(done))
            if not reached:
                report.left, report.stopped = True, "boards_unreachable"
                return False
            if len(pending) < self._batch:
                return True
        report.left = True
        return True
