"""The chaos suite's own redis-server: stopped, frozen and restarted by PID, the shared one untouched."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from app.repositories.leaderboard_keys import ALIVE_KEY
from scripts import services as procs


class RedisControl:
    """A redis-server of this test only, stopped and started by PID (the shared one is untouched)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.service = procs.start_redis(workdir)
        self.port = self.service.port
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def direct(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def kill(self) -> None:
        os.kill(self.service.process.pid, signal.SIGKILL)
        self.service.process.wait(timeout=10)

    def start(self) -> None:
        self.service = procs.start_redis(self.workdir, self.port)

    def pause(self) -> None:
        os.kill(self.service.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.service.process.pid, signal.SIGCONT)
        self.paused = False

    def close(self) -> None:
        if self.paused:
            self.resume()
        self.service.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisControl]:
    control = RedisControl(tmp_path)
    yield control
    control.close()


@pytest.fixture
def alive_redis(own_redis: RedisControl) -> RedisControl:
    """``own_redis`` with live boards nobody lost: no rebuild steps in, whatever a test does to Redis."""
    with own_redis.direct() as direct:
        direct.set(ALIVE_KEY, datetime.now(UTC).isoformat())
    return own_redis
