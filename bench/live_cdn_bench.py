"""Live boards through the CDN, for real: viewers poll through a caching proxy configured like the stacks'
Cloudflare cache rules while games finish; how much reaches the origin, and how late viewers see a finish.

One run starts everything it measures: redis-server and the Firestore emulator on free ports, the app under
uvicorn (one worker, 127.0.0.1) with a short publish interval, and per viewer count a fresh nginx
(bench/live_cdn_edge.py: its config generated from infra/stacks/edge_cache.py, so it caches exactly what
is declared, the latest document's edge TTL scaled to the bench's interval). Viewers and the writer are
bench/live_cdn_viewers.py. Per viewer count it reports:

- origin requests per interval while games finish (nginx's access log: requests that reached the origin),
  against the target: flat across viewer counts and at most pages x 2 (a latest document and a segment per
  page and interval);
- the delay from a finish to a viewer first holding a page that shows it (p50, p95, max), against one
  interval plus the edge TTL;
- whether every viewer ended on the origin's latest page, and whether this machine kept up (polls made
  against polls scheduled: 10,000 viewers share 2 cores with nginx, the app, Redis and the emulator).

Then the baseline, the smallest viewer count straight to the origin: every poll reaches it. Figures are
printed, never asserted (tests/bench/test_live_cdn.py asserts counts on a small run).

    .venv/bin/python -m bench.live_cdn_bench [--viewers 100,1000,10000] [--interval S] [--duration S]
                                             [--finish-rate N] [--connections N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.api_bench import (
    BenchError,
    _interrupt_on_sigterm,
    app_environment,
    percentile,
    process_cpu_s,
    run_and_report,
    run_async,
    sample_counts,
    start_api,
)
from bench.args import positive_int
from bench.live_cdn_edge import (
    NGINX_HINT,
    access_log,
    nginx_installed,
    nginx_version,
    origin_requests,
    start_edge,
)
from bench.live_cdn_viewers import (
    BoardPage,
    Finishes,
    HttpPool,
    Viewer,
    ViewerStats,
    Writer,
    WriterPlan,
    seed_boards,
)
from infra.stacks.edge_cache import LIVE_INTERVAL_S, live_cache_rules
from scripts import services

#: The public pages the viewers follow: two pages of one board, and the first of two others.
PAGES: tuple[BoardPage, ...] = (
    BoardPage("daily", "global", None, 1),
    BoardPage("daily", "global", None, 2),
    BoardPage("weekly", "global", None, 1),
    BoardPage("daily", "country", "IE", 1),
)
#: A latest document and a segment per page and interval.
ORIGIN_REQUESTS_PER_PAGE = 2
#: After the writer stops, viewers poll this many intervals more: the last finish is published within one
#: interval (plus nginx's whole-second expiry) and every viewer polls once an interval.
DRAIN_INTERVALS = 3
#: Polls made below this share of those scheduled, or started this late (share of an interval) at p95:
#: the client machine, not the edge, set the pace.
SATURATED_POLLS = 0.95
SATURATED_LATE = 0.25


def latest_edge_ttl_s(interval_s: int) -> int:
    """The edge TTL the declared rules give the latest document at this publish interval."""
    latest = live_cache_rules(interval_s)[0]
    if latest.edge_ttl_s is None:
        raise BenchError(f"{latest.ref} respects the origin: the bench needs its declared TTL")
    return latest.edge_ttl_s


@dataclass(frozen=True)
class Run:
    """One viewer count for one duration, through the edge or straight to the origin."""

    viewers: int
    through: str  # "edge" or "origin"
    interval_s: int
    duration_s: float  # while the writer finishes games
    window_s: float  # the whole run: the duration and the drain
    finishes: int
    writer_failures: int
    origin_requests: int  # during the duration
    origin_requests_window: int
    viewer_requests: int  # during the duration
    cache_statuses: dict[str, int]  # of the origin requests (nginx's $upstream_cache_status)
    origin_work: dict[str, int]  # the app's /metrics: live publishes and renders over the window
    polls: int
    expected_polls: int
    late_p95_s: float
    client_cpu: float  # CPU seconds of this process per second of the run (1.0: one core, all the time)
    fulls: int
    segments: int
    refetches: int
    errors: int
    first_errors: list[str]
    delays: int
    delay_p50_s: float
    delay_p95_s: float
    delay_max_s: float
    unseen: int
    converged: int
    diverged: list[str] = field(default_factory=list)
    #: Through the edge: whether a request repeating ``page`` got another page's latest document cached
    #: under the page's own key (None: not probed).
    repeated_page_poisons: bool | None = None

    @property
    def intervals(self) -> float:
        return self.duration_s / self.interval_s

    @property
    def origin_per_interval(self) -> float:
        return self.origin_requests / self.intervals

    @property
    def polls_achieved(self) -> float:
        return self.polls / self.expected_polls if self.expected_polls else 0.0

    @property
    def saturated(self) -> bool:
        return self.polls_achieved < SATURATED_POLLS or self.late_p95_s > SATURATED_LATE * self.interval_s

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "origin_per_interval": self.origin_per_interval,
            "polls_achieved": self.polls_achieved,
            "saturated": self.saturated,
        }


@dataclass(frozen=True)
class Results:
    interval_s: int
    duration_s: float
    finish_rate: float
    pages: list[str]
    runs: list[Run]
    baseline: Run | None
    machine: str
    edge: str

    @property
    def origin_target(self) -> int:
        return len(self.pages) * ORIGIN_REQUESTS_PER_PAGE

    @property
    def delay_target_s(self) -> float:
        """One interval plus the edge TTL of the latest document (the bench's rules: the interval)."""
        return float(self.interval_s + latest_edge_ttl_s(self.interval_s))

    @property
    def flatness(self) -> float:
        """The largest origin requests per interval over the smallest, across viewer counts (1.0: flat)."""
        rates = sorted(run.origin_per_interval for run in self.runs)
        return rates[-1] / rates[0] if rates and rates[0] > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "interval_s": self.interval_s,
            "stacks_interval_s": LIVE_INTERVAL_S,
            "duration_s": self.duration_s,
            "finish_rate": self.finish_rate,
            "pages": self.pages,
            "origin_target_per_interval": self.origin_target,
            "delay_target_s": self.delay_target_s,
            "flatness": self.flatness,
            "runs": [run.to_json() for run in self.runs],
            "baseline": self.baseline.to_json() if self.baseline else None,
            "machine": self.machine,
            "edge": self.edge,
        }


