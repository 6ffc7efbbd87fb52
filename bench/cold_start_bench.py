"""Cold start of the game API against bare FastAPI and uvicorn, measured in the same run.

Cloud Run starts a new instance on every scale-out (and dev scales from zero): the time to import the app
and build it is paid before the first request. Each figure comes from fresh Python subprocesses (a module
is imported once per process), the two workloads alternating so that both see the same machine:

- baseline: ``import fastapi, uvicorn`` and a one-route app;
- app: ``import app.main; app.main.create_app()``;
- ready (context): the app, then its lifespan's start-up, which builds every client from
  ``app/composition.py`` without connecting to anything: what moved out of the import, not what vanished.

For each: in-process seconds (the imports and the build, from ``time.perf_counter``), wall seconds seen
from here (interpreter start and exit included) and peak RSS (``ru_maxrss``). Medians of ``--runs``.
The ratios app / baseline are printed with "met" or "MISSED" against the issue's target (at most 2x);
figures are printed, never asserted. bench/README.md says more.

    .venv/bin/python -m bench.cold_start_bench [--runs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.args import positive_int

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The issue's target: the app's cold start costs at most twice bare FastAPI and uvicorn.
RATIO_TARGET = 2.0
#: Libraries whose presence after ``create_app`` is reported: each should load at start-up, not at import.
HEAVY = (
    "google.cloud.firestore",
    "google.cloud.kms",
    "firebase_admin",
    "grpc",
    "redis",
    "stripe",
    "sentry_sdk",
    "httpx",
    "cryptography",
    "app.composition",
    "app.ops",
)

_REPORT = f"""
import json, resource, sys, time
print(json.dumps({{"seconds": time.perf_counter() - _t0,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "modules": len(sys.modules),
                  "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""

#: Each workload: what runs between the start of the clock and the report.
WORKLOADS: dict[str, str] = {
    "baseline": """
import fastapi, uvicorn
app = fastapi.FastAPI()
@app.get("/")
async def root() -> dict[str, str]:
    return {"ok": "yes"}
""",
    "app": """
import app.main
app.main.create_app()
""",
    "ready": """
import asyncio
import app.main
api = app.main.create_app()
async def _start() -> None:
    async with api.router.lifespan_context(api):
        pass
asyncio.run(_start())
""",
}


class BenchError(Exception):
    """A measurement could not be taken: one line, no traceback."""


@dataclass(frozen=True)
class Sample:
    seconds: float
    wall_s: float
    maxrss_mib: float
    modules: int
    heavy: tuple[str, ...]


@dataclass
class Figures:
    name: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return float(statistics.median(getattr(s, attribute) for s in self.samples))

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.median("seconds"),
            "wall_s": self.median("wall_s"),
            "maxrss_mib": self.median("maxrss_mib"),
            "modules": int(self.median("modules")),
            "heavy_loaded": list(self.samples[-1].heavy) if self.samples else [],
            "runs": len(self.samples),
        }


def program(workload: str) -> str:
    return "import time\n_t0 = time.perf_counter()\n" + WORKLOADS[workload] + _REPORT


def measure(workload: str, env: dict[str, str] | None = None) -> Sample:
    """One fresh interpreter running ``workload``."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", program(workload)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"the {workload} subprocess failed (exit {done.returncode}): {tail}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(
        seconds=float(report["seconds"]),
        wall_s=wall,
        maxrss_mib=report["maxrss_kib"] / 1024,
        modules=int(report["modules"]),
        heavy=tuple(report["heavy"]),
    )


def child_env() -> dict[str, str]:
    """This environment with the app's settings at their defaults. Nothing is contacted: the clients connect
    on first use, and the emulator address only spares the Firestore client a credentials lookup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POG_")}
    env["POG_ENVIRONMENT"] = "local"  # the one setting without a default
    env["FIRESTORE_EMULATOR_HOST"] = "127.0.0.1:9"
    return env


def run_benchmark(
    runs: int, workloads: Sequence[str] = tuple(WORKLOADS), warm_up: bool = True
) -> dict[str, Figures]:
    """``runs`` samples of each workload, interleaved, after one unmeasured round that warms the file cache
    (``warm_up``)."""
    env = child_env()
    for name in workloads if warm_up else ():
        measure(name, env)
    figures = {name: Figures(name) for name in workloads}
    for _ in range(runs):
        for name in workloads:
            figures[name].samples.append(measure(name, env))
    return figures


def ratios(figures: dict[str, Figures]) -> dict[str, float]:
    base, app = figures["baseline"], figures["app"]
    out = {
        "in_process": app.median("seconds") / base.median("seconds"),
        "wall": app.median("wall_s") / base.median("wall_s"),
        "peak_rss": app.median("maxrss_mib") / base.median("maxrss_mib"),
    }
    if "ready" in figures:
        out["ready_wall"] = figures["ready"].median("wall_s") / base.median("wall_s")
    return out


def _verdict(value: float) -> str:
    return "met" if value <= RATIO_TARGET else "MISSED"


def format_report(figures: dict[str, Figures]) -> str:
    lines = [
        f"cold start: medians of {len(figures['baseline'].samples)} fresh interpreters each "
        f"(python {platform.python_version()}, {os.cpu_count()} CPUs)",
        f"{'':<10} {'in-process':>11} {'wall':>9} {'peak RSS':>10} {'modules':>8}",
    ]
    for f in figures.values():
        lines.append(
            f"{f.name:<10} {f.median('seconds'):>10.3f}s {f.median('wall_s'):>8.3f}s "
            f"{f.median('maxrss_mib'):>7.1f}MiB {int(f.median('modules')):>8}"
        )
    lines.append("")
    for name, value in ratios(figures).items():
        note = "context" if name == "ready_wall" else f"target <= {RATIO_TARGET:g}: {_verdict(value)}"
        lines.append(f"app / baseline, {name.replace('_', ' '):<12} {value:5.2f}x   ({note})")
    heavy = figures["app"].samples[-1].heavy if figures["app"].samples else ()
    lines.append(f"heavy libraries loaded by create_app: {', '.join(heavy) or 'none'}")
    return "\n".join(lines)


def to_json(figures: dict[str, Figures]) -> dict[str, Any]:
    return {
        "target": RATIO_TARGET,
        "figures": {name: f.to_json() for name, f in figures.items()},
        "ratios": ratios(figures),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cold_start_bench",
        description="Cold start of the game API against bare FastAPI + uvicorn, one run (bench/README.md).",
    )
    parser.add_argument("--runs", type=positive_int, default=7, help="interpreters per workload (default 7)")
    parser.add_argument("--no-ready", action="store_true", help="skip the lifespan start-up (context) figure")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure here as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workloads = [w for w in WORKLOADS if not (args.no_ready and w == "ready")]
    try:
        figures = run_benchmark(args.runs, workloads)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_report(figures))
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(figures), indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
