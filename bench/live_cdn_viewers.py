"""The live-board CDN bench's load: viewers following public board pages the way docs/game-api.md's client
does, a writer finishing games throughout, and what the viewers saw of them.

A viewer polls its page's latest document once an interval. When the page version it holds is among the
document's ``versions`` it fetches each consecutive segment after it and applies them; otherwise (first
poll, or too far behind) it fetches the ``full`` page. Viewers are asyncio tasks over a small pool of
keep-alive connections: a viewer is a client's polling schedule, not a socket (what the edge sees is
requests; at 10,000 viewers 10,000 sockets would only measure this machine's file descriptors).

The writer submits each finish through the app's own leaderboard sink (``RedisLeaderboardSink.submit``,
what ``POST /v1/games/{id}/finish`` calls once a game is judged), a new best for one of a few writer
players, and records the time before the submit. A viewer that sees a writer's score reach S at time T
has seen every finish of that player with a score up to S: each gives one delay, T minus its finish time.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.api_bench import read_response

WRITER_PREFIX = "w-"


class HttpError(Exception):
    """A connection failed or an answer could not be read."""


class HttpPool:
    """GETs over at most ``size`` keep-alive connections to one host (a minimal HTTP/1.1 client: httpx's
    pool costs several times the CPU per request, and the viewers share two cores with everything else)."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self._host, self._port = host, port
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        #: The loop time each answer arrived at.
        self.times: array[float] = array("d")

    async def get(self, target: str) -> tuple[int, bytes]:
        request = f"GET {target} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n\r\n".encode("latin-1")
        async with self._slots:
            for attempt in range(2):  # a kept connection the server closed meanwhile: once more, fresh
                fresh = attempt > 0 or not self._idle
                writer: asyncio.StreamWriter | None = None
                try:
                    if fresh:
                        reader, writer = await asyncio.open_connection(self._host, self._port)
                    else:
                        reader, writer = self._idle.pop()
                    writer.write(request)
                    status, body, keep = await read_response(reader)
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                    if writer is not None:
                        writer.close()
                    if fresh:
                        raise HttpError(f"GET {target}: {exc!r}") from exc
                    continue
                self.times.append(asyncio.get_running_loop().time())
                if keep:
                    self._idle.append((reader, writer))
                else:
                    writer.close()
                return status, body
        raise AssertionError("unreachable")

    async def close(self) -> None:
        while self._idle:
            _, writer = self._idle.pop()
            writer.close()


@dataclass(frozen=True)
class BoardPage:
    """One public board page the viewers follow."""

    period: str
    scope: str
    country: str | None
    page: int

    @property
    def latest_path(self) -> str:
        country = f"&country={self.country}" if self.country else ""
        return f"/v1/leaderboards/{self.period}/{self.scope}/live?page={self.page}{country}"

    @property
    def label(self) -> str:
        country = f" {self.country}" if self.country else ""
        return f"{self.period} {self.scope}{country} p{self.page}"


class Finishes:
    """Every finish of the run: per writer, its scores (rising) and the times they were submitted."""

    def __init__(self) -> None:
        self._scores: dict[str, list[int]] = {}
        self._times: dict[str, list[float]] = {}
        self.count = 0

    def record(self, uid: str, score: int, at: float) -> None:
        scores = self._scores.setdefault(uid, [])
        if scores and score <= scores[-1]:
            raise ValueError(f"{uid}: finish {score} is not a new best (last {scores[-1]})")
        scores.append(score)
        self._times.setdefault(uid, []).append(at)
        self.count += 1

    def between(self, uid: str, above: int, up_to: int, since: float) -> list[float]:
        """Submit times of ``uid``'s finishes scoring more than ``above`` and at most ``up_to``, made at or
        after ``since``."""
        scores = self._scores.get(uid)
        if not scores:
            return []
        times = self._times[uid]
        first, last = bisect.bisect_right(scores, above), bisect.bisect_right(scores, up_to)
        return [at for at in times[first:last] if at >= since]


