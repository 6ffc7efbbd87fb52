"""scripts/ci/promote.py: promote.yml's `pog promote --write`, its report kept whatever pog says."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.ci import promote
from scripts.ci.github import Result
from tests.scripts.ci.fakes import FakeRunner

pytestmark = pytest.mark.unit

POG = ".venv/bin/pog"


def test_the_phase_is_passed_only_when_given() -> None:
    assert promote.command("dev", "prod", "") == [
        POG, "promote", "--from", "dev", "--to", "prod", "--write", "--format", "markdown"
    ]  # fmt: skip
    assert promote.command("dev", "prod", "3")[6:8] == ["--phase", "3"]


@pytest.mark.parametrize("phase", ["0", "4", "1 ", "2; rm -rf /", "one"])
def test_a_phase_out_of_range_is_refused(phase: str) -> None:
    with pytest.raises(ValueError, match="phase must be 1, 2 or 3"):
        promote.command("dev", "prod", phase)


def test_never_with_allow_data_loss() -> None:
    assert all("--allow-data-loss" not in promote.command("dev", "prod", p) for p in ("", "1", "2", "3"))


@pytest.mark.parametrize("rc", [0, 1])
def test_the_report_is_kept_and_summarised_whatever_pog_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rc: int
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report = tmp_path / "promote-out" / "report.md"
    runner = FakeRunner([([POG, "promote"], Result(rc, "## Promote prod\n", "refused\n" if rc else ""))])
    argv = ["--from", "dev", "--to", "prod", "--phase", "", "--report", str(report)]
    assert promote.main(argv, runner) == rc
    assert report.read_text() == "## Promote prod\n"
    assert summary.read_text() == "## Promote prod\n"
    assert runner.calls == [promote.command("dev", "prod", "")]


def test_a_bad_phase_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runner = FakeRunner()
    argv = ["--from", "dev", "--to", "prod", "--phase", "7", "--report", str(tmp_path / "r.md")]
    assert promote.main(argv, runner) == 1
    assert runner.calls == []
    assert capsys.readouterr().err == "::error::phase must be 1, 2 or 3 (or empty); got 7\n"
