"""``pog events announce``: event starts pushed when they start (not when someone lists them), once, however
many runs overlap. FCM is the fake FCM v1 server on 127.0.0.1 (the HTTP boundary firebase_admin talks to)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore
from typer.testing import CliRunner

from app.core.config import get_settings
from app.ops.events_cli import announce_due, events_app
from app.services.live_events_announce import AnnounceReport
from tests.app.conftest import Backends, settings_for
from tests.app.fixtures.events import FakeFcm, seed_event


def _starts(fcm: FakeFcm) -> list[str]:
    return [m["data"]["event_id"] for m in fcm.sends() if m.get("topic") == "live-events"]


def _seed(db: firestore.Client) -> None:
    now = datetime.now(UTC)
    seed_event(db, "started", now - timedelta(minutes=1), now + timedelta(hours=1), announced_at=None)
    seed_event(db, "upcoming", now + timedelta(hours=1), now + timedelta(hours=2), announced_at=None)
    seed_event(db, "told", now - timedelta(hours=1), now + timedelta(hours=1))  # announced already
    seed_event(db, "over", now - timedelta(days=2), now - timedelta(days=1), announced_at=None)


def test_concurrent_runs_push_each_start_once(backends: Backends, db: firestore.Client, fcm: FakeFcm) -> None:
    _seed(db)
    settings = settings_for(backends, fcm_endpoint=fcm.url)
    runs = 4
    with ThreadPoolExecutor(runs) as pool:  # each run: its own event loop and clients, like separate jobs
        reports = list(pool.map(lambda _: asyncio.run(announce_due(settings)), range(runs)))
    print(f"\n{runs} concurrent announce runs: {sum(r.sent for r in reports)} push(es)")
    assert _starts(fcm) == ["started"]
    assert sum(r.sent for r in reports) == 1
    assert all(r.failed == 0 for r in reports)
    assert db.collection("events").document("started").get().to_dict()["announced_at"] is not None  # type: ignore[index]
    assert db.collection("events").document("upcoming").get().to_dict()["announced_at"] is None  # type: ignore[index]
    # Every minute after: nothing more to send.
    assert asyncio.run(announce_due(settings)) == AnnounceReport(due=0, sent=0, failed=0)
    assert _starts(fcm) == ["started"]


def test_a_push_fcm_refuses_is_reported_and_not_resent(
    backends: Backends, db: firestore.Client, fcm: FakeFcm
) -> None:
    """At most once: the mark precedes the push, so a refused push is counted as failed, not retried."""
    _seed(db)
    fcm.refuse_all = True
    settings = settings_for(backends, fcm_endpoint=fcm.url)
    assert asyncio.run(announce_due(settings)) == AnnounceReport(due=1, sent=0, failed=1)
    fcm.refuse_all = False
    assert asyncio.run(announce_due(settings)) == AnnounceReport(due=0, sent=0, failed=0)


@pytest.fixture
def env(backends: Backends, fcm: FakeFcm, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POG_ENVIRONMENT", "test")
    monkeypatch.setenv("POG_REDIS_URL", backends.redis_url)
    monkeypatch.setenv("POG_FIREBASE_PROJECT_ID", backends.project)
    monkeypatch.setenv("POG_FCM_ENDPOINT", fcm.url)
    monkeypatch.setenv("POG_LOG_JSON", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _report(output: str) -> dict[str, Any]:
    found, _ = json.JSONDecoder().raw_decode(output[output.index("{\n") :])
    assert isinstance(found, dict)
    return found


def test_the_command_announces_and_prints_its_report(env: None, db: firestore.Client, fcm: FakeFcm) -> None:
    _seed(db)
    result = CliRunner().invoke(events_app, ["announce"])
    assert result.exit_code == 0, result.output
    assert _report(result.output) == {"due": 1, "sent": 1, "failed": 0}
    assert _starts(fcm) == ["started"]
