"""`pog plan`: the first command a new user runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pog.cli import app

runner = CliRunner()


def test_plan_prints_the_tree_and_counts_of_dev() -> None:
    result = runner.invoke(app, ["plan", "dev"])

    assert result.exit_code == 0, result.output
    assert "pot-of-gold/dev phase 1" in result.output
    assert "potgold:data:Data pog-dev-data" in result.output
    assert "Resources per type" in result.output
    assert "gcp:firestore/database:Database" in result.output


def test_plan_writes_a_deterministic_inventory(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"

    assert (
        runner.invoke(app, ["plan", "prod", "--phase", "2", "--json", str(first), "--quiet"]).exit_code == 0
    )
    assert (
        runner.invoke(app, ["plan", "prod", "--phase", "2", "--json", str(second), "--quiet"]).exit_code == 0
    )

    assert first.read_bytes() == second.read_bytes()
    inventory = json.loads(first.read_text())
    assert (inventory["stack"], inventory["phase"]) == ("prod", 2)
    assert {"type", "name", "parent", "inputs"} <= set(inventory["resources"][0])
    assert "<secure " not in first.read_text()


def test_unknown_stack_is_one_line_without_traceback() -> None:
    result = runner.invoke(app, ["plan", "staging"])

    assert result.exit_code == 1
    assert "unknown stack 'staging': Pulumi.staging.yaml not found (stacks here: dev, prod)" in result.output
    assert "Traceback" not in result.output


def test_phase_out_of_range_is_refused() -> None:
    result = runner.invoke(app, ["plan", "dev", "--phase", "4"])

    assert result.exit_code == 1
    assert "--phase must be 1, 2 or 3; got 4" in result.output


def test_unwritable_inventory_path_is_reported(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "dev", "--quiet", "--json", str(tmp_path / "missing" / "x.json")])

    assert result.exit_code == 1
    assert "cannot write the inventory to" in result.output


def test_printed_plan_is_the_same_on_every_run() -> None:
    first = runner.invoke(app, ["plan", "prod", "--phase", "3"])
    second = runner.invoke(app, ["plan", "prod", "--phase", "3"])

    assert first.exit_code == second.exit_code == 0
    assert first.output == second.output


def test_console_entry_point_keeps_exit_codes_and_flushes_output() -> None:
    def pog(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from pog.cli import main; sys.argv[0] = 'pog'; main()"
        return subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
        )

    unknown = pog("plan", "staging")
    changes = pog("diff", "dev@1", "dev@2")

    assert unknown.returncode == 1
    assert "unknown stack 'staging'" in unknown.stderr
    assert changes.returncode == 2
    # The last line printed is there: nothing was lost by ending the process without teardown.
    # Since issue 19 the monthly cost comes last, each of its lines ending with a figure or a note.
    assert "~ phase: 1 -> 2\n" in changes.stdout
    assert "\nMonthly cost $" in changes.stdout
    assert changes.stdout.rstrip().endswith(")")
