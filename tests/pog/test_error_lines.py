"""The real `pog` console script, run without credentials: one ``error:`` line, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

POG = Path(sys.executable).with_name("pog")
NO_CREDENTIALS = "error: no Google credentials: run `gcloud auth application-default login`"
#: What could hand a command credentials or an emulator on this machine.
UNSET = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "FIRESTORE_EMULATOR_HOST",
    "FIREBASE_AUTH_EMULATOR_HOST",
    "POG_FIREBASE_PROJECT_ID",
    "CLOUDSDK_CONFIG",
)


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in UNSET}
    # No gcloud configuration (HOME) and no metadata server probe: google.auth.default() finds nothing.
    environment.update(HOME=str(tmp_path), NO_GCE_CHECK="True", PYTHONWARNINGS="default", **env)
    return subprocess.run(
        args, capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=120, check=False
    )


def one_error_line(done: subprocess.CompletedProcess[str], start: str) -> None:
    lines = done.stderr.splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    assert "FutureWarning" not in done.stderr, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(start), done.stderr


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "args",
    [
        ["leaderboards", "rebuild"],
        ["leaderboards", "rewards", "--dry-run"],
        ["audit", "verify"],
        ["events", "announce"],
    ],
    ids=" ".join,
)
def test_without_google_credentials_one_line_names_what_to_set(args: list[str], tmp_path: Path) -> None:
    done = run([str(POG), *args], tmp_path)
    assert done.returncode == 1, done.stderr
    one_error_line(done, NO_CREDENTIALS)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in done.stderr
    assert done.stdout == ""


def test_the_app_image_entry_point_says_the_same(tmp_path: Path) -> None:
    done = run([sys.executable, "-m", "app.ops", "events", "announce"], tmp_path)
    assert done.returncode == 1, done.stderr
    one_error_line(done, NO_CREDENTIALS)


def test_an_emulator_that_does_not_answer_fails_in_seconds(tmp_path: Path) -> None:
    host = f"127.0.0.1:{closed_port()}"
    done = run([str(POG), "events", "announce"], tmp_path, FIRESTORE_EMULATOR_HOST=host)
    assert done.returncode == 1, done.stderr
    one_error_line(done, f"error: no Firestore emulator answers at {host} (FIRESTORE_EMULATOR_HOST)")


def test_a_bad_setting_names_its_variable(tmp_path: Path) -> None:
    done = run([str(POG), "events", "announce"], tmp_path, POG_REDIS_TIMEOUT_MS="soon")
    assert done.returncode == 1, done.stderr
    one_error_line(done, "error: invalid setting POG_REDIS_TIMEOUT_MS: ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["plan"], "error: Missing argument 'stack'; see `pog plan --help`"),
        (["check", "--bogus"], "error: No such option: --bogus; see `pog check --help`"),
        (["backup", "snapshot"], "error: Missing option '--stack'; see `pog backup snapshot --help`"),
        (
            ["leaderboards", "rebuild", "--period", "hourly"],
            "error: Invalid value: --period must be one of daily, weekly, monthly, all_time; see",
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_a_usage_mistake_is_one_line_with_the_help_to_read(
    args: list[str], expected: str, tmp_path: Path
) -> None:
    done = run([str(POG), *args], tmp_path)
    assert done.returncode == 2, done.stderr
    one_error_line(done, expected)


def test_no_command_prints_the_help(tmp_path: Path) -> None:
    done = run([str(POG)], tmp_path)
    assert done.returncode == 2
    assert "Usage: pog [OPTIONS] COMMAND" in done.stdout
    assert done.stderr == ""
