"""`pog backup` commands through typer's CliRunner: what they write, and one clear line per mistake."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from backups.emulator import MANIFEST, METADATA_SUFFIX
from backups.targets import Target
from backups.verify import take_inventory, verify
from pog.cli import app
from pog.stacks import snapshot_defaults
from scripts.services import free_port
from tests.backups.conftest import PROJECT, SMALL

runner = CliRunner()
SUBCOMMANDS = ("export", "restore", "verify", "drill", "snapshot")


def pog(*args: str, emulator: str | None = None, **env: str | None) -> Result:
    """``pog backup ARGS`` with FIRESTORE_EMULATOR_HOST set to ``emulator`` (unset when None)."""
    environment = {"FIRESTORE_EMULATOR_HOST": emulator, "POG_FIREBASE_PROJECT_ID": None, **env}
    return runner.invoke(app, ["backup", *args], env=environment)


def one_error_line(result: Result, expected: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize("command", ["", *SUBCOMMANDS])
def test_every_subcommand_has_help(command: str) -> None:
    result = runner.invoke(app, ["backup", *([command] if command else []), "--help"])

    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    if not command:
        assert all(name in result.output for name in SUBCOMMANDS)


def test_pog_plan_does_not_load_the_firestore_clients() -> None:
    code = "import sys, pog.cli; print(sorted(m for m in sys.modules if 'firestore' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- export, restore, verify on the emulator --------------------------------------------------------------


def test_export_restore_verify_round_trip(small_source: Target, empty_emulator: str, tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exported = pog("export", "--project", PROJECT, "--to", str(exports), emulator=small_source.emulator)

    assert exported.exit_code == 0, exported.output
    folders = list(exports.iterdir())
    assert len(folders) == 1
    folder = folders[0]
    assert folder.name.startswith("default-")
    assert f"to {folder}" in exported.output.replace("\n", "")
    assert (folder / f"{folder.name}{METADATA_SUFFIX}").is_file()
    assert json.loads((folder / MANIFEST).read_text())["database"] == "(default)"

    restored = pog(
        "restore", "--project", PROJECT, "--from", str(folder), "-d", "(default)", emulator=empty_emulator
    )

    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.output
    copy = Target(PROJECT, "(default)", empty_emulator)
    assert take_inventory(copy).documents == SMALL

    checked = pog(
        "verify", "--project", PROJECT, "--copy", "(default)",
        "--source-emulator", str(small_source.emulator), emulator=empty_emulator,
    )  # fmt: skip

    assert checked.exit_code == 0, checked.output
    assert f"identical: {SMALL} documents" in checked.output


def test_a_named_database_restores_into_a_fresh_emulator_under_its_own_id(
    small_source: Target, empty_emulator: str, tmp_path: Path
) -> None:
    named = Target(PROJECT, "games-eu", small_source.emulator)
    exports = tmp_path / "exports"
    exported = pog(
        "export", "--project", PROJECT, "-d", "games-eu", "--to", str(exports), emulator=named.emulator
    )
    assert exported.exit_code == 0, exported.output
    folder = next(exports.iterdir())

    into_other_id = pog(
        "restore", "--project", PROJECT, "--from", str(folder), "-d", "(default)", emulator=empty_emulator
    )
    one_error_line(into_other_id, "this export is of database 'games-eu': the emulator imports it only into")

    restored = pog(
        "restore", "--project", PROJECT, "--from", str(folder), "-d", "games-eu", emulator=empty_emulator
    )
    assert restored.exit_code == 0, restored.output
    assert verify(named, Target(PROJECT, "games-eu", empty_emulator)).identical


def test_drill_with_seed_starts_and_stops_its_own_emulators(tmp_path: Path) -> None:
    result = pog("drill", "--seed", "30", "--json", str(tmp_path / "d.json"))

    assert result.exit_code == 0, result.output
    figures = json.loads((tmp_path / "d.json").read_text())
    assert (figures["documents"], figures["identical"]) == (30, True)
    assert figures["seed_s"] > 0
    assert figures["export_path"] is None  # the temporary directory was removed


# --- mistakes: one line, exit 1 ----------------------------------------------------------------------------


def test_export_mistakes(small_source: Target, tmp_path: Path) -> None:
    host = small_source.emulator
    out = str(tmp_path / "out")
    one_error_line(pog("export", "--to", out, "-d", "Games_EU", emulator=host), "bad database id 'Games_EU'")
    one_error_line(
        pog("export", "--project", PROJECT, "--to", out, "-d", "no-such-db", emulator=host),
        "nothing to export: database 'no-such-db' of project 'demo-pog-backups'",
    )
    one_error_line(
        pog("export", "--to", "gs://bucket/x", emulator=host),
        "the emulator writes exports to a local directory",
    )
    one_error_line(
        pog("export", "--to", out, "--collection", "users", emulator=host),
        "the emulator exports whole databases",
    )
    one_error_line(pog("export", "--to", out, emulator="localhost"), "bad emulator address 'localhost'")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_gcp_mistakes_are_caught_before_any_call(tmp_path: Path) -> None:
    one_error_line(
        pog("export", "--to", "gs://b/x"), "project 'demo-pot-of-gold' is an emulator-only demo project"
    )
    for uri in ("s3://bucket/x", "gs://B/x", "gs://a", "gs://bucket..x/y", str(tmp_path)):
        one_error_line(pog("export", "--project", "pot-of-gold-prod", "--to", uri), f"bad bucket URI {uri!r}")
    one_error_line(
        pog("export", "--project", "pot-of-gold-prod", "--to", "gs://bucket", "--collection", "users/u1"),
        "bad collection id 'users/u1'",
    )
    one_error_line(
        pog("restore", "--project", "pot-of-gold-prod", "--from", str(tmp_path), "-d", "restored"),
        "bad restore source",
    )
    one_error_line(
        pog("restore", "--project", "pot-of-gold-prod", "-d", "restored", "-c", "users",
            "--from", "projects/p/locations/nam5/backups/b1"),
        "a backup restores a whole database",
    )  # fmt: skip


def test_missing_emulator_is_one_line() -> None:
    nobody = f"127.0.0.1:{free_port()}"
    message = f"no Firestore emulator answers at {nobody}"
    one_error_line(pog("export", "--to", "/tmp/x", emulator=nobody), message)
    one_error_line(pog("verify", "--copy", "restored", emulator=nobody), message)
    one_error_line(pog("drill"), "no emulator to drill: set FIRESTORE_EMULATOR_HOST")


def test_restore_mistakes(small_source: Target, tmp_path: Path) -> None:
    host = small_source.emulator
    one_error_line(
        pog("restore", "--from", str(tmp_path / "nope"), "-d", "restored", emulator=host), "no export at"
    )
    one_error_line(
        pog("restore", "--from", str(tmp_path), "-d", "restored", emulator=host),
        "no *.overall_export_metadata",
    )
    one_error_line(
        pog("restore", "--from", "gs://bucket/x", "-d", "restored", emulator=host),
        "the emulator restores local exports only",
    )
    one_error_line(pog("restore", "--from", str(tmp_path), "-d", "(other)", emulator=host), "bad database id")


def test_restore_into_the_non_empty_source_is_refused(small_source: Target, tmp_path: Path) -> None:
    assert (
        pog("export", "--project", PROJECT, "--to", str(tmp_path), emulator=small_source.emulator).exit_code
        == 0
    )
    before = take_inventory(small_source)

    result = pog(
        "restore", "--project", PROJECT, "--from", str(next(tmp_path.iterdir())), "-d", "(default)",
        emulator=small_source.emulator,
    )  # fmt: skip

    one_error_line(result, f"refused: database '(default)' of project '{PROJECT}' on the emulator")
    assert take_inventory(small_source).collections == before.collections


def test_verify_mistakes(small_source: Target) -> None:
    host = small_source.emulator
    one_error_line(
        pog("verify", "--project", PROJECT, "--copy", "(default)", emulator=host),
        "--source and --copy are the same database",
    )
    one_error_line(
        pog("verify", "--project", PROJECT, "--source", "empty-db", "--copy", "games-eu", emulator=host),
        "database 'empty-db' of project 'demo-pog-backups' on the emulator at",
    )
    result = pog("verify", "--project", PROJECT, "--copy", "games-eu", emulator=host)
    assert result.exit_code == 1  # different data: every document differs
    assert "error: games-eu differs from (default)" in result.output


def test_drill_mistakes(tmp_path: Path) -> None:
    one_error_line(pog("drill", "--seed", "5"), "--seed needs at least 10 documents; got 5")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    one_error_line(
        pog("drill", "--seed", "10", "--workdir", str(tmp_path / "used")), "is not empty: give a new or empty"
    )
    one_error_line(pog("drill", "--seed", "10", "-d", "BAD"), "bad database id 'BAD'")


# --- snapshot ----------------------------------------------------------------------------------------------


def test_snapshot_without_the_pulumi_cli_fails_clearly_and_writes_nothing(
    small_source: Target, tmp_path: Path
) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    out = tmp_path / "snapshots"

    result = pog(
        "snapshot", "--stack", "prod", "--to", str(out), emulator=small_source.emulator, PATH=str(empty_path)
    )

    one_error_line(result, "the Pulumi CLI is not on PATH: install it and `pulumi login`")
    assert not out.exists()
    # On GCP (the stack's project and bucket) too, before any call to Google.
    on_gcp = pog("snapshot", "--stack", "prod", PATH=str(empty_path))
    one_error_line(on_gcp, "the Pulumi CLI is not on PATH")


def test_snapshot_defaults_come_from_the_stack_file(small_source: Target) -> None:
    assert snapshot_defaults("prod") == ("pot-of-gold-prod", "gs://pog-prod-firestore-exports/snapshots")
    assert snapshot_defaults("dev") == ("pot-of-gold-dev", "gs://pog-dev-firestore-exports/snapshots")
    one_error_line(
        pog("snapshot", "--stack", "dev", emulator=small_source.emulator), "on the emulator, pass --to DIR"
    )


def test_snapshot_unknown_stack(small_source: Target, tmp_path: Path) -> None:
    one_error_line(
        pog("snapshot", "--stack", "staging", "--to", str(tmp_path), emulator=small_source.emulator),
        "unknown stack 'staging': Pulumi.staging.yaml not found (stacks here: dev, prod)",
    )


FAKE_PULUMI = """#!/bin/sh
# The Pulumi CLI's `stack export --stack S --file F`, as far as the snapshot uses it.
[ "$1 $2 $3" = "stack export --stack" ] || { echo "unexpected: $*" >&2; exit 2; }
[ "$4" = "prod" ] || { echo "error: no stack named '$4' found" >&2; exit 255; }
printf '{"version": 3, "deployment": {"resources": [{"urn": "a"}, {"urn": "b"}]}}' > "$6"
"""


@pytest.fixture
def fake_pulumi(tmp_path: Path) -> str:
    """A `pulumi` executable standing in for the CLI (not installed here): the PATH to use."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(FAKE_PULUMI)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_snapshot_writes_the_stack_export_the_firestore_exports_and_a_manifest(
    small_source: Target, tmp_path: Path, fake_pulumi: str
) -> None:
    out = tmp_path / "snapshots"

    result = pog(
        "snapshot", "--stack", "prod", "--to", str(out), "--project", PROJECT,
        "-d", "(default)", "-d", "games-eu", emulator=small_source.emulator, PATH=fake_pulumi,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    (dated,) = out.iterdir()
    assert len(dated.name) == len("2026-11-27")
    manifest = json.loads((dated / "manifest.json").read_text())
    assert manifest["stack"] == "prod"
    assert manifest["pulumi_stack_export"]["resources"] == 2
    assert (dated / "pulumi-prod.json").stat().st_size == manifest["pulumi_stack_export"]["bytes"]
    assert [e["database"] for e in manifest["firestore_exports"]] == ["(default)", "games-eu"]
    for export in manifest["firestore_exports"]:
        folder = Path(export["location"])
        assert folder.parent == dated / "firestore"
        assert (folder / f"{folder.name}{METADATA_SUFFIX}").is_file()

    again = pog(
        "snapshot", "--stack", "prod", "--to", str(out), "--project", PROJECT,
        emulator=small_source.emulator, PATH=fake_pulumi,
    )  # fmt: skip
    one_error_line(again, "exists already: snapshots never overwrite one another")


def test_a_failed_stack_export_leaves_nothing_behind(
    small_source: Target, tmp_path: Path, fake_pulumi: str
) -> None:
    out = tmp_path / "snapshots"

    result = pog(
        "snapshot", "--stack", "dev", "--to", str(out), emulator=small_source.emulator, PATH=fake_pulumi
    )

    one_error_line(result, "pulumi stack export --stack dev failed: error: no stack named 'dev' found")
    assert not out.exists() or not any(out.iterdir())
