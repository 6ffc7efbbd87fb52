"""`make run-local` (scripts/run_local.py): services up, demo players seeded, a working dev token, and
Ctrl-C stops every process it started."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from scripts.services import free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is gone as far as we care.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_run_local_serves_seeded_players_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POG_", "FIRE"))}
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scripts.run_local", "--port", str(port), "--no-reload"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert proc.poll() is None, f"run_local exited:\n{out.read_text()[-3000:]}"
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            return False

        wait_until(ready, timeout=90, interval=0.2, what=lambda: out.read_text()[-3000:])
        text = out.read_text()
        token = re.search(r"^alice\s+TOKEN=(\S+)$", text, re.MULTILINE)
        assert token, text
        pids = {
            name: int(pid)
            for name, pid in re.findall(
                r"^(redis-server|Firestore emulator|uvicorn)\s+pid (\d+)", text, re.MULTILINE
            )
        }
        assert set(pids) == {"redis-server", "Firestore emulator", "uvicorn"}, text
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=10)
        assert me.status_code == 200, me.text
        assert me.json()["display_name"] == "Alice"
        assert me.json()["country"] == "IE"
        assert me.json()["friends"] == ["bob"]

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, out.read_text()[-3000:]
        assert [name for name, pid in pids.items() if _alive(pid)] == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
