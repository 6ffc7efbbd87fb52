"""scripts/ci/offline_report.py: ci.yml's plan, diff and check of every stack, as one Markdown report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pog.cli import app
from scripts.ci import offline_report
from scripts.ci.github import Result
from scripts.ci.offline_report import Files, Outcome
from tests.scripts.ci.fakes import FakeRunner

pytestmark = pytest.mark.unit

MARKER = "<!-- pog-offline-plan -->"


def test_the_stacks_are_the_stack_files(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.prod.yaml", "Pulumi.dev.yaml", "other.yaml"):
        (tmp_path / name).write_text("")
    assert offline_report.stacks(tmp_path) == ["dev", "prod"]
    assert offline_report.stacks() == ["dev", "prod"]  # this repository's


@pytest.mark.parametrize(
    ("event", "before", "exists", "base"),
    [
        ("pull_request", "", False, "origin/main"),
        ("push", "abc123", True, "abc123"),
        ("push", "abc123", False, "HEAD^"),  # a force push: the previous tip is gone
        ("push", "", False, "HEAD^"),
    ],
)
def test_the_diff_base(event: str, before: str, exists: bool, base: str) -> None:
    assert offline_report.diff_base(event, "main", before, exists) == base


def test_the_commands_write_where_the_report_reads(tmp_path: Path) -> None:
    files = Files(tmp_path, "prod")
    calls = offline_report.commands("prod", "origin/main", files)
    assert calls["plan"] == [
        ".venv/bin/pog",
        "plan",
        "prod",
        "--quiet",
        "--json",
        str(tmp_path / "prod.json"),
    ]
    assert calls["diff"][-2:] == ["--output", str(tmp_path / "prod.diff.md")]
    assert calls["diff"][3:5] == ["--base", "origin/main"]
    assert calls["check"] == [".venv/bin/pog", "check", "prod", "--format", "markdown"]


@pytest.mark.parametrize(
    ("rcs", "cells", "failed"),
    [
        ((0, 0, 0), ("ok", "no changes", "passed"), []),
        ((0, 2, 0), ("ok", "changes", "passed"), []),  # changes are not a failure
        ((1, 1, 1), ("**failed**", "**error**", "**failed**"), ["dev:plan", "dev:diff", "dev:check"]),
        ((0, 3, 0), ("ok", "**error**", "passed"), ["dev:diff"]),
    ],
)
def test_outcome_cells_and_failures(
    rcs: tuple[int, int, int], cells: tuple[str, ...], failed: list[str]
) -> None:
    outcome = Outcome("dev", *rcs)
    assert outcome.cells == cells
    assert outcome.failed == failed
    assert outcome.row == f"| `dev` | {' | '.join(cells)} |\n"


def _pog(rcs: dict[str, int]) -> FakeRunner:
    """pog as the report sees it: the diff writes its --output file, every command says which it is."""

    def answer(argv: list[str]) -> Result:
        name, stack = argv[1], argv[2]
        rc = rcs.get(f"{stack}:{name}", 0)
        if name == "diff" and rc in (0, 2):
            Path(argv[argv.index("--output") + 1]).write_text(f"### diff of {stack}\n")
        return Result(rc, f"{name} {stack} out\n", f"{name} {stack} err\n" if rc not in (0, 2) else "")

    return FakeRunner([([".venv/bin/pog"], answer), (["git", "cat-file"], Result(0))])


def test_one_stack_runs_all_three_whatever_each_gives(tmp_path: Path) -> None:
    runner = _pog({"dev:plan": 1, "dev:diff": 1})
    outcome = offline_report.run_stack("dev", "origin/main", tmp_path, runner)
    assert outcome == Outcome("dev", 1, 1, 0)
    assert [c[1] for c in runner.calls] == ["plan", "diff", "check"]
    assert runner.flags[0] == (True, True), "the plan's stderr goes into its text"
    assert (tmp_path / "dev.plan.txt").read_text() == "plan dev out\n"
    assert (tmp_path / "dev.check.md").read_text() == "check dev out\n"
    assert (tmp_path / "dev.diff.err").read_text() == "diff dev err\n"


def test_the_section_shows_the_diff_or_why_it_failed(tmp_path: Path) -> None:
    offline_report.run_stack("dev", "b", tmp_path, _pog({"dev:diff": 2}))
    ok = offline_report.section(Outcome("dev", 0, 2, 0), tmp_path)
    assert ok.startswith("\n## `dev`\n\n<details><summary>Plan (ok): resources per component and type")
    assert "```text\nplan dev out\n```\n\n</details>\n\n### diff of dev\n" in ok
    assert ok.endswith("\ncheck dev out\n")
    offline_report.run_stack("prod", "b", tmp_path, _pog({"prod:diff": 1, "prod:check": 1}))
    (tmp_path / "prod.check.md").write_text("")
    failed = offline_report.section(Outcome("prod", 0, 1, 1), tmp_path)
    assert "### `pog diff` failed (exit 1)\n\n```text\ndiff prod err\n```\n" in failed
    assert "### `pog check`: exit 1, no report\n\n```text\ncheck prod err\n```\n" in failed


def test_the_report_starts_with_the_marker_and_lists_every_stack(tmp_path: Path) -> None:
    runner = _pog({})
    outcomes = [offline_report.run_stack(s, "origin/main", tmp_path, runner) for s in ("dev", "prod")]
    text = offline_report.report(MARKER, "0123456789abcdef", "origin/main", outcomes, tmp_path)
    assert text.startswith(f"{MARKER}\n## Offline plan, diff and policy check\n\n")
    assert "Commit `0123456` against `origin/main`" in text
    assert "| `dev` | ok | no changes | passed |\n| `prod` | ok | no changes | passed |\n" in text
    assert text.index("## `dev`") < text.index("## `prod`")


def test_a_long_report_is_cut_for_the_comment_only() -> None:
    text = "é" * 40_000  # 80,000 bytes: the limit is in bytes, and a character is never cut in two
    body = offline_report.comment_body(text)
    assert body.endswith(offline_report.TRUNCATED)
    assert len(body.removesuffix(offline_report.TRUNCATED).encode()) == offline_report.COMMENT_LIMIT
    assert offline_report.comment_body("short") == "short"


def test_main_writes_the_report_the_comment_the_summary_and_the_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = tmp_path / "plan-out"
    runner = _pog({"prod:check": 1, "dev:diff": 2})
    argv = [
        "--out",
        str(out),
        "--marker",
        MARKER,
        "--event",
        "push",
        "--before",
        "abc",
        "--head-sha",
        "f" * 40,
    ]
    assert offline_report.main(argv, runner) == 0, "the step never fails: a later one does, after the comment"
    report = (out / "report.md").read_text()
    assert report.startswith(MARKER)
    assert (out / "comment.md").read_text() == report
    assert summary.read_text() == report
    assert output.read_text() == "failed=prod:check\n"
    assert runner.called("git", "cat-file", "-e", "abc^{commit}")
    assert "against `abc`" in report
    assert len(runner.called(".venv/bin/pog")) == 6


def test_the_pull_request_comment_carries_the_monthly_cost(tmp_path: Path) -> None:
    """The diff the report embeds is the real `pog diff` with the report's options: its money section
    (issue 19) reaches the comment. Two inventory files stand in for the stack and its base."""

    def service(memory: str) -> dict[str, object]:
        limits = {"cpu": "1", "memory": memory}
        containers = [{"image": "api:1", "resources": {"limits": limits}}]
        # One instance always up: beyond the free tier, so its memory shows in the bill.
        template = {"containers": containers, "scaling": {"minInstanceCount": 1}}
        return {
            "type": "gcp:cloudrunv2/service:Service",
            "name": "pog-dev-api-us-central1",
            "parent": "potgold:compute:Compute::pog-dev-compute",
            "inputs": {"template": template},
        }

    sides = []
    for label, memory in (("base", "512Mi"), ("head", "2Gi")):
        path = tmp_path / f"{label}.json"
        inventory = {"stack": "dev", "phase": 1, "outputs": {}, "resources": [service(memory)]}
        path.write_text(json.dumps(inventory))
        sides.append(str(path))

    def real_diff(argv: list[str]) -> Result:
        options = argv[argv.index("--format") :]  # what the report asks for: markdown, into its file
        result = CliRunner().invoke(app, ["diff", *sides, *options])
        return Result(result.exit_code, result.output, "")

    runner = FakeRunner([([".venv/bin/pog", "diff"], real_diff), ([".venv/bin/pog"], Result(0))])
    outcome = offline_report.run_stack("dev", "origin/main", tmp_path, runner)
    section = offline_report.section(outcome, tmp_path)

    assert outcome.diff_rc == 2
    assert "#### Monthly cost" in section
    assert "| ~ | `gcp:cloudrunv2/service:Service` | `pog-dev-api-us-central1` |" in section
    assert "| | **Total** |" in section
