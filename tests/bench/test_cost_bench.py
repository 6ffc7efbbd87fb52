"""Smoke tests of the cost benchmark: its plumbing and report on a tiny workload, never its timings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench import cost_bench
from bench.cost_bench import BenchError


def quick(stack: str, phase: int) -> tuple[list[str], list[str]]:
    """Stands in for pog plan and pog cost: two trivial interpreters."""
    return [sys.executable, "-c", "pass"], [sys.executable, "-c", f"print('{stack} {phase}')"]


def test_a_tiny_run_measures_both_commands_and_reports_the_ratio() -> None:
    results = cost_bench.run_benchmark(
        runs=1, workload=[("alpha", 1), ("beta", 2)], commands=quick, progress=False
    )

    assert [(p.stack, p.phase, len(p.plan_s), len(p.cost_s)) for p in results.pairs] == [
        ("alpha", 1, 1, 1),
        ("beta", 2, 1, 1),
    ]
    assert results.ratio == pytest.approx(results.cost_total / results.plan_total)
    report = cost_bench.format_report(results)
    assert "alpha phase 1" in report
    assert "pog cost / pog plan = " in report
    assert "target <= 2.00" in report
    figures = json.loads(json.dumps(results.to_json()))
    assert {"pairs", "plan_total", "cost_total", "ratio", "target"} <= set(figures)


def test_a_failing_command_is_a_one_line_error() -> None:
    def failing(stack: str, phase: int) -> tuple[list[str], list[str]]:
        return [sys.executable, "-c", "import sys; sys.exit('no plan')"], [sys.executable, "-c", "pass"]

    with pytest.raises(BenchError, match="failed with exit code 1: no plan"):
        cost_bench.run_benchmark(runs=1, workload=[("alpha", 1)], commands=failing, progress=False)


def test_the_default_workload_and_commands() -> None:
    from infra.phases import PHASES
    from infra.plan.stackfile import available_stacks

    assert sorted(cost_bench.WORKLOAD) == sorted((s, p) for s in available_stacks() for p in PHASES)
    plan, cost = cost_bench.pog_commands("prod", 2)
    assert plan[1:] == ["plan", "prod", "--phase", "2", "--quiet"]
    assert cost[1:] == ["cost", "prod", "--phase", "2", "--json", "-"]
    assert Path(plan[0]).is_file()


def test_arguments_and_main(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cost_bench.parse_args([]).runs == 3
    with pytest.raises(SystemExit):
        cost_bench.parse_args(["--runs", "0"])
    tiny = cost_bench.run_benchmark(runs=1, workload=[("alpha", 1)], commands=quick, progress=False)
    monkeypatch.setattr(cost_bench, "run_benchmark", lambda runs: tiny)
    out = tmp_path / "cost.json"

    assert cost_bench.main(["--runs", "1", "--json", str(out)]) == 0

    assert "pog cost / pog plan" in capsys.readouterr().out
    assert json.loads(out.read_text())["ratio"] == pytest.approx(tiny.ratio)
