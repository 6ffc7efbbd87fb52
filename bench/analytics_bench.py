"""The finish-game flow with analytics on, against the same flow with analytics off, in one run.

Issue 21's target: a game finish is never slower because of analytics. Two uvicorn processes of the app
over the same redis-server and Firestore emulator, one with ``POG_ANALYTICS_TOPIC`` set (events published
to a Pub/Sub emulator started here, on a free port) and one without; rounds of ``--games`` finish-game
flows alternate between them, so drift of this shared machine falls on both alike. The ratio is the
off flow's median over the on flow's (target >= 0.95), printed with the medians and p95s of each step,
and the events the on process published (from its ``/metrics``).

    make bench-analytics BENCH_ARGS="--games 40 --rounds 5 --json analytics.json"
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.api_bench import (
    PLAYER,
    PROJECT,
    BenchError,
    _interrupt_on_sigterm,
    app_environment,
    dev_token,
    finish_game_flow,
    percentile,
    process_cpu_s,
    run_and_report,
    sample_counts,
    seed_player,
    start_api,
)
from scripts import services

TARGET = 0.95
TOPIC = "pog-local-analytics"
#: Flows each side runs before the measured rounds.
WARM_UP = 5


@dataclass(frozen=True)
class Side:
    """One process's flows: the median and p95 of each step over every round, in ms."""

    flow_median_ms: float
    flow_p95_ms: float
    finish_median_ms: float
    finish_p95_ms: float
    games: int
    #: The app process's own CPU (user + system) per game: what analytics costs the API itself, apart
    #: from the emulator's JVM, which shares this machine's cores (in prod Pub/Sub is elsewhere).
    cpu_per_game_ms: float


@dataclass(frozen=True)
class Results:
    off: Side
    on: Side
    published: int
    outboxed: int
    dropped: int
    machine: str

    @property
    def ratio(self) -> float:
        return self.off.flow_median_ms / self.on.flow_median_ms if self.on.flow_median_ms else 0.0

    @property
    def cpu_ratio(self) -> float:
        return self.off.cpu_per_game_ms / self.on.cpu_per_game_ms if self.on.cpu_per_game_ms else 0.0

    def to_json(self) -> dict[str, Any]:
        ratios = {"ratio": round(self.ratio, 3), "cpu_ratio": round(self.cpu_ratio, 3)}
        return {**asdict(self), **ratios, "target": TARGET}


@contextlib.contextmanager
def pubsub_emulator(workdir: Path) -> Iterator[int]:
    """The Pub/Sub emulator on a free port (scripts/services.py), stopped by its process group."""
    port = services.free_port()
    try:
        process = services.start_pubsub(workdir, port, PROJECT)
    except RuntimeError as exc:
        raise BenchError(str(exc)) from None
    try:
        yield port
    finally:
        services.stop_group(process)


def create_topic(port: int) -> str:
    os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{port}"
    pubsub_v1: Any = importlib.import_module("google.cloud.pubsub_v1")  # the library ships no types
    publisher = pubsub_v1.PublisherClient()
    path: str = publisher.topic_path(PROJECT, TOPIC)
    publisher.create_topic(name=path)
    return path


def analytics_counts(base: str) -> dict[str, int]:
    """``pog_analytics_events_total`` by result, from the app's /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        found = sample_counts(resp.read().decode(), "pog_analytics_events_total", "result")
    return {result: found.get(result, 0) for result in ("published", "outboxed", "dropped")}


def settled_counts(base: str, expected: int, timeout_s: float = 10.0) -> dict[str, int]:
    """The on process's counts once every event it produced is accounted for (or after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    counts = analytics_counts(base)
    while sum(counts.values()) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        counts = analytics_counts(base)
    return counts


def _side(flows: Sequence[dict[str, Any]], cpu_s: float) -> Side:
    def all_ms(step: str) -> list[float]:
        return [ms for flow in flows for ms in flow[step]]

    flow, finish = all_ms("flow"), all_ms("finish")
    cpu_ms = 1000 * cpu_s / len(flow)
    medians = statistics.median(flow), percentile(flow, 95), statistics.median(finish), percentile(finish, 95)
    return Side(*medians, len(flow), cpu_ms)


