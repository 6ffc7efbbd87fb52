"""How long the offline plan takes, measured against the cost of importing the provider SDKs.

Every figure comes from fresh subprocesses started by this one process, in the same run (a module is
imported once per process, so an import can only be timed in a new one):

- interpreter: ``python -c pass`` (context for the end-to-end figure);
- end to end: ``pog plan dev --quiet``, wall time seen from here;
- plans: one subprocess plans every stack x phase in a row and times each plan. It also reports which
  provider SDK subpackages the program loaded (pulumi_gcp registers ~150 submodules lazily and loads one
  on first use), so the baseline imports exactly those;
- import baseline: a subprocess that only imports pulumi, the provider SDKs and those subpackages.

Medians of ``--runs`` subprocesses, except the plans subprocess, run ``--plan-runs`` times (default once:
it is the slow one). bench/README.md defines what the ratios compare. Figures are printed, never asserted.

    .venv/bin/python -m bench.plan_bench [--runs N] [--plan-runs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.args import positive_int

REPO_ROOT = Path(__file__).resolve().parent.parent
CORE_SDK = "pulumi"
PROVIDER_SDKS: tuple[str, ...] = ("pulumi_gcp", "pulumi_cloudflare", "pulumi_rediscloud")
STACKS = ("dev", "prod")
PHASES = (1, 2, 3)
WORKLOAD: tuple[tuple[str, int], ...] = tuple((stack, phase) for stack in STACKS for phase in PHASES)
DEFAULT_PLANNER = "infra.plan.runner:plan_stack"
END_TO_END_STACK = "dev"
# The targets: the program and recording add at most 50 % on top of the import time;
# `pog plan dev` answers in under 5 s.
OVERHEAD_TARGET = 0.5
END_TO_END_TARGET_S = 5.0
SUBPROCESS_TIMEOUT_S = 600

# Stdlib only, before any clock starts. The pkg_resources warning of pulumi_rediscloud is silenced the
# way infra/providers.py silences it, so both sides import the same way.
_PROLOGUE = """\
import importlib, json, sys, time, types, warnings
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
"""

# argv: JSON list of module names. Prints the seconds the imports took.
_IMPORTS_SCRIPT = (
    _PROLOGUE
    + """
names = json.loads(sys.argv[1])
start = time.perf_counter()
for name in names:
    module = importlib.import_module(name)
    # A lazily registered submodule (pulumi_gcp.compute, ...) loads on its first attribute access.
    getattr(module, "__all__", None)
print(json.dumps(time.perf_counter() - start))
"""
)

# argv: planner "module:function", JSON workload [[stack, phase], ...], JSON list of SDK packages,
# output path. The clock starts before the planner's module is imported, so the first plan pays every
# import (pulumi, the provider SDKs, the program's own modules), as `pog plan` does.
_PLANS_SCRIPT = (
    _PROLOGUE
    + """
planner_path, workload_json, packages_json, out = sys.argv[1:5]
workload, packages = json.loads(workload_json), json.loads(packages_json)
start = time.perf_counter()
module_name, _, attribute = planner_path.partition(":")
planner = getattr(importlib.import_module(module_name), attribute)
setup = time.perf_counter() - start
plans = []
for stack, phase in workload:
    began = time.perf_counter()
    plan, planned_phase = planner(stack, phase)
    seconds = time.perf_counter() - began
    resources = len(plan.resources)
    plans.append({"stack": stack, "phase": planned_phase, "resources": resources, "seconds": seconds})
total = time.perf_counter() - start
loaded = sorted(
    name
    for name, module in list(sys.modules.items())
    if name.partition(".")[0] in packages
    and name.count(".") == 1
    and type(module) is types.ModuleType  # a lazy module not loaded yet has its own subclass
    and "__path__" in vars(module)
)
with open(out, "w", encoding="utf-8") as f:
    json.dump({"setup": setup, "plans": plans, "total": total, "loaded": loaded}, f)
