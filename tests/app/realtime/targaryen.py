"""The rules evaluator for the tests: targaryen on Node.js (tools/rtdb-rules), installed on first use.

``npm ci`` runs from the lock (no registry address in it: npm uses the one it is configured with) the
first time, and again when the lock changes, under a file lock so that xdist workers install once (as
scripts/actionlint.py does). Without Node.js or npm the tests fail, naming what to install: a rules test
that skips proves nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
TOOL_DIR = ROOT / "tools" / "rtdb-rules"
RULES = ROOT / "app" / "realtime" / "database.rules.json"
EVALUATOR = TOOL_DIR / "evaluate.js"
STAMP = TOOL_DIR / "node_modules" / ".pog-lock-sha256"
NO_NODE = (
    "the Realtime Database rules tests need Node.js and npm to run targaryen "
    "(Debian/Ubuntu: apt-get install nodejs npm); they never skip"
)


def _lock_digest() -> str:
    return hashlib.sha256((TOOL_DIR / "package-lock.json").read_bytes()).hexdigest()


def _installed() -> bool:
    targaryen = TOOL_DIR / "node_modules" / "targaryen" / "package.json"
    return targaryen.is_file() and STAMP.is_file() and STAMP.read_text().strip() == _lock_digest()


def ensure_installed(npm: str) -> None:
    with (TOOL_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=TOOL_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci in {TOOL_DIR} failed: {done.stderr.strip()[-2000:]}", pytrace=False)
        STAMP.write_text(_lock_digest() + "\n")


def evaluate(rules: dict[str, Any], cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One node process for every case: ``[{name, allowed, info}]`` in the cases' order."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(NO_NODE, pytrace=False)
    ensure_installed(npm)
    done = subprocess.run(
        [node, str(EVALUATOR)],
        input=json.dumps({"rules": rules, "cases": cases}),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"targaryen failed: {done.stderr.strip()}", pytrace=False)
    verdicts: list[dict[str, Any]] = json.loads(done.stdout)
    return verdicts
