"""scripts/services.py finds the Firestore emulator in the SDK of the gcloud on PATH (setup-gcloud on
GitHub) as well as in Debian's google-cloud-cli, so CI on GitHub starts it as CI here does."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import services

pytestmark = pytest.mark.unit


def _sdk(root: Path, with_emulator: bool) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "gcloud").write_text("#!/bin/sh\n")
    (root / "bin" / "gcloud").chmod(0o755)
    if with_emulator:
        (root / services.EMULATOR_IN_SDK).parent.mkdir(parents=True)
        (root / services.EMULATOR_IN_SDK).write_text("")
    return root


def test_the_variable_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POG_FIRESTORE_EMULATOR_JAR", str(tmp_path / "my.jar"))
    assert services.emulator_jar() == tmp_path / "my.jar"


def test_the_jar_beside_the_gcloud_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("POG_FIRESTORE_EMULATOR_JAR", raising=False)
    sdk = _sdk(tmp_path / "toolcache" / "gcloud" / "528.0.0" / "x64", with_emulator=True)
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "gcloud").symlink_to(
        sdk / "bin" / "gcloud"
    )  # as /usr/bin/gcloud links into the SDK
    monkeypatch.setenv("PATH", str(tmp_path / "links"))
    assert services.emulator_jar() == sdk.resolve() / services.EMULATOR_IN_SDK


def test_debians_sdk_otherwise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("POG_FIRESTORE_EMULATOR_JAR", raising=False)
    sdk = _sdk(tmp_path / "sdk", with_emulator=False)
    monkeypatch.setenv("PATH", str(sdk / "bin"))
    assert services.emulator_jar() == services.EMULATOR_JAR
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert services.emulator_jar() == services.EMULATOR_JAR
