"""Smoke tests of the benchmark: its plumbing and report on a tiny workload, never its timings."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import plan_bench
from bench.plan_bench import BenchError, PlansRun, PlanTiming, Results, Samples

HERE = __name__
FAKE_PLANNER = f"{HERE}:fake_plan"


def fake_plan(stack: str, phase: int) -> tuple[SimpleNamespace, int]:
    """Stands in for plan_stack in the plans subprocess: loads a subpackage, as the program loads SDK ones."""
    importlib.import_module("email.mime.text")
    return SimpleNamespace(resources=[stack] * phase), phase


def failing_plan(stack: str, phase: int) -> None:
    raise RuntimeError(f"cannot plan {stack} at phase {phase}")


def _finite(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value >= 0


def test_a_tiny_workload_measures_and_reports_every_figure() -> None:
    results = plan_bench.run_benchmark(
        runs=1,
        workload=[("alpha", 1), ("beta", 2)],
        planner=FAKE_PLANNER,
        core="decimal",
        packages=("email",),
        command=[sys.executable, "-c", "pass"],
        progress=False,
    )

    assert [(p.stack, p.phase, p.resources) for p in results.plans.plans] == [("alpha", 1, 1), ("beta", 2, 2)]
    assert "email.mime" in results.plans.loaded_subpackages
    # The baseline imports the core SDK, the packages, then what the plans loaded of them.
    assert results.import_modules[:2] == ("decimal", "email")
    assert set(results.import_modules[2:]) == set(results.plans.loaded_subpackages)
    for samples in (results.interpreter, results.imports, results.imports_wall, results.end_to_end):
        assert len(samples.seconds) == 1
        assert all(_finite(s) for s in samples.seconds)
    assert len(results.plan_runs) == 1
    assert all(_finite(x) for x in (results.plans.setup_s, results.plans.total_s, results.plans.first_plan_s))

    report = plan_bench.format_report(results)
    for label in (
        "import baseline (I)",
        "2 plans in one process, imports included",
        "plan alpha phase 1 (1 resources)",
        "first plan with imports (setup + plan 1)",
        "later plans, median",
        "one plan beyond imports / I",
        "per plan beyond imports / I",
        "end to end / 5 s target",
        "decimal, email + ",
    ):
        assert label in report, f"{label!r} missing from the report:\n{report}"

    figures = json.loads(json.dumps(plan_bench.to_json(results)))
    assert set(figures) >= {"interpreter", "imports", "plans", "end_to_end", "ratios", "targets"}
    assert set(figures["ratios"]) == {
        "one_plan_overhead",
        "plans_overhead",
        "per_plan_overhead",
        "later_plan_ratio",
        "end_to_end_ratio",
    }
    assert [p["stack"] for p in figures["plans"]["plans"]] == ["alpha", "beta"]


def test_a_failing_plan_is_a_one_line_error_not_a_figure() -> None:
    with pytest.raises(BenchError, match=r"failed with exit code 1: .*cannot plan alpha at phase 1"):
        plan_bench.time_plans([("alpha", 1)], planner=f"{HERE}:failing_plan", packages=())


def test_an_empty_workload_is_refused() -> None:
    with pytest.raises(BenchError, match="empty"):
        plan_bench.time_plans([])


def test_arguments() -> None:
    defaults = plan_bench.parse_args([])
    assert (defaults.runs, defaults.plan_runs, defaults.json) == (5, 1, None)
    given = plan_bench.parse_args(["--runs", "1", "--plan-runs", "3", "--json", "out.json"])
    assert (given.runs, given.plan_runs, given.json) == (1, 3, Path("out.json"))
    for bad in (["--runs", "0"], ["--runs", "many"], ["--plan-runs", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            plan_bench.parse_args(bad)
        assert exit_info.value.code == 2


def _canned() -> Results:
    plans = PlansRun(
        setup_s=0.5,
        plans=(
            PlanTiming("dev", 1, 100, 2.0),
            PlanTiming("dev", 2, 120, 1.0),
            PlanTiming("prod", 1, 90, 1.5),
        ),
        total_s=5.0,
        loaded_subpackages=("pulumi_gcp.compute",),
    )
    return Results(
        runs=1,
        python="3.11.0",
        cpus=2,
        load_before=(0.5, 0.5, 0.5),
        load_after=(1.0, 1.0, 1.0),
        interpreter=Samples((0.1,)),
        end_to_end_command=("/venv/bin/pog", "plan", "dev", "--quiet"),
        end_to_end=Samples((4.0, 6.0, 5.5)),
        plans=plans,
        plan_runs=(5.0,),
        import_modules=("pulumi", "pulumi_gcp", "pulumi_gcp.compute"),
        imports=Samples((2.0,)),
        imports_wall=Samples((3.0,)),
        wall_s=30.0,
    )


def test_ratios_compare_what_the_readme_says() -> None:
    results = _canned()
    r = plan_bench.ratios(results)
    assert r.one_plan_overhead == pytest.approx((0.5 + 2.0 - 2.0) / 2.0)
    assert r.plans_overhead == pytest.approx((5.0 - 2.0) / 2.0)
    assert r.per_plan_overhead == pytest.approx((5.0 - 2.0) / 3 / 2.0)
    assert r.later_plan_ratio == pytest.approx(1.25 / 2.0)
    assert r.end_to_end_ratio == pytest.approx(5.5 / 5.0)
    assert results.exit_after_imports_s == pytest.approx(3.0 - 2.0 - 0.1)
    assert results.end_to_end_rest_s == pytest.approx(5.5 - 0.1 - 2.5)
    report = plan_bench.format_report(results)
    assert "target <= 0.50: met" in report
    assert "target <= 1.00: MISSED" in report
    assert "end to end: pog plan dev --quiet" in report


def test_main_prints_the_report_and_writes_the_figures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[int, int]] = []

    def run(runs: int, plan_runs: int) -> Results:
        calls.append((runs, plan_runs))
        return _canned()

    monkeypatch.setattr(plan_bench, "run_benchmark", run)
    out = tmp_path / "figures.json"
    assert plan_bench.main(["--runs", "1", "--json", str(out)]) == 0
    assert calls == [(1, 1)]
    assert "one plan beyond imports / I" in capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert figures["ratios"]["per_plan_overhead"] == pytest.approx(0.5)
    assert figures["imports"]["modules"] == ["pulumi", "pulumi_gcp", "pulumi_gcp.compute"]


def test_main_reports_a_failed_measurement(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(runs: int, plan_runs: int) -> Results:
        raise BenchError("pog plan failed")

    monkeypatch.setattr(plan_bench, "run_benchmark", run)
    assert plan_bench.main([]) == 1
    assert "bench: error: pog plan failed" in capsys.readouterr().err


def test_the_default_workload_is_every_stack_at_every_phase() -> None:
    from infra.phases import PHASES
    from infra.plan import runner
    from infra.plan.stackfile import available_stacks

    assert sorted(plan_bench.WORKLOAD) == sorted((s, p) for s in available_stacks() for p in PHASES)
    module, _, name = plan_bench.DEFAULT_PLANNER.partition(":")
    assert getattr(importlib.import_module(module), name) is runner.plan_stack
    command = plan_bench.end_to_end_command()
    assert command[1:] == ["plan", "dev", "--quiet"]
    assert Path(command[0]).is_file()
