"""Rules for the whole suite: a ``unit`` test starts no service and finishes in seconds.

Service fixtures are session-scoped and lazy (only the tests that ask for them start redis-server, the
Firestore emulator, ...); a test marked ``unit`` that asks for one, even through another fixture, fails
before anything starts. ``pytest -m unit`` is the fast layer.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The app has no default environment (a lost POG_ENVIRONMENT must not start prod as anything else); the
#: suite runs as ``test`` unless a test sets another or removes it (tests/app/core/test_config.py).
os.environ.setdefault("POG_ENVIRONMENT", "test")

#: Fixture modules shared across folders (pytest allows ``pytest_plugins`` only in this root conftest): the
#: Auth emulator (tests/app/core/auth_revocation/, tests/app/ops/), the fake FCM and live events
#: (routes, ops, repositories), the economy (routes, services, ops, the cluster suite), the fake Realtime
#: Database (tests/app/realtime/, routes), the Pub/Sub emulator (analytics). tests/README.md.
pytest_plugins = [
    "tests.app.fixtures.app_check",
    "tests.app.fixtures.auth_emulator",
    "tests.app.fixtures.events",
    "tests.app.fixtures.payments",
    "tests.app.fixtures.pubsub",
    "tests.app.fixtures.realtime",
]

#: Fixtures that start a process or plan a stack (each is the root of a chain: client, db, rds, econ, ...).
SERVICE_FIXTURES = frozenset(
    {
        "backends",  # redis-server + Firestore emulator (tests/app/conftest.py)
        "pubsub",  # the Pub/Sub emulator (tests/app/fixtures/pubsub.py)
        "auth_emulator",  # the Firebase Auth emulator, through npm (tests/app/fixtures/auth_emulator.py)
        "redis_cluster",  # six redis-server processes (tests/app/repositories/cluster/conftest.py)
        "small_source",  # Firestore emulators (tests/backups/conftest.py)
        "large_source",
        "empty_emulator",
        "tiny_redis",  # tests/bench/test_leaderboard_bench.py
        "plan",  # a stack planned offline (tests/infra/conftest.py)
    }
)
#: pytest-timeout's limit for a unit test (the default, in pyproject.toml, is for the service tests).
UNIT_TIMEOUT_S = 60


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``-m unit``, skip importing test files that mark nothing unit (most of the run's time would be
    importing the provider SDKs and the app for tests that are then deselected). A unit test therefore
    names ``mark.unit`` in its own file (``pytestmark = pytest.mark.unit`` or a decorator)."""
    if config.getoption("markexpr", "") != "unit":
        return None
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return "mark.unit" not in collection_path.read_text()
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    with_timeout = config.pluginmanager.hasplugin("timeout")
    for item in items:
        if item.get_closest_marker("unit") is None:
            continue
        if with_timeout and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(UNIT_TIMEOUT_S))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("unit") is None:
        return
    services = sorted(SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if services:
        pytest.fail(
            f"{item.nodeid} is marked unit but uses {', '.join(services)}, which start services: "
            "drop the unit mark or the fixture",
            pytrace=False,
        )
