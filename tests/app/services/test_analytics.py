"""Analytics.emit: the server's own events checked, stamped and offered; a sink never fails the caller."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain.analytics import CatalogueError, pseudonym, server_event_id
from app.services.analytics import Analytics

pytestmark = pytest.mark.unit

KEY = b"k" * 32
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Recording:
    def __init__(self) -> None:
        self.offered: list[dict[str, Any]] = []

    def offer(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.offered.extend(dict(e) for e in events)


class Broken:
    def offer(self, events: Sequence[Mapping[str, Any]]) -> None:
        raise RuntimeError("publisher gone")


def test_emit_stamps_a_server_event() -> None:
    sink = Recording()
    Analytics(sink, KEY, clock=lambda: NOW).emit(
        "live_event_joined", "alice", {"live_event_id": "ev1"}, event_id="live_event_joined:ev1:alice"
    )
    assert len(sink.offered) == 1
    event = sink.offered[0]
    assert event == {
        "event_id": server_event_id("live_event_joined:ev1:alice"),
        "name": "live_event_joined",
        "schema_version": 1,
        "occurred_at": int(NOW.timestamp()) * 1_000_000,
        "received_at": int(NOW.timestamp()) * 1_000_000,
        "source": "server",
        "player": pseudonym(KEY, "alice"),
        "platform": "server",
        "app_version": None,
        "country": None,
        "params": '{"live_event_id":"ev1"}',
    }
    assert "alice" not in json.dumps(event)


def test_emit_without_a_player_or_an_id() -> None:
    sink = Recording()
    analytics = Analytics(sink, KEY, clock=lambda: NOW)
    analytics.emit("breaker_opened", None, {"dependency": "redis"})
    analytics.emit("breaker_opened", None, {"dependency": "redis"})
    assert len(sink.offered) == 2
    first, second = sink.offered
    assert first["player"] is None
    assert first["event_id"] != second["event_id"]  # random when the action has no id
    assert (first["platform"], first["app_version"], first["country"]) == ("server", None, None)


def test_a_caller_s_bad_params_are_a_bug_even_with_analytics_off() -> None:
    analytics = Analytics(None, KEY)
    with pytest.raises(CatalogueError, match=r"params\.coins"):
        analytics.emit("grant", "alice", {"reason": "purchase", "coins": -5, "items": 0})
    with pytest.raises(ValueError, match="screen_viewed is a client event"):
        analytics.emit("screen_viewed", "alice", {"screen": "home"})
    analytics.emit("rate_limited", None, {"limit": "ip"})  # off: checked, then dropped


def test_a_sink_that_raises_never_fails_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    Analytics(Broken(), KEY).emit("rate_limited", "alice", {"limit": "user"})
    assert [r.getMessage() for r in caplog.records] == ["the analytics sink raised"]
