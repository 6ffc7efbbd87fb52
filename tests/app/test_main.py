"""The API module: what ``uvicorn app.main:app`` gets, and what importing it does not load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Built at start-up by app/composition.py, never by importing the API: each costs the cold start.
LOADED_AT_START_UP = (
    "app.composition",
    "app.ops",
    "app.repositories.clients",
    "cryptography",
    "firebase_admin",
    "google.cloud.firestore",
    "google.cloud.kms",
    "grpc",
    "redis",
    "sentry_sdk",
    "typer",
)


def _in_a_fresh_interpreter(code: str) -> object:
    argv = [sys.executable, "-W", "ignore", "-c", code]
    done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_building_the_app_loads_none_of_the_clients() -> None:
    loaded = _in_a_fresh_interpreter(
        "import json, sys, app.main\n"
        "app.main.create_app()\n"
        f"print(json.dumps([m for m in {LOADED_AT_START_UP!r} if m in sys.modules]))"
    )
    assert loaded == []


def test_uvicorn_finds_one_app_and_importing_the_module_builds_none() -> None:
    found = _in_a_fresh_interpreter(
        "import json, app.main, fastapi\n"
        "before = 'app' in vars(app.main)\n"
        "from uvicorn.importer import import_from_string\n"
        "first = import_from_string('app.main:app')\n"
        "again = import_from_string('app.main:app')\n"
        "print(json.dumps([before, isinstance(first, fastapi.FastAPI), first is again, first.title]))"
    )
    assert found == [False, True, True, "Pot of Gold game API"]