# --- one run -----------------------------------------------------------------------------------------


def _metric_counts(text: str) -> dict[str, int]:
    """The live counters of the app's /metrics: publishes by result, renders by kind."""
    publishes = sample_counts(text, "pog_leaderboard_live_publishes_total", "result")
    renders = sample_counts(text, "pog_leaderboard_live_renders_total", "kind")
    return {f"publishes_{result}": n for result, n in publishes.items()} | {
        f"renders_{kind}": n for kind, n in renders.items()
    }


async def _origin_work(origin: HttpPool) -> dict[str, int]:
    status, body = await origin.get("/metrics")
    if status != 200:
        raise BenchError(f"the origin's /metrics answered {status}")
    return _metric_counts(body.decode())


async def _converged(origin: HttpPool, viewers: Sequence[Viewer]) -> list[str]:
    """Each viewer whose page differs from the origin's latest (fetched straight from the origin)."""
    diverged = []
    for page in PAGES:
        status, raw = await origin.get(page.latest_path)
        if status != 200:
            raise BenchError(f"{page.latest_path} straight from the origin: {status} {raw[:300]!r}")
        latest = orjson.loads(raw)
        status, raw = await origin.get(latest["full"])
        if status != 200:
            raise BenchError(f"{latest['full']} straight from the origin: {status} {raw[:300]!r}")
        full = orjson.loads(raw)
        for index, viewer in enumerate(viewers):
            if viewer.page != page:
                continue
            if viewer.version != latest["version"]:
                diverged.append(
                    f"viewer {index} ({page.label}) holds {viewer.version}, the origin {latest['version']}"
                )
            elif viewer.page_entries() != full["entries"] or viewer.total != full["total"]:
                diverged.append(
                    f"viewer {index} ({page.label}) at {viewer.version} differs from the origin's page"
                )
    return diverged


async def _repeated_page_poisons(edge: HttpPool, interval_s: int) -> bool:
    """Once the edge's copy of page 1's latest document has expired: ``?page=1&page=2``, then ``?page=1``.
    The cache key takes the first ``page`` (nginx's ``$arg_page``; Cloudflare's include list, at best the
    same), the origin's framework the last: unless the origin refuses a repeated parameter, page 2's
    document lands under page 1's key and every page-1 viewer gets it for an interval."""
    first, second = PAGES[0], PAGES[1]
    await asyncio.sleep(interval_s + 1.5)  # nginx expires on whole seconds
    await edge.get(f"{first.latest_path}&page={second.page}")
    status, raw = await edge.get(first.latest_path)
    return status == 200 and orjson.loads(raw)["page"] != first.page


