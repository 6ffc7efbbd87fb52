"""scripts/ci/ops_job.py: a stack's ops job executed in each of its regions after ``pulumi up``."""

from __future__ import annotations

import json

import pytest

from scripts.ci import ops_job
from scripts.ci.github import Result, StepError
from tests.scripts.ci.fakes import FakeRunner

pytestmark = pytest.mark.unit

OPS_JOBS = json.dumps(
    {
        "realtime-rules": {"us-central1": "pog-prod-realtime-rules-us-central1"},
        "leaderboards-rebuild": {"us-central1": "a", "europe-west1": "b"},
    }
)


def test_the_job_is_executed_in_its_region_and_waited_for() -> None:
    runner = FakeRunner()
    ops_job.execute("realtime-rules", {"OPS_JOBS": OPS_JOBS}, runner)
    assert runner.calls == [
        [
            "gcloud",
            "run",
            "jobs",
            "execute",
            "pog-prod-realtime-rules-us-central1",
            "--region",
            "us-central1",
            "--wait",
        ]
    ]


def test_a_job_of_several_regions_runs_in_each() -> None:
    runner = FakeRunner()
    ops_job.execute("leaderboards-rebuild", {"OPS_JOBS": OPS_JOBS}, runner)
    assert [call[4:7] for call in runner.calls] == [
        ["b", "--region", "europe-west1"],
        ["a", "--region", "us-central1"],
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "OPS_JOBS is not the stack's opsJobs output"),
        ({"OPS_JOBS": "{"}, "OPS_JOBS is not the stack's opsJobs output"),
        (
            {"OPS_JOBS": json.dumps({"other": {"r": "n"}})},
            r"no ops job 'realtime-rules' \(opsJobs has: other\)",
        ),
        ({"OPS_JOBS": json.dumps({"realtime-rules": {}})}, "no ops job 'realtime-rules'"),
    ],
)
def test_a_missing_or_malformed_output_is_one_error_and_runs_nothing(
    env: dict[str, str], message: str
) -> None:
    runner = FakeRunner()
    with pytest.raises(StepError, match=message):
        ops_job.execute("realtime-rules", env, runner)
    assert runner.calls == []


def test_a_failed_execution_fails_the_step_with_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPS_JOBS", OPS_JOBS)
    assert ops_job.main(["realtime-rules"], FakeRunner(answers=[(["gcloud"], Result(1))])) == 1
    failed = "pog-prod-realtime-rules-us-central1 in us-central1 failed (exit 1): read its execution's logs"
    assert capsys.readouterr().err.strip().splitlines() == [f"::error::{failed}"]


def test_a_successful_execution_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_JOBS", OPS_JOBS)
    runner = FakeRunner()
    assert ops_job.main(["realtime-rules"], runner) == 0
    assert len(runner.calls) == 1
