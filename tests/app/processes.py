"""The game API as real processes (``uvicorn app.main:app``), for tests about several instances at once.

Each ``ApiProcess`` is one instance: its own memory, breaker and pending invalidations, killed or stopped
by its PID alone. Tokens: the processes run with ``FIREBASE_AUTH_EMULATOR_HOST`` set (``test`` allows it;
prod refuses it), where firebase_admin accepts unsigned tokens (``dev_token``): the monkeypatched test key
of tests/app/conftest.py does not reach a subprocess. Nothing listens at that address; with
``POG_AUTH_CHECK_REVOKED=false`` nothing asks it.

    with ApiProcesses(tmp_path, api_env(backends, redis_url=...)) as apis:
        one, two = apis.start("one"), apis.start("two")
        one.client().get("/v1/me", headers=bearer("alice", backends.project))
        one.kill()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from scripts.run_local import AUTH_EMULATOR_HOST, dev_token
from scripts.services import free_port
from tests.app.conftest import Backends
from tests.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


def api_env(backends: Backends, **settings: Any) -> dict[str, str]:
    """The environment of an API process on the test backends; ``settings`` are ``Settings`` fields
    (``redis_url="redis://…"`` becomes ``POG_REDIS_URL``)."""
    env = {
        "POG_ENVIRONMENT": "test",
        "POG_REDIS_URL": backends.redis_url,
        "POG_FIREBASE_PROJECT_ID": backends.project,
        "POG_AUTH_CHECK_REVOKED": "false",
        "POG_GC_FREEZE_AFTER_STARTUP": "false",
        "FIRESTORE_EMULATOR_HOST": backends.firestore_host,
        "FIREBASE_AUTH_EMULATOR_HOST": AUTH_EMULATOR_HOST,
    }
    env.update({f"POG_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def bearer(uid: str, project: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {dev_token(uid, project)}"}


@dataclass
class ApiProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout_s: float = 10) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout_s)

    def log_tail(self, chars: int = 3000) -> str:
        return f"{self.name} ({self.log}):\n{self.log.read_text(errors='replace')[-chars:]}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the instance and its memory are gone at once (no shutdown, no flush)."""
        if self.alive():
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGINT (uvicorn's graceful shutdown, the lifespan's end), then SIGKILL after 10 s."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class ApiProcesses:
    """Starts API processes on free ports; stops every one it started, by PID, on exit."""

    workdir: Path
    env: dict[str, str]
    started: list[ApiProcess] = field(default_factory=list)

    def __enter__(self) -> ApiProcesses:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for api in reversed(self.started):
            api.stop()

    def start(self, name: str, **env: str) -> ApiProcess:
        """One uvicorn worker, access log off; returns once ``/readyz`` answers 200."""
        port = free_port()
        log = self.workdir / f"api-{name}-{port}.log"
        cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--no-access-log"]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(
                cmd, env={**os.environ, **self.env, **env}, cwd=REPO_ROOT, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        api = ApiProcess(name, process, port, log)
        self.started.append(api)

        def ready() -> bool:
            assert api.alive(), f"exited with {process.returncode}: {api.log_tail()}"
            try:
                with urllib.request.urlopen(f"{api.base_url}/readyz", timeout=1) as resp:
                    return bool(resp.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        wait_until(ready, timeout=START_TIMEOUT_S, interval=0.1, what=api.log_tail)
        return api
