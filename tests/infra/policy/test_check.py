"""`pog check`: the engine (check_stack, check_inventory) and the command through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import infra.policy.check as check_module
from infra.policy import tokens as t
from infra.policy.check import CheckReport, check_inventory, check_stack
from infra.policy.model import Severity
from pog.cli import app

from .helpers import entry, inventory_for, real_context

runner = CliRunner()
ALL = [(stack, phase) for stack in ("dev", "prod") for phase in (1, 2, 3)]


@pytest.mark.parametrize(("stack", "phase"), ALL, ids=[f"{s}-p{p}" for s, p in ALL])
def test_the_program_passes_every_rule(stack: str, phase: int) -> None:
    result = runner.invoke(app, ["check", stack, "--phase", str(phase)])

    assert result.exit_code == 0, result.output
    assert f"PASS: no violations; {len(check_module.ALL_RULES)} rules on" in result.output
    assert "Disaster recovery" in result.output


def test_check_stack_is_what_promote_calls() -> None:
    report = check_stack("prod")

    assert isinstance(report, CheckReport)
    assert (report.stack, report.environment, report.phase) == ("prod", "prod", 1)
    assert report.rules_run == len(check_module.ALL_RULES)
    assert report.dr.enforced
    assert report.dr.rpo_seconds == 60
    assert report.passed == (not report.violations)


def broken_prod() -> CheckReport:
    """prod's real plan with one bucket made public-prone and Cloud Run opened to the internet."""
    inventory = inventory_for("prod", 1)
    entry(inventory, t.BUCKET, "pog-prod-firestore-exports")["inputs"]["publicAccessPrevention"] = "inherited"
    return check_inventory(inventory, real_context("prod", 1))


def test_a_real_violation_is_reported() -> None:
    report = broken_prod()
    ids = {v.rule_id for v in report.violations}

    assert "POG-GCS-001" in ids
    assert not report.passed
    assert report.failing(Severity.CRITICAL)
    assert report.violations[0].severity is Severity.CRITICAL  # most severe first


def test_a_real_violation_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    report = broken_prod()
    monkeypatch.setattr(check_module, "check_stack", lambda stack, phase=None: report)

    result = runner.invoke(app, ["check", "prod"])

    assert result.exit_code == 1
    assert "POG-GCS-001" in result.output
    assert "pog-prod-firestore-exports" in result.output
    assert "FAIL:" in result.output


def test_fail_on_sets_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = inventory_for("prod", 1)
    entry(inventory, t.BACKEND_SERVICE, "pog-prod-api-backend")["inputs"]["logConfig"] = {"enable": False}
    report = check_inventory(inventory, real_context("prod", 1))
    assert {v.severity for v in report.violations if v.rule_id == "POG-LB-004"} == {Severity.LOW}
    monkeypatch.setattr(check_module, "check_stack", lambda stack, phase=None: report)

    lenient = runner.invoke(app, ["check", "prod", "--fail-on", "critical"])
    strict = runner.invoke(app, ["check", "prod"])

    worst = max(v.severity.rank for v in report.violations)
    assert lenient.exit_code == (1 if worst == Severity.CRITICAL.rank else 0)
    assert strict.exit_code == 1


def test_json_and_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    report = broken_prod()
    monkeypatch.setattr(check_module, "check_stack", lambda stack, phase=None: report)

    as_json = runner.invoke(app, ["check", "prod", "--format", "json"])
    data = json.loads(as_json.stdout)
    assert as_json.exit_code == 1
    assert data["passed"] is False
    assert data["fail_on"] == "low"
    assert {"rule", "severity", "resource", "message", "remediation", "checkov"} <= set(data["violations"][0])
    assert data["dr"]["rpo_seconds"] == 60
    assert data["dr"]["enforced"] is True

    as_markdown = runner.invoke(app, ["check", "prod", "--format", "markdown"])
    assert "| Rule | Severity | Resource | Message | Remediation |" in as_markdown.stdout
    assert "| POG-GCS-001 (CKV_GCP_114) | critical |" in as_markdown.stdout
    assert "#### Disaster recovery" in as_markdown.stdout


def test_dev_dr_figures_are_informational() -> None:
    result = runner.invoke(app, ["check", "dev", "--format", "markdown"])

    assert "#### Disaster recovery (informational for dev)" in result.stdout


def test_unknown_stack_is_one_line_without_traceback() -> None:
    result = runner.invoke(app, ["check", "staging"])

    assert result.exit_code == 1
    assert "unknown stack 'staging': Pulumi.staging.yaml not found (stacks here: dev, prod)" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "dev", "--phase", "4"], "--phase must be 1, 2 or 3; got 4"),
        (["check", "dev", "--format", "html"], "--format must be text, json or markdown; got 'html'"),
        (
            ["check", "dev", "--fail-on", "urgent"],
            "--fail-on must be critical, high, medium or low; got 'urgent'",
        ),
    ],
)
def test_user_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
