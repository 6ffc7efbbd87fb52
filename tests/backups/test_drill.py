"""The restore drill on 10,000 documents: exported, restored, verified identical; corruption detected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.cloud import firestore
from typer.testing import CliRunner

from backups.clients import sdk_client
from backups.emulator import fresh_emulator
from backups.restore import restore
from backups.targets import Target
from backups.verify import VerifyReport, take_inventory, verify
from pog.cli import app
from tests.backups.conftest import LARGE, PROJECT

runner = CliRunner()


def test_drill_restores_10k_documents_into_a_fresh_emulator_and_verifies_them(
    large_source: Target, tmp_path: Path
) -> None:
    figures_path = tmp_path / "drill.json"
    result = runner.invoke(
        app,
        [
            "backup",
            "drill",
            "--project",
            PROJECT,
            "--json",
            str(figures_path),
            "--workdir",
            str(tmp_path / "w"),
        ],
        env={"FIRESTORE_EMULATOR_HOST": large_source.emulator},
    )

    assert result.exit_code == 0, result.output
    figures = json.loads(figures_path.read_text())
    assert figures["documents"] == LARGE
    assert figures["identical"] is True
    assert figures["within_rto"] is True
    assert figures["total_s"] == pytest.approx(
        figures["export_s"] + figures["restore_s"] + figures["verify_s"], abs=0.01
    )
    assert figures["rto_target_s"] == 3600
    # Subcollections two levels deep were part of it: users/{uid}/games/{id}/events.
    assert figures["collections"] > 1000
    assert "users/*/games/*/events" in result.output
    assert "DIFFERS" not in result.output
    assert f"{LARGE} documents restored and verified in" in result.output
    assert Path(figures["export_path"]).is_dir()  # --workdir keeps the export
    print(
        f"\ndrill figures: {figures['documents']} documents, export {figures['export_s']:.2f} s,"
        f" restore {figures['restore_s']:.2f} s, verify {figures['verify_s']:.2f} s,"
        f" total {figures['total_s']:.2f} s"
    )


CHANGED = "users/u000007/games/g000007/events/e000007"  # two levels of subcollections down
DELETED = "transactions/t000005"
ADDED = "users/u000002/games/g999999"


@dataclass(frozen=True)
class Corrupted:
    copy: Target
    before: VerifyReport  # source vs the restored copy, before the corruption


@pytest.fixture(scope="module")
def corrupted(
    large_source: Target, large_export: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Corrupted]:
    """A restored copy, verified, then: one field changed, one document deleted, one added."""
    with fresh_emulator(tmp_path_factory.mktemp("restored")) as host:
        copy = Target(PROJECT, "(default)", host)
        restore(copy, str(large_export))
        before = verify(large_source, copy)
        client = sdk_client(copy)
        try:
            client.document(CHANGED).update({"t_ms": firestore.Increment(1)})
            client.document(DELETED).delete()
            client.document(ADDED).set({"uid": "u000002", "score": 1})
        finally:
            client.close()  # type: ignore[no-untyped-call]
        yield Corrupted(copy, before)


def test_the_restored_copy_is_identical_then_each_corruption_is_reported_with_its_path(
    large_source: Target, corrupted: Corrupted
) -> None:
    assert corrupted.before.identical, corrupted.before.summary()
    assert corrupted.before.copy.documents == LARGE

    report = verify(large_source, corrupted.copy)

    assert report.source.documents == LARGE
    assert report.copy.documents == LARGE  # one deleted, one added: the count alone would miss it
    assert report.paths("changed") == [CHANGED]
    assert report.paths("missing") == [DELETED]
    assert report.paths("extra") == [ADDED]
    assert sorted(d.collection for d in report.differences) == sorted(
        [CHANGED.rsplit("/", 1)[0], "transactions", "users/u000002/games"]
    )


def test_verify_command_exits_1_naming_collections_and_paths(
    large_source: Target, corrupted: Corrupted
) -> None:
    result = runner.invoke(
        app,
        ["backup", "verify", "--project", PROJECT, "--copy", "(default)",
         "--source-emulator", str(large_source.emulator), "--copy-emulator", str(corrupted.copy.emulator)],
    )  # fmt: skip

    assert result.exit_code == 1
    assert "DIFFERS" in result.output
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("error: (default) differs from (default): 3 collection(s) differ")
    assert f"1 changed: {CHANGED}" in error
    assert f"1 missing from the copy: {DELETED}" in error
    assert f"1 only in the copy: {ADDED}" in error
    assert "Traceback" not in result.output


def test_restore_over_a_non_empty_database_is_refused_and_writes_nothing(
    large_export: Path, corrupted: Corrupted
) -> None:
    before = take_inventory(corrupted.copy)

    result = runner.invoke(
        app,
        ["backup", "restore", "--project", PROJECT, "--from", str(large_export), "--database", "(default)"],
        env={"FIRESTORE_EMULATOR_HOST": corrupted.copy.emulator},
    )

    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: refused: database '(default)' of project '{PROJECT}' on the emulator at"
        f" {corrupted.copy.emulator} is not empty; restore only into a new, empty database"
        " (pick a new --database id)"
    )
    # The deleted document is still missing, the added one still there: nothing was imported.
    assert take_inventory(corrupted.copy).collections == before.collections