async def measure(
    port: int,
    origin_port: int,
    through: str,
    viewers: int,
    writer: Writer,
    finishes: Finishes,
    interval_s: int,
    duration_s: float,
    finish_rate: float,
    connections: int,
    access_log: Path | None,
    probe: bool = False,
) -> Run:
    """``viewers`` following PAGES through 127.0.0.1:``port`` while ``writer`` finishes games for
    ``duration_s``, then DRAIN_INTERVALS more; their first polls spread over the first interval."""
    loop = asyncio.get_running_loop()
    pool = HttpPool("127.0.0.1", port, min(viewers, connections))
    origin = HttpPool("127.0.0.1", origin_port, 2)
    stats = ViewerStats()
    followers = [Viewer(PAGES[i % len(PAGES)], pool, finishes, stats) for i in range(viewers)]
    try:
        work_before = await _origin_work(origin)
        finished_before = finishes.count
        cpu_before = process_cpu_s(os.getpid())
        start = loop.time() + 0.5
        epoch = time.time() + 0.5
        writing_until = start + duration_s
        until = writing_until + DRAIN_INTERVALS * interval_s
        await asyncio.gather(
            writer.run(finish_rate, writing_until),
            *(v.follow(start + i * interval_s / viewers, interval_s, until) for i, v in enumerate(followers)),
        )
        window_s = loop.time() - start
        client_cpu = (process_cpu_s(os.getpid()) - cpu_before) / window_s
        work = await _origin_work(origin)  # before the convergence check's own requests
        diverged = await _converged(origin, followers)
        poisons = await _repeated_page_poisons(pool, interval_s) if probe else None
    finally:
        await pool.close()
        await origin.close()
    during = sum(1 for at in pool.times if at <= writing_until)
    if access_log is not None:
        counted = origin_requests(access_log, epoch, epoch + duration_s)
        whole = origin_requests(access_log, epoch, epoch + window_s)
        origin_during, origin_window, statuses = counted.origin, whole.origin, counted.by_status
    else:  # straight to the origin: every request is one
        origin_during, origin_window, statuses = during, len(pool.times), {}
    delays = list(stats.delays)
    return Run(
        viewers=viewers,
        through=through,
        interval_s=interval_s,
        duration_s=duration_s,
        window_s=window_s,
        finishes=finishes.count - finished_before,
        writer_failures=writer.failures,
        origin_requests=origin_during,
        origin_requests_window=origin_window,
        viewer_requests=during,
        cache_statuses=statuses,
        origin_work={name: work[name] - work_before.get(name, 0) for name in work},
        polls=stats.polls,
        expected_polls=stats.expected_polls,
        late_p95_s=percentile(list(stats.late_s), 95),
        client_cpu=client_cpu,
        fulls=stats.fulls,
        segments=stats.segments,
        refetches=stats.refetches,
        errors=len(stats.errors),
        first_errors=stats.errors[:5],
        delays=len(delays),
        delay_p50_s=percentile(delays, 50),
        delay_p95_s=percentile(delays, 95),
        delay_max_s=max(delays, default=0.0),
        unseen=sum(v.unseen() for v in followers),
        converged=viewers - len(diverged),
        diverged=diverged[:5],
        repeated_page_poisons=poisons,
    )


# --- the whole bench ---------------------------------------------------------------------------------


def _sink(redis_port: int) -> tuple[Any, Any]:
    """The app's leaderboard sink on the bench's Redis, and its client (to close)."""
    import redis.asyncio as aioredis

    from app.repositories.breaker import RedisBreaker
    from app.repositories.leaderboard_sets import RedisLeaderboardSink

    client = aioredis.Redis(port=redis_port)
    return RedisLeaderboardSink(client, RedisBreaker(5, 10)), client


def _mark_boards_alive(redis_port: int) -> None:
    """What a finished rebuild leaves: without it the app takes the empty Redis for a lost one and rebuilds
    the boards from Firestore's (empty) games, wiping the seeded players."""
    from datetime import UTC, datetime

    import redis

    from app.repositories.leaderboard_keys import ALIVE_KEY

    with redis.Redis(port=redis_port) as client:
        client.set(ALIVE_KEY, datetime.now(UTC).isoformat())