@dataclass
class ViewerStats:
    """What all viewers of one run did and saw."""

    polls: int = 0
    expected_polls: int = 0
    fulls: int = 0
    segments: int = 0
    refetches: int = 0  # a segment answered 404: the full page instead
    errors: list[str] = field(default_factory=list)
    delays: array[float] = field(default_factory=lambda: array("d"))
    late_s: array[float] = field(default_factory=lambda: array("d"))


class Viewer:
    """One client following one page: the page it holds, at which live version."""

    def __init__(self, page: BoardPage, pool: HttpPool, finishes: Finishes, stats: ViewerStats) -> None:
        self.page = page
        self._pool, self._finishes, self._stats = pool, finishes, stats
        self.version: int | None = None
        self.total = 0
        self.entries: dict[str, dict[str, Any]] = {}
        self._since = 0.0  # when the first page arrived: finishes before it are not this viewer's to see
        self._writer_scores: dict[str, int] = {}

    async def follow(self, first_poll: float, interval_s: float, until: float) -> None:
        """Poll at ``first_poll`` and every interval after it while before ``until`` (loop time); a poll
        that starts late skips the slots it missed, so a saturated client polls less, never in bursts."""
        loop = asyncio.get_running_loop()
        slot = first_poll
        while slot < until:
            self._stats.expected_polls += 1
            await asyncio.sleep(max(0.0, slot - loop.time()))
            late = loop.time() - slot
            if late < interval_s:
                self._stats.late_s.append(late)
                try:
                    await self.poll()
                except HttpError as exc:
                    self._stats.errors.append(str(exc))
            slot += interval_s

    async def poll(self) -> None:
        status, raw = await self._pool.get(self.page.latest_path)
        if status != 200:
            self._stats.errors.append(f"{self.page.latest_path}: {status} {raw[:200]!r}")
            return
        latest = orjson.loads(raw)
        self._stats.polls += 1
        versions: list[int] = latest["versions"]
        if self.version is None or self.version not in versions:
            await self._full(latest["full"])
            return
        chain = versions[versions.index(self.version) :]
        for first, then in itertools.pairwise(chain):
            path = latest["segment"].replace("{from}", str(first)).replace("{to}", str(then))
            status, raw = await self._pool.get(path)
            if status == 404:
                self._stats.refetches += 1
                await self._full(latest["full"])
                return
            if status != 200:
                self._stats.errors.append(f"{path}: {status} {raw[:200]!r}")
                return
            self._stats.segments += 1
            self._apply(orjson.loads(raw))

    async def _full(self, path: str) -> None:
        status, raw = await self._pool.get(path)
        if status != 200:
            self._stats.errors.append(f"{path}: {status} {raw[:200]!r}")
            return
        self._stats.fulls += 1
        body = orjson.loads(raw)
        first = self.version is None
        self.version, self.total = body["version"], body["total"]
        self.entries = {e["uid"]: e for e in body["entries"]}
        if first:
            self._since = time.monotonic()
            self._writer_scores = {
                u: e["score"] for u, e in self.entries.items() if u.startswith(WRITER_PREFIX)
            }
        else:
            self._saw(body["entries"])

    def _apply(self, segment: dict[str, Any]) -> None:
        for uid in segment["removed"]:
            self.entries.pop(uid, None)
        for entry in segment["entries"]:
            self.entries[entry["uid"]] = entry
        self.version, self.total = segment["to"], segment["total"]
        self._saw(segment["entries"])

    def _saw(self, entries: Sequence[dict[str, Any]]) -> None:
        """Delays of the writers' finishes these (new or changed) entries show for the first time."""
        now = time.monotonic()
        for entry in entries:
            uid, score = entry["uid"], entry["score"]
            if not uid.startswith(WRITER_PREFIX):
                continue
            before = self._writer_scores.get(uid)
            self._writer_scores[uid] = score if before is None else max(before, score)
            if before is not None and score > before:
                self._stats.delays.extend(
                    now - at for at in self._finishes.between(uid, before, score, self._since)
                )

    def unseen(self) -> int:
        """Finishes of the writers on this page, made since its first page, it never saw."""
        return sum(
            len(self._finishes.between(uid, score, 2**62, self._since))
            for uid, score in self._writer_scores.items()
        )

    def page_entries(self) -> list[dict[str, Any]]:
        return sorted(self.entries.values(), key=lambda e: e["rank"])