"""
)


class BenchError(Exception):
    """A measurement could not be taken (a subprocess failed or timed out): one line, no traceback."""


@dataclass(frozen=True)
class Samples:
    """Seconds measured over several fresh subprocesses."""

    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": min(self.seconds),
            "max": max(self.seconds),
            "runs": list(self.seconds),
        }


@dataclass(frozen=True)
class PlanTiming:
    stack: str
    phase: int
    resources: int
    seconds: float


@dataclass(frozen=True)
class PlansRun:
    """One subprocess planning a workload in a row."""

    setup_s: float  # importing the planner's module (pulumi core, the plan engine)
    plans: tuple[PlanTiming, ...]
    total_s: float  # setup and every plan
    loaded_subpackages: tuple[str, ...]  # provider SDK subpackages the program loaded

    @property
    def first_plan_s(self) -> float:
        """The first plan, every import included: what one `pog plan` pays."""
        return self.setup_s + self.plans[0].seconds

    @property
    def later_plans_median_s(self) -> float | None:
        later = [p.seconds for p in self.plans[1:]]
        return statistics.median(later) if later else None

    def to_json(self) -> dict[str, Any]:
        return {
            "setup": self.setup_s,
            "total": self.total_s,
            "first_plan_with_imports": self.first_plan_s,
            "later_plans_median": self.later_plans_median_s,
            "plans": [vars(p) for p in self.plans],
            "loaded_subpackages": list(self.loaded_subpackages),
        }


@dataclass(frozen=True)
class Results:
    runs: int
    python: str
    cpus: int
    load_before: tuple[float, ...]
    load_after: tuple[float, ...]
    interpreter: Samples
    end_to_end_command: tuple[str, ...]
    end_to_end: Samples
    plans: PlansRun
    plan_runs: tuple[float, ...]  # total of each plans subprocess; `plans` is the median one
    import_modules: tuple[str, ...]
    imports: Samples  # in-process, around the imports only
    imports_wall: Samples  # the same subprocesses seen from here: startup, imports, interpreter exit
    wall_s: float

    @property
    def exit_after_imports_s(self) -> float:
        """Interpreter exit once the SDKs are loaded (freeing their objects): wall - imports - startup."""
        return self.imports_wall.median - self.imports.median - self.interpreter.median

    @property
    def end_to_end_rest_s(self) -> float:
        """What `pog plan` adds to startup and one plan: CLI imports, printing, interpreter exit."""
        return self.end_to_end.median - self.interpreter.median - self.plans.first_plan_s


@dataclass(frozen=True)
class Ratios:
    one_plan_overhead: float  # (first plan with imports - imports) / imports
    plans_overhead: float  # (all plans with imports - imports) / imports
    per_plan_overhead: float  # (all plans with imports - imports) / number of plans / imports
    later_plan_ratio: float | None  # median later plan / imports
    end_to_end_ratio: float  # end to end / END_TO_END_TARGET_S


def ratios(results: Results) -> Ratios:
    imports = results.imports.median
    plans = results.plans
    beyond = plans.total_s - imports
    later = plans.later_plans_median_s
    return Ratios(
        one_plan_overhead=(plans.first_plan_s - imports) / imports,
        plans_overhead=beyond / imports,
        per_plan_overhead=beyond / len(plans.plans) / imports,
        later_plan_ratio=None if later is None else later / imports,
        end_to_end_ratio=results.end_to_end.median / END_TO_END_TARGET_S,
    )


# --- measurements ------------------------------------------------------------------------------------


def _run(argv: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
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
        raise BenchError(f"{what} took more than {SUBPROCESS_TIMEOUT_S} s") from None
    except OSError as exc:
        raise BenchError(f"{what} could not start: {exc}") from None
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or "no output"
        raise BenchError(f"{what} failed with exit code {done.returncode}: {tail}")
    return done


def time_command(argv: Sequence[str], runs: int) -> Samples:
    """Wall time of a command, seen from here (interpreter start and exit included)."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        _run(argv, " ".join(argv))
        seconds.append(time.perf_counter() - start)
    return Samples(tuple(seconds))


def time_interpreter(runs: int) -> Samples:
    return time_command([sys.executable, "-c", "pass"], runs)


def time_imports(modules: Sequence[str], runs: int) -> tuple[Samples, Samples]:
    """Seconds to import ``modules`` (and load the lazy ones) in a fresh interpreter, per run.

    Returns the time measured around the imports inside each subprocess, and the wall time of the same
    subprocesses seen from here (startup and exit included).
    """
    inside, wall = [], []
    for _ in range(runs):
        start = time.perf_counter()
        done = _run([sys.executable, "-c", _IMPORTS_SCRIPT, json.dumps(list(modules))], "the import baseline")
        wall.append(time.perf_counter() - start)
        inside.append(float(done.stdout.strip().splitlines()[-1]))
    return Samples(tuple(inside)), Samples(tuple(wall))