def run_benchmark(
    viewer_counts: Sequence[int],
    interval_s: int,
    duration_s: float,
    finish_rate: float,
    connections: int = 256,
    baseline_viewers: int | None = None,
    quiet: bool = False,
) -> Results:
    """Every viewer count through a fresh edge, then ``baseline_viewers`` (default: the smallest count)
    straight to the origin; 0 skips the baseline."""

    def say(message: str) -> None:
        if not quiet:
            print(f"bench: {message}", file=sys.stderr, flush=True)

    plan = WriterPlan()
    runs_planned = len(viewer_counts) + (baseline_viewers != 0)
    finishes_needed = finish_rate * duration_s * runs_planned
    room = plan.finishes_per_writer * len(plan.writers())
    if finishes_needed > room:
        raise BenchError(
            f"{finishes_needed:.0f} finishes ({finish_rate:g}/s for {duration_s:g} s, {runs_planned} runs)"
            f" need more room than the writers have ({room}): shorten --duration or lower --finish-rate"
        )
    rules = live_cache_rules(interval_s)
    if viewer_counts and not nginx_installed():  # before anything starts
        raise BenchError(NGINX_HINT)
    with _interrupt_on_sigterm(), ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pog-live-cdn-bench-")))
        workdir.chmod(0o711)  # nginx's workers (nobody, when run as root) reach their cache under it
        rds = services.start_redis(workdir)
        stack.callback(rds.stop)
        fs = services.start_firestore(workdir)
        stack.callback(fs.stop)
        say(f"redis-server pid {rds.process.pid}, Firestore emulator pid {fs.process.pid}")
        _mark_boards_alive(rds.port)
        env = app_environment(rds.port, fs.port) | {"POG_LEADERBOARD_STREAM_INTERVAL_S": str(interval_s)}
        base, api_pid = start_api(stack, env, workdir)
        origin_port = int(base.rsplit(":", 1)[1])
        say(f"uvicorn pid {api_pid} at {base}, publishing live pages every {interval_s} s")

        async def main() -> tuple[list[Run], Run | None]:
            sink, client = _sink(rds.port)
            try:
                await seed_boards(sink, plan)
                finishes = Finishes()
                writer = Writer(sink, plan, finishes)
                runs: list[Run] = []
                for count in sorted(viewer_counts):
                    edge_dir = workdir / f"edge-{count}"
                    edge = start_edge(rules, edge_dir, origin_port, services.free_port())
                    try:
                        say(f"{count:,} viewers through nginx pid {edge.process.pid} for {duration_s:g} s")
                        runs.append(
                            await measure(
                                edge.port, origin_port, "edge", count, writer, finishes, interval_s,
                                duration_s, finish_rate, connections, access_log(edge_dir), probe=not runs,
                            )
                        )  # fmt: skip
                    finally:
                        edge.stop()
                baseline = None
                smallest = baseline_viewers if baseline_viewers is not None else min(viewer_counts)
                if smallest:
                    say(f"baseline: {smallest:,} viewers straight to the origin for {duration_s:g} s")
                    baseline = await measure(
                        origin_port, origin_port, "origin", smallest, writer, finishes, interval_s,
                        duration_s, finish_rate, connections, None,
                    )  # fmt: skip
                return runs, baseline
            finally:
                await client.aclose()

        runs, baseline = run_async(main())
        say("stopping uvicorn, the emulator and redis-server")
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    return Results(
        interval_s=interval_s,
        duration_s=duration_s,
        finish_rate=finish_rate,
        pages=[page.label for page in PAGES],
        runs=runs,
        baseline=baseline,
        machine=machine,
        edge=nginx_version(),
    )


# --- the report --------------------------------------------------------------------------------------


def _row(run: Run, results: Results) -> str:
    saturated = "  SATURATED" if run.saturated else ""
    errors = f"  {run.errors} errors" if run.errors else ""
    origin = f"{run.origin_per_interval:>8.1f} ({run.origin_per_interval / results.origin_target:>4.2f})"
    delays = (
        f"{run.delay_p50_s:>5.1f} {run.delay_p95_s:>5.1f} {run.delay_max_s:>5.1f} s"
        f" ({run.delay_max_s / results.delay_target_s:>4.2f})"
    )
    polls = (
        f"{run.polls_achieved:>6.1%} (p95 {run.late_p95_s * 1000:>4.0f} ms late, CPU {run.client_cpu:.2f})"
    )
    return (
        f"  {run.viewers:>7,}  {run.through:<6} {origin}  {delays}"
        f"  {polls}  {run.converged:>6,}/{run.viewers:<6,}{errors}{saturated}"
    )


