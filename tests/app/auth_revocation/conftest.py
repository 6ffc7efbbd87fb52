"""The Firebase Auth emulator (tests/auth-emulator/), started once per test process for the tests here
only: revoked tokens and disabled accounts need Firebase Auth to ask (``check_revoked=True``)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.services import free_port
from tests.waiting import wait_until

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "auth-emulator"
FIREBASE = PACKAGE_DIR / "node_modules" / ".bin" / "firebase"
INSTALL_TIMEOUT_S = 900
START_TIMEOUT_S = 300  # 16-47 s on a quiet machine (CPU-bound); minutes on a busy one


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "auth_emulator: needs the Firebase Auth emulator (installed on first use)"
    )


def _install() -> None:
    # xdist workers may get here together on a clean checkout: one runs `npm ci`, the others wait for it.
    with (PACKAGE_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not FIREBASE.exists():
            _npm_ci()


def _npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm not found: the revocation tests need Node.js and npm (apt-get install npm)")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PACKAGE_DIR,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0 or not FIREBASE.exists():
        pytest.fail(f"npm ci in {PACKAGE_DIR} failed ({done.returncode}):\n{done.stderr[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="session")
def auth_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a running Auth emulator (every port free-picked: hub and logging too)."""
    _install()
    workdir = tmp_path_factory.mktemp("auth-emulator")
    port, hub, logging_port = free_port(), free_port(), free_port()
    config = {
        "emulators": {
            "auth": {"host": "127.0.0.1", "port": port},
            "hub": {"host": "127.0.0.1", "port": hub},
            "logging": {"host": "127.0.0.1", "port": logging_port},
            "ui": {"enabled": False},
            "singleProjectMode": False,
        }
    }
    (workdir / "firebase.json").write_text(json.dumps(config))
    log = workdir / "emulator.log"
    env = {**os.environ, "NO_UPDATE_NOTIFIER": "1", "FIREBASE_CLI_DISABLE_UPDATE_CHECK": "true"}
    cmd = [str(FIREBASE), "emulators:start", "--only", "auth", "--project", "demo-pog-auth"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:

        def answers() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the Auth emulator exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                    return True
            except (urllib.error.URLError, OSError):
                return False

        wait_until(
            answers,
            timeout=START_TIMEOUT_S,
            interval=0.5,
            what=lambda: f"the Auth emulator answering:\n{log.read_text()[-2000:]}",
        )
        yield f"127.0.0.1:{port}"
    finally:
        _stop(process)
