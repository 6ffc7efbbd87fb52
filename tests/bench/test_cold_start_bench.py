"""Smoke tests of the cold start benchmark: one fresh interpreter per workload, its report's shape, never
its timings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import cold_start_bench
from bench.cold_start_bench import BenchError, Figures, Sample


def _finite(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_one_run_measures_both_workloads_and_reports_the_ratios() -> None:
    figures = cold_start_bench.run_benchmark(1, ("baseline", "app"), warm_up=False)

    assert sorted(figures) == ["app", "baseline"]
    for name in ("baseline", "app"):
        assert len(figures[name].samples) == 1
        sample = figures[name].samples[0]
        assert _finite(sample.seconds)
        assert _finite(sample.wall_s)
        assert _finite(sample.maxrss_mib)
        assert sample.wall_s >= sample.seconds
        assert sample.modules > 0
    assert figures["app"].samples[0].modules > figures["baseline"].samples[0].modules
    assert sorted(cold_start_bench.ratios(figures)) == ["in_process", "peak_rss", "wall"]
    report = cold_start_bench.format_report(figures)
    for line in ("baseline", "app / baseline, in process", "app / baseline, wall", "heavy libraries"):
        assert line in report
    assert "target <= 2" in report


def _figures(seconds: float) -> dict[str, Figures]:
    def sample(s: float) -> Sample:
        return Sample(seconds=s, wall_s=s + 0.05, maxrss_mib=40.0 * s, modules=500, heavy=("stripe",))

    return {
        "baseline": Figures("baseline", [sample(0.4)]),
        "app": Figures("app", [sample(seconds)]),
        "ready": Figures("ready", [sample(seconds * 2)]),
    }


@pytest.mark.parametrize(("seconds", "verdict"), [(0.6, "met"), (1.2, "MISSED")])
def test_the_verdict_compares_the_ratio_with_the_target(seconds: float, verdict: str) -> None:
    report = cold_start_bench.format_report(_figures(seconds))
    in_process = next(line for line in report.splitlines() if "in process" in line)
    assert in_process.endswith(f"{verdict})")
    assert "ready wall" in report
    assert "(context)" in report


def test_json_has_every_figure_and_ratio(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cold_start_bench, "run_benchmark", lambda runs, workloads: _figures(0.6))
    out = tmp_path / "cold.json"

    assert cold_start_bench.main(["--runs", "1", "--json", str(out)]) == 0

    data = json.loads(out.read_text())
    assert data["target"] == 2.0
    assert sorted(data["figures"]) == ["app", "baseline", "ready"]
    assert data["figures"]["app"]["heavy_loaded"] == ["stripe"]
    assert data["ratios"]["in_process"] == pytest.approx(1.5)


def test_a_failing_workload_is_one_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cold_start_bench.WORKLOADS, "app", "raise SystemExit('no app here')")
    with pytest.raises(BenchError, match="the app subprocess failed \\(exit 1\\): no app here"):
        cold_start_bench.measure("app")


@pytest.mark.parametrize("runs", ["0", "x"])
def test_runs_must_be_a_positive_whole_number(runs: str) -> None:
    with pytest.raises(SystemExit):
        cold_start_bench.parse_args(["--runs", runs])