def time_plans(
    workload: Sequence[tuple[str, int]],
    planner: str = DEFAULT_PLANNER,
    packages: Sequence[str] = PROVIDER_SDKS,
) -> PlansRun:
    """Plan every (stack, phase) of ``workload`` in a row in one fresh subprocess."""
    if not workload:
        raise BenchError("the plan workload is empty")
    with tempfile.TemporaryDirectory(prefix="pog-bench-") as tmp:
        out = Path(tmp) / "plans.json"
        argv = [
            sys.executable,
            "-c",
            _PLANS_SCRIPT,
            planner,
            json.dumps([list(item) for item in workload]),
            json.dumps(list(packages)),
            str(out),
        ]
        _run(argv, f"planning {len(workload)} stack x phase in one process")
        data = json.loads(out.read_text(encoding="utf-8"))
    return PlansRun(
        setup_s=data["setup"],
        plans=tuple(PlanTiming(**p) for p in data["plans"]),
        total_s=data["total"],
        loaded_subpackages=tuple(data["loaded"]),
    )


def end_to_end_command(stack: str = END_TO_END_STACK) -> list[str]:
    pog = Path(sys.executable).with_name("pog")
    if not pog.is_file():
        raise BenchError(f"{pog} not found: run scripts/bootstrap (or make setup) first")
    return [str(pog), "plan", stack, "--quiet"]