def _timed_flows(base: str, headers: dict[str, str], games: int) -> dict[str, list[float]]:
    """``games`` flows, each step's time of each game in ms (finish_game_flow keeps only its summary)."""
    steps: dict[str, list[float]] = {"flow": [], "finish": []}
    for _ in range(games):
        stats = finish_game_flow(base, headers, 1)
        steps["flow"].append(stats["flow"].median_ms)
        steps["finish"].append(stats["finish"].median_ms)
    return steps


def run_benchmark(games: int, rounds: int) -> Results:
    with _interrupt_on_sigterm(), ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pog-analytics-bench-")))
        rds = services.start_redis(workdir)
        stack.callback(rds.stop)
        fs = services.start_firestore(workdir)
        stack.callback(fs.stop)
        port = stack.enter_context(pubsub_emulator(workdir))
        topic = create_topic(port)
        env = app_environment(rds.port, fs.port)
        seed_player(env)
        off_dir, on_dir = workdir / "off", workdir / "on"
        off_dir.mkdir()
        on_dir.mkdir()
        off_base, off_pid = start_api(stack, env, off_dir)
        on_env = {**env, "POG_ANALYTICS_TOPIC": topic, "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{port}"}
        on_base, on_pid = start_api(stack, on_env, on_dir)
        headers = {"Authorization": f"Bearer {dev_token(PLAYER[0], PROJECT)}"}
        for base in (off_base, on_base):  # warm both: first requests and connections stay out
            finish_game_flow(base, headers, WARM_UP)
        off: list[dict[str, Any]] = []
        on: list[dict[str, Any]] = []
        cpu = {off_pid: 0.0, on_pid: 0.0}
        for n in range(rounds):
            # Alternate which goes first, so neither always runs on the warmer machine.
            sides = ((off_base, off_pid, off), (on_base, on_pid, on))
            for base, pid, into in sides if n % 2 == 0 else reversed(sides):
                before = process_cpu_s(pid)
                into.append(_timed_flows(base, headers, games))
                # The on side's publishing runs in the background: its CPU counts where it lands.
                cpu[pid] += process_cpu_s(pid) - before
        # Each game is two events (game_started, game_finished); the last batch may still be in flight.
        counts = settled_counts(on_base, 2 * (WARM_UP + games * rounds))
    machine = f"{os.cpu_count()} CPUs"
    measured = _side(off, cpu[off_pid]), _side(on, cpu[on_pid])
    return Results(*measured, counts["published"], counts["outboxed"], counts["dropped"], machine)


def format_report(results: Results) -> str:
    verdict = "met" if results.ratio >= TARGET else "MISSED"

    def row(label: str, side: Side) -> str:
        return (
            f"  {label:<14} flow median {side.flow_median_ms:7.1f} ms  p95 {side.flow_p95_ms:7.1f} ms   "
            f"finish median {side.finish_median_ms:6.1f} ms  p95 {side.finish_p95_ms:6.1f} ms"
            f"  ({side.games} games)"
        )

    return "\n".join(
        [
            f"Analytics benchmark ({results.machine}): the finish-game flow, analytics off and on",
            row("analytics off", results.off),
            row("analytics on", results.on),
            f"  off / on flow median {results.ratio:.3f}  (target >= {TARGET}: {verdict})",
            f"  app CPU per game: off {results.off.cpu_per_game_ms:.2f} ms,"
            f" on {results.on.cpu_per_game_ms:.2f} ms; off / on {results.cpu_ratio:.3f}"
            " (the emulator's JVM shares these cores; in prod it is elsewhere)",
            f"  events of the on process: {results.published} published, {results.outboxed} outboxed, "
            f"{results.dropped} dropped",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--games", type=int, default=40, help="finish-game flows per round and side (40)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, alternating the sides (5)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.games < 1 or args.rounds < 1:
        parser.error("--games and --rounds must be at least 1")
    return run_and_report(lambda: run_benchmark(args.games, args.rounds), format_report, args.json)


if __name__ == "__main__":
    raise SystemExit(main())
