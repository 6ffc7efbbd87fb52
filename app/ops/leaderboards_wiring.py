"""Assembles the leaderboards and presence from the app's clients (the API's lifespan and the commands)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.cloud import firestore

from app.core.config import Settings
from app.repositories.breaker import RedisBreaker
from app.repositories.clients import RedisClient
from app.repositories.leaderboard_archive import LeaderboardArchive
from app.repositories.leaderboard_names import DisplayNames
from app.repositories.leaderboard_sets import RedisLeaderboardSink
from app.repositories.presence import RedisPresence
from app.services.leaderboards import BoardRules
from app.services.leaderboards_jobs import LeaderboardJobs
from app.services.leaderboards_service import LeaderboardService
from app.services.presence import PresenceService
from app.services.users import UserService

log = logging.getLogger("app.leaderboard")


@dataclass
class RebuildTrigger:
    """Starts one background rebuild in this process when the boards are found lost (the Redis lock
    keeps other processes from running a second one)."""

    jobs: LeaderboardJobs
    task: asyncio.Task[object] | None = field(default=None)

    def __call__(self) -> None:
        if self.task is not None and not self.task.done():
            return
        try:
            self.task = asyncio.get_running_loop().create_task(self._run())
        except RuntimeError:  # no running loop: nothing to schedule on
            self.task = None

    async def _run(self) -> object:
        log.warning("leaderboards lost: rebuilding from firestore", extra={"event": "leaderboard_lost"})
        try:
            return await self.jobs.rebuild()
        except Exception:
            log.exception("leaderboard rebuild failed")
            return None


@dataclass
class Leaderboards:
    sink: RedisLeaderboardSink
    service: LeaderboardService
    presence: PresenceService
    jobs: LeaderboardJobs
    archive: LeaderboardArchive
    rebuild: RebuildTrigger

    async def close(self) -> None:
        task = self.rebuild.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # finished before the clients close
        await self.archive.close()


def build_leaderboards(
    settings: Settings,
    rds: RedisClient,
    breaker: RedisBreaker,
    db: firestore.AsyncClient,
    users: UserService,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Leaderboards:
    rules = BoardRules.parse(settings.leaderboard_rules)
    sink = RedisLeaderboardSink(rds, breaker, rules, clock=clock)
    archive = LeaderboardArchive.for_settings(settings, db)
    jobs = LeaderboardJobs(sink.boards, archive, rules, clock)
    trigger = RebuildTrigger(jobs)
    sink.on_lost = trigger
    service = LeaderboardService(
        sink.boards, archive, DisplayNames(rds, breaker, db), users, clock=clock, on_lost=trigger
    )
    presence = PresenceService(RedisPresence(rds, breaker), users, settings.presence_ttl_s, clock)
    return Leaderboards(sink, service, presence, jobs, archive, trigger)