@dataclass(frozen=True)
class WriterPlan:
    """Writer players and their scores: each finish a new best in a gap between seeded players, so a writer
    stays on the page it was placed on (``uid``'s ``w-p{page}-…``)."""

    seeds: int = 250
    seed_top: int = 3_000_000
    seed_step: int = 10_000
    #: (seed rank the writers sit just below, country, how many): page 1 of the global and IE boards, and
    #: page 2 of the global board.
    groups: tuple[tuple[int, str, int], ...] = ((40, "IE", 4), (150, "GB", 4))

    def seed_players(self) -> list[tuple[str, int, str]]:
        return [
            (f"s-{i:04d}", self.seed_top - i * self.seed_step, "IE" if i % 2 == 0 else "GB")
            for i in range(self.seeds)
        ]

    def writers(self) -> list[tuple[str, int, str]]:
        """(uid, first score, country) of every writer; each has ``seed_step // per group`` scores of room."""
        out = []
        for rank, country, count in self.groups:
            room = self.seed_step // (count + 1)
            base = self.seed_top - rank * self.seed_step - self.seed_step + 1
            page = rank // 100 + 1
            out += [(f"{WRITER_PREFIX}p{page}-{k}", base + k * room, country) for k in range(count)]
        return out

    @property
    def finishes_per_writer(self) -> int:
        """How many new bests a writer has after its first score before it would reach the next one's."""
        return min(self.seed_step // (count + 1) for _, _, count in self.groups) - 2


class Writer:
    """Finishes games throughout a run: round robin over the writer players, each finish a new best."""

    def __init__(self, sink: Any, plan: WriterPlan, finishes: Finishes) -> None:
        self._sink, self._finishes = sink, finishes
        # seed_boards put each writer on the board at its first score: the run's finishes beat it.
        self._next = {uid: (score + 1, country) for uid, score, country in plan.writers()}
        self._order = list(self._next)
        self._turn = 0
        self._left = plan.finishes_per_writer
        self.failures = 0

    async def finish_one(self) -> None:
        uid = self._order[self._turn % len(self._order)]
        self._turn += 1
        if self._turn > self._left * len(self._order):
            raise RuntimeError(
                f"the writers ran out of room for new bests after {self._turn - 1} finishes: shorten"
                " --duration or lower --finish-rate"
            )
        score, country = self._next[uid]
        self._next[uid] = (score + 1, country)
        self._finishes.record(uid, score, time.monotonic())
        ranks = await self._sink.submit(uid, f"bench-{uid}-{score}", score, country, datetime.now(UTC))
        if ranks is None:
            self.failures += 1

    async def run(self, rate_per_s: float, until: float) -> None:
        loop = asyncio.get_running_loop()
        slot = loop.time()
        while slot < until:
            await asyncio.sleep(max(0.0, slot - loop.time()))
            await self.finish_one()
            slot += 1 / rate_per_s


async def seed_boards(sink: Any, plan: WriterPlan) -> None:
    """The seeded players, then each writer at its first score (a viewer's baseline, not a finish)."""
    now = datetime.now(UTC)
    for uid, score, country in [*plan.seed_players(), *plan.writers()]:
        if await sink.submit(uid, f"seed-{uid}-{score}", score, country, now) is None:
            raise RuntimeError(f"seeding {uid} did not reach the boards (is redis-server up?)")