def run_benchmark(
    runs: int,
    plan_runs: int = 1,
    workload: Sequence[tuple[str, int]] = WORKLOAD,
    planner: str = DEFAULT_PLANNER,
    core: str = CORE_SDK,
    packages: Sequence[str] = PROVIDER_SDKS,
    command: Sequence[str] | None = None,
    progress: bool = True,
) -> Results:
    """Every measurement, in one run.

    The end-to-end runs go first: the first of them warms the file cache for everything the other
    measurements read. The plans run before the baseline, which imports the subpackages they loaded.
    """
    started = time.perf_counter()
    load_before = os.getloadavg()
    command = list(command) if command is not None else end_to_end_command()

    def say(message: str) -> None:
        if progress:
            print(f"bench: {message}", file=sys.stderr, flush=True)

    say(f"interpreter startup ({runs} runs)")
    interpreter = time_interpreter(runs)
    say(f"end to end: {' '.join([Path(command[0]).name, *command[1:]])} ({runs} runs)")
    end_to_end = time_command(command, runs)
    say(f"{len(workload)} plans in one process ({plan_runs} run(s))")
    plan_results = sorted((time_plans(workload, planner, packages) for _ in range(plan_runs)), key=_total)
    plans = plan_results[(len(plan_results) - 1) // 2]  # the median run (the lower one for an even count)
    modules = (core, *packages, *plans.loaded_subpackages)
    say(f"import baseline: {len(modules)} modules ({runs} runs)")
    imports, imports_wall = time_imports(modules, runs)
    return Results(
        runs=runs,
        python=platform.python_version(),
        cpus=os.cpu_count() or 0,
        load_before=tuple(round(x, 2) for x in load_before),
        load_after=tuple(round(x, 2) for x in os.getloadavg()),
        interpreter=interpreter,
        end_to_end_command=tuple(command),
        end_to_end=end_to_end,
        plans=plans,
        plan_runs=tuple(p.total_s for p in plan_results),
        import_modules=modules,
        imports=imports,
        imports_wall=imports_wall,
        wall_s=time.perf_counter() - started,
    )


def _total(run: PlansRun) -> float:
    return run.total_s


# --- report --------------------------------------------------------------------------------------------


def _verdict(value: float, limit: float) -> str:
    return "met" if value <= limit else "MISSED"


def _module_summary(modules: Sequence[str]) -> str:
    tops = [m for m in modules if "." not in m]
    subs: dict[str, list[str]] = {}
    for module in modules:
        package, dot, rest = module.partition(".")
        if dot:
            subs.setdefault(package, []).append(rest)
    parts = [", ".join(tops)]
    for package, names in subs.items():
        parts.append(f"{len(names)} {package} subpackages ({', '.join(names)})")
    return " + ".join(parts)


def _spread(samples: Samples) -> str:
    if len(samples.seconds) == 1:
        return "1 run"
    return f"median of {len(samples.seconds)}, {min(samples.seconds):.2f}-{max(samples.seconds):.2f}"


def format_report(results: Results) -> str:
    r = ratios(results)
    plans = results.plans
    imports = results.imports.median
    n = len(plans.plans)
    later = plans.later_plans_median_s
    plan_runs = Samples(results.plan_runs)
    command = " ".join([Path(results.end_to_end_command[0]).name, *results.end_to_end_command[1:]])

    def row(label: str, seconds: float, note: str = "") -> str:
        return f"{label:<46}{seconds:7.2f} s{'  ' + note if note else ''}"

    def ratio(label: str, formula: str, value: float, limit: float | None = None) -> str:
        verdict = f"   target <= {limit:.2f}: {_verdict(value, limit)}" if limit is not None else ""
        return f"  {label:<34}{formula + ' =':<32}{value:5.2f}{verdict}"

    lines = [
        f"Offline plan benchmark: Python {results.python}, {results.cpus} CPU(s), load average "
        f"{results.load_before[0]:.2f} before / {results.load_after[0]:.2f} after, "
        f"{results.wall_s:.0f} s in all",
        "",
        row("interpreter startup (python -c pass)", results.interpreter.median, _spread(results.interpreter)),
        row("import baseline (I)", imports, _spread(results.imports)),
        f"  {_module_summary(results.import_modules)}",
        row("  same subprocesses, wall time", results.imports_wall.median, _spread(results.imports_wall)),
        row("  interpreter exit after the imports", results.exit_after_imports_s, "wall - I - startup"),
        row(f"{n} plans in one process, imports included", plans.total_s, _spread(plan_runs)),
        row("  setup (import the plan engine)", plans.setup_s),
    ]
    for index, p in enumerate(plans.plans):
        label = f"  plan {p.stack} phase {p.phase} ({p.resources} resources)"
        lines.append(row(label, p.seconds, "first: pays the SDK imports" if index == 0 else ""))
    lines.append(row("  first plan with imports (setup + plan 1)", plans.first_plan_s))
    if later is not None:
        lines.append(row("  later plans, median", later))
    lines += [
        row(f"end to end: {command}", results.end_to_end.median, _spread(results.end_to_end)),
        row("  beyond startup + first plan", results.end_to_end_rest_s, "CLI imports, printing, exit"),
        "",
        "ratios (see bench/README.md for what each compares)",
        ratio(
            "one plan beyond imports / I",
            f"({plans.first_plan_s:.2f} - {imports:.2f}) / {imports:.2f}",
            r.one_plan_overhead,
            OVERHEAD_TARGET,
        ),
        ratio(
            f"{n} plans beyond imports / I",
            f"({plans.total_s:.2f} - {imports:.2f}) / {imports:.2f}",
            r.plans_overhead,
        ),
        ratio(
            "per plan beyond imports / I",
            f"({plans.total_s:.2f} - {imports:.2f}) / {n} / {imports:.2f}",
            r.per_plan_overhead,
            OVERHEAD_TARGET,
        ),
    ]
    if r.later_plan_ratio is not None and later is not None:
        lines.append(ratio("later plan / I", f"{later:.2f} / {imports:.2f}", r.later_plan_ratio))
    lines.append(
        ratio(
            f"end to end / {END_TO_END_TARGET_S:.0f} s target",
            f"{results.end_to_end.median:.2f} / {END_TO_END_TARGET_S:.2f}",
            r.end_to_end_ratio,
            1.0,
        )
    )
    return "\n".join(lines) + "\n"


def to_json(results: Results) -> dict[str, Any]:
    r = ratios(results)
    return {
        "python": results.python,
        "cpus": results.cpus,
        "runs": results.runs,
        "load_average": {"before": list(results.load_before), "after": list(results.load_after)},
        "wall_seconds": results.wall_s,
        "interpreter": results.interpreter.to_json(),
        "imports": {
            **results.imports.to_json(),
            "wall": results.imports_wall.to_json(),
            "exit_after_imports": results.exit_after_imports_s,
            "modules": list(results.import_modules),
        },
        "plans": {**results.plans.to_json(), "subprocess_totals": list(results.plan_runs)},
        "end_to_end": {
            **results.end_to_end.to_json(),
            "beyond_startup_and_first_plan": results.end_to_end_rest_s,
            "command": list(results.end_to_end_command),
        },
        "ratios": vars(r),
        "targets": {"overhead": OVERHEAD_TARGET, "end_to_end_seconds": END_TO_END_TARGET_S},
    }


# --- command line ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plan_bench",
        description="Time the offline plan against the import time of the provider SDKs (bench/README.md).",
    )
    parser.add_argument(
        "--runs",
        type=positive_int,
        default=5,
        help="fresh subprocesses per median: import baseline, end to end (default 5)",
    )
    parser.add_argument(
        "--plan-runs",
        type=positive_int,
        default=1,
        help="subprocesses planning every stack x phase; the median one is reported (default 1)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure here as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = run_benchmark(args.runs, args.plan_runs)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    print(format_report(results), end="")
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(to_json(results), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"bench: error: cannot write {args.json}: {exc.strerror}", file=sys.stderr)
            return 1
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
