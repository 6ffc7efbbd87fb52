"""How long `pog cost` takes against `pog plan` of the same stack x phase, in the same run.

For each of the six stack x phase pairs, both commands run as fresh subprocesses (wall time seen from
here, interpreter start and exit included, as a user waits for them), alternating so both see the same
machine load; the medians of ``--runs`` are compared. The issue's target: `pog cost` takes at most about
twice `pog plan` (it plans, then prices). Figures are printed, never asserted.

    .venv/bin/python -m bench.cost_bench [--runs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api_bench import BenchError, run_and_report
from bench.args import positive_int

REPO_ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "prod")
PHASES = (1, 2, 3)
WORKLOAD: tuple[tuple[str, int], ...] = tuple((stack, phase) for stack in STACKS for phase in PHASES)
#: The issue: "at most about twice the time of pog plan".
RATIO_TARGET = 2.0
SUBPROCESS_TIMEOUT_S = 600

#: (stack, phase) -> (the plan command, the cost command).
Commands = Callable[[str, int], tuple[list[str], list[str]]]


def pog_commands(stack: str, phase: int) -> tuple[list[str], list[str]]:
    pog = Path(sys.executable).with_name("pog")
    if not pog.is_file():
        raise BenchError(f"{pog} not found: run scripts/bootstrap (or make setup) first")
    at = ["--phase", str(phase)]
    return [str(pog), "plan", stack, *at, "--quiet"], [str(pog), "cost", stack, *at, "--json", "-"]


@dataclass(frozen=True)
class PairTiming:
    stack: str
    phase: int
    plan_s: tuple[float, ...]
    cost_s: tuple[float, ...]

    @property
    def plan_median(self) -> float:
        return statistics.median(self.plan_s)

    @property
    def cost_median(self) -> float:
        return statistics.median(self.cost_s)

    @property
    def ratio(self) -> float:
        return self.cost_median / self.plan_median

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "phase": self.phase,
            "plan": list(self.plan_s),
            "cost": list(self.cost_s),
            "plan_median": self.plan_median,
            "cost_median": self.cost_median,
            "ratio": self.ratio,
        }


@dataclass(frozen=True)
class Results:
    runs: int
    python: str
    cpus: int
    load_before: tuple[float, ...]
    load_after: tuple[float, ...]
    pairs: tuple[PairTiming, ...]
    wall_s: float

    @property
    def plan_total(self) -> float:
        return sum(p.plan_median for p in self.pairs)

    @property
    def cost_total(self) -> float:
        return sum(p.cost_median for p in self.pairs)

    @property
    def ratio(self) -> float:
        """All six `pog cost` against all six `pog plan` (sums of the medians)."""
        return self.cost_total / self.plan_total

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "python": self.python,
            "cpus": self.cpus,
            "load_before": list(self.load_before),
            "load_after": list(self.load_after),
            "wall": self.wall_s,
            "pairs": [p.to_json() for p in self.pairs],
            "plan_total": self.plan_total,
            "cost_total": self.cost_total,
            "ratio": self.ratio,
            "target": RATIO_TARGET,
        }


def _time(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    try:
        done = subprocess.run(
            list(argv),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)} took more than {SUBPROCESS_TIMEOUT_S} s") from None
    except OSError as exc:
        raise BenchError(f"{' '.join(argv)} could not start: {exc}") from None
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or "no output"
        raise BenchError(f"{' '.join(argv)} failed with exit code {done.returncode}: {tail}")
    return seconds


def run_benchmark(
    runs: int,
    workload: Sequence[tuple[str, int]] = WORKLOAD,
    commands: Commands = pog_commands,
    progress: bool = True,
) -> Results:
    if not workload:
        raise BenchError("the workload is empty")
    started, load_before = time.perf_counter(), os.getloadavg()
    pairs = []
    for stack, phase in workload:
        plan_argv, cost_argv = commands(stack, phase)
        if progress:
            print(
                f"bench: {stack} phase {phase}: plan and cost, {runs} run(s) each",
                file=sys.stderr,
                flush=True,
            )
        plan_s, cost_s = [], []
        for _ in range(runs):  # alternating: both commands see the same load
            plan_s.append(_time(plan_argv))
            cost_s.append(_time(cost_argv))
        pairs.append(PairTiming(stack, phase, tuple(plan_s), tuple(cost_s)))
    return Results(
        runs=runs,
        python=platform.python_version(),
        cpus=os.cpu_count() or 0,
        load_before=tuple(round(x, 2) for x in load_before),
        load_after=tuple(round(x, 2) for x in os.getloadavg()),
        pairs=tuple(pairs),
        wall_s=time.perf_counter() - started,
    )


def format_report(results: Results) -> str:
    verdict = "met" if results.ratio <= RATIO_TARGET else "MISSED"
    lines = [
        f"pog cost against pog plan: Python {results.python}, {results.cpus} CPU(s), load average "
        f"{results.load_before} -> {results.load_after}, median of {results.runs} run(s), wall "
        f"{results.wall_s:.0f} s",
        "",
        f"{'stack x phase':<16}{'pog plan':>10}{'pog cost':>10}{'ratio':>8}",
    ]
    for p in results.pairs:
        lines.append(
            f"{p.stack + ' phase ' + str(p.phase):<16}"
            f"{p.plan_median:9.2f}s{p.cost_median:9.2f}s{p.ratio:8.2f}"
        )
    lines += [
        f"{'all ' + str(len(results.pairs)):<16}{results.plan_total:9.2f}s{results.cost_total:9.2f}s"
        f"{results.ratio:8.2f}",
        "",
        f"pog cost / pog plan = {results.ratio:.2f}   target <= {RATIO_TARGET:.2f}: {verdict}",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cost_bench",
        description="Time pog cost against pog plan over every stack x phase (bench/README.md).",
    )
    parser.add_argument(
        "--runs", type=positive_int, default=3, help="runs of each command per pair (default 3)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure here as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_and_report(lambda: run_benchmark(args.runs), format_report, args.json)


if __name__ == "__main__":
    sys.exit(main())
