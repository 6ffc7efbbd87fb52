"""Real Firestore emulators for the backup tests: a 10,000-document source, and fresh empty ones.

Every emulator is started on a free port through scripts/services.py and stopped by its fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backups.emulator import export, fresh_emulator
from backups.export import export_name
from backups.seed import seed
from backups.targets import Target

PROJECT = "demo-pog-backups"
#: The drill size the issue asks for: collections and subcollections two levels deep.
LARGE = 10_000
SMALL = 40


@pytest.fixture(scope="session")
def large_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with fresh_emulator(tmp_path_factory.mktemp("large-source")) as host:
        target = Target(PROJECT, "(default)", host)
        assert seed(target, LARGE) == LARGE
        yield target


@pytest.fixture(scope="session")
def large_export(large_source: Target, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(large_source, tmp_path_factory.mktemp("large-export"), export_name(large_source))


@pytest.fixture(scope="session")
def small_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A seeded emulator with a (default) database and a named one, for the command tests."""
    with fresh_emulator(tmp_path_factory.mktemp("small-source")) as host:
        target = Target(PROJECT, "(default)", host)
        seed(target, SMALL)
        seed(Target(PROJECT, "games-eu", host), SMALL, seed=11)
        yield target


@pytest.fixture
def empty_emulator(tmp_path: Path) -> Iterator[str]:
    """A new emulator with no data: the restore target."""
    with fresh_emulator(tmp_path) as host:
        yield host