def format_report(results: Results) -> str:
    target, delay_target = results.origin_target, results.delay_target_s
    lines = [
        f"Live boards through a caching proxy ({results.edge}, its config generated from"
        f" infra/stacks/edge_cache.py; {results.machine})",
        f"publish interval {results.interval_s} s (POG_LEADERBOARD_STREAM_INTERVAL_S; the stacks run"
        f" {LIVE_INTERVAL_S} s), latest document {latest_edge_ttl_s(results.interval_s)} s at the edge;"
        f" {len(results.pages)} public pages ({', '.join(results.pages)});"
        f" a writer finishing {results.finish_rate:g} games/s for {results.duration_s:g} s per run,"
        f" then {DRAIN_INTERVALS} intervals more",
        f"targets: origin requests per interval flat across viewer counts and <= {len(results.pages)} pages x"
        f" {ORIGIN_REQUESTS_PER_PAGE} = {target}; finish -> seen <= interval + edge TTL = {delay_target:g} s",
        "",
        "  viewers  via    origin/interval   finish -> seen p50 p95 max      polls made (client)"
        "                     converged",
        "                  (ratio to target)                 (max/target)",
    ]
    lines += [_row(run, results) for run in results.runs]
    if len(results.runs) > 1:
        lines.append(
            f"  flatness: the most origin requests per interval over the fewest, across viewer counts:"
            f" {results.flatness:.2f} (1.00 is flat)"
        )
    for run in results.runs:
        work = ", ".join(f"{name} {count}" for name, count in sorted(run.origin_work.items()) if count)
        statuses = ", ".join(f"{name} {count}" for name, count in sorted(run.cache_statuses.items()))
        lines.append(
            f"  {run.viewers:,} viewers: {run.viewer_requests:,} viewer requests and {run.origin_requests:,}"
            f" at the origin ({statuses}) while games finished; {run.finishes} finishes, {run.delays:,} seen"
            f" ({run.unseen} unseen); {run.fulls:,} full pages, {run.segments:,} segments, {run.refetches}"
            f" segment 404s; origin work: {work}"
        )
        if run.saturated:
            lines.append(
                f"    SATURATED: the client made {run.polls_achieved:.1%} of its polls, p95"
                f" {run.late_p95_s:.2f} s late: this machine, not the edge, set the pace of that run"
            )
        lines += [f"    {message}" for message in run.first_errors + run.diverged]
    probed = [run.repeated_page_poisons for run in results.runs if run.repeated_page_poisons is not None]
    if probed:
        verdict = (
            "POISONED: the edge then served page 2's latest document for page 1 (the origin must refuse a"
            " repeated page or country)"
            if probed[0]
            else "not poisoned: page 1 stayed page 1"
        )
        lines.append(
            f"  a request repeating ?page= (page=1&page=2), then ?page=1 through the edge: {verdict}"
        )
    if results.baseline is not None:
        base = results.baseline
        each = base.viewer_requests / base.viewers / base.intervals if base.viewers else 0.0
        edge = next((run for run in results.runs if run.viewers == base.viewers), None)
        cut = f"; through the edge {edge.origin_per_interval:.1f}" if edge else ""
        lines += [
            "",
            f"baseline: {base.viewers:,} viewers straight to the origin: {base.origin_per_interval:.1f}"
            f" origin requests per interval (= {base.viewers:,} viewers x {each:.2f} requests each){cut}",
            _row(base, results),
        ]
    return "\n".join(lines)


def _viewer_counts(text: str) -> list[int]:
    try:
        counts = [positive_int(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"--viewers: {exc}") from None
    if not counts:
        raise argparse.ArgumentTypeError("--viewers: name at least one count, e.g. 100,1000")
    return counts


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.live_cdn_bench",
        description="Live-board viewers through nginx configured like the Cloudflare cache rules"
        " (bench/README.md).",
    )
    parser.add_argument(
        "--viewers",
        type=_viewer_counts,
        default=[100, 1_000, 10_000],
        help="viewer counts (default 100,1000,10000)",
    )
    parser.add_argument(
        "--interval",
        type=positive_int,
        default=5,
        help="publish interval and edge TTL, whole seconds (default 5)",
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of finishing games per run (default 60)"
    )
    parser.add_argument(
        "--finish-rate", type=float, default=2.0, help="finished games per second (default 2)"
    )
    parser.add_argument(
        "--connections",
        type=positive_int,
        default=256,
        help="the viewers' keep-alive connections (default 256)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.duration < args.interval or args.finish_rate <= 0:
        parser.error("--duration must be at least one --interval, and --finish-rate > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> Results:
        return run_benchmark(args.viewers, args.interval, args.duration, args.finish_rate, args.connections)

    return run_and_report(run, format_report, args.json)


if __name__ == "__main__":
    sys.exit(main())
