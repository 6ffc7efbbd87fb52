"""POST /v1/admin/events: admin gate, strict body, every bad input a 422 that writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.events import ADMIN_NET, create_event, error, event_body, iso


def _events(db: firestore.Client) -> list[dict[str, Any]]:
    return [snap.to_dict() or {} for snap in db.collection("events").stream()]


def test_admin_creates_an_event(
    events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    body = event_body()
    r = events_client.post("/v1/admin/events", headers=admin, json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["name"] == "Rainbow Rush"
    assert out["goal"] == {"metric": "games_played", "target": 2}
    assert out["rewards"] == {"coins": 250, "items": {"booster_magnet": 2}}
    assert out["created_by"] == "root"
    assert datetime.fromisoformat(out["claim_until"]) - datetime.fromisoformat(out["ends_at"]) == timedelta(
        days=1
    )
    stored = db.collection("events").document(out["event_id"]).get().to_dict()
    assert stored is not None
    assert stored["starts_at"] == datetime.fromisoformat(body["starts_at"])
    assert stored["rewards"] == {"coins": 250, "items": {"booster_magnet": 2}}
    assert stored["created_by"] == "root"


def test_create_needs_a_token(events_client: TestClient, db: firestore.Client) -> None:
    error(events_client.post("/v1/admin/events", json=event_body()), 401, "unauthorized")
    assert _events(db) == []


def test_player_cannot_create_403(events_client: TestClient, auth: Mint, db: firestore.Client) -> None:
    error(events_client.post("/v1/admin/events", headers=auth("alice"), json=event_body()), 403, "forbidden")
    assert _events(db) == []


def test_admin_without_second_factor_403(events_client: TestClient, auth: Mint, db: firestore.Client) -> None:
    r = events_client.post("/v1/admin/events", headers=auth("root", role="admin"), json=event_body())
    error(r, 403, "second_factor_required")
    assert _events(db) == []


def test_admin_from_outside_the_allowlist_403(
    make_client: MakeClient, admin: dict[str, str], db: firestore.Client
) -> None:
    client = make_client(client_addr=("198.51.100.9", 50000), admin_ip_allowlist=ADMIN_NET)
    error(client.post("/v1/admin/events", headers=admin, json=event_body()), 403, "ip_not_allowed")
    assert _events(db) == []


_NOW = datetime.now(UTC)

BAD_BODIES: dict[str, tuple[dict[str, Any], str]] = {
    "ends_before_start": (
        {"starts_at": iso(_NOW + timedelta(hours=2)), "ends_at": iso(_NOW + timedelta(hours=1))},
        "starts_at must be before ends_at",
    ),
    "too_long": ({"ends_at": iso(_NOW + timedelta(days=6))}, "an event lasts between"),
    "too_short": (  # both ends given: the default start is taken when the test runs, not at import
        {"starts_at": iso(_NOW + timedelta(hours=1)), "ends_at": iso(_NOW + timedelta(hours=1, minutes=1))},
        "an event lasts between",
    ),
    "naive_datetime": ({"starts_at": "2030-01-01T00:00:00"}, "timezone"),
    "not_a_datetime": ({"starts_at": "soon"}, "starts_at"),
    "unknown_field": ({"prize": 1}, "prize"),
    "no_rewards": ({"rewards": {"coins": 0, "items": {}}}, "rewards grant nothing"),
    "bad_item_id": ({"rewards": {"items": {"Gold Bar": 1}}}, "rewards.items"),
    "item_count_zero": ({"rewards": {"items": {"booster_magnet": 0}}}, "rewards.items"),
    "too_many_coins": ({"rewards": {"coins": 10_000_000}}, "rewards.coins"),
    "too_many_items": ({"rewards": {"items": {f"item_{i}": 1 for i in range(11)}}}, "rewards.items"),
    "unknown_metric": ({"goal": {"metric": "coins_spent", "target": 1}}, "goal.metric"),
    "target_zero": ({"goal": {"metric": "games_played", "target": 0}}, "goal.target"),
    "target_string": ({"goal": {"metric": "games_played", "target": "3"}}, "goal.target"),
    "empty_name": ({"name": ""}, "name"),
    "name_with_newline": ({"name": "Rush\nHour"}, "name"),
    "long_description": ({"description": "x" * 501}, "description"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_body_422_writes_nothing(
    case: str, events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    overrides, reason = BAD_BODIES[case]
    r = events_client.post("/v1/admin/events", headers=admin, json=event_body(**overrides))
    assert r.status_code == 422, r.text
    assert reason in r.text, r.text
    assert _events(db) == []


# Rules on the clock and the catalog (the service): 422 invalid_event.
SERVICE_RULES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown_item": (
        {"rewards": {"items": {"golden_unicorn": 1}}},
        "unknown item id(s) in rewards: golden_unicorn",
    ),
    "starts_in_the_past": (
        {"starts_at": iso(_NOW - timedelta(hours=1)), "ends_at": iso(_NOW + timedelta(hours=1))},
        "starts_at is in the past",
    ),
    "starts_too_far_ahead": (
        {"starts_at": iso(_NOW + timedelta(days=91)), "ends_at": iso(_NOW + timedelta(days=92))},
        "more than 90 days ahead",
    ),
}


@pytest.mark.parametrize("case", sorted(SERVICE_RULES))
def test_service_rule_422_writes_nothing(
    case: str, events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    overrides, reason = SERVICE_RULES[case]
    message = error(
        events_client.post("/v1/admin/events", headers=admin, json=event_body(**overrides)),
        422,
        "invalid_event",
    )
    assert reason in message
    assert _events(db) == []


def test_create_refreshes_the_cached_list(
    events_client: TestClient, admin: dict[str, str], auth: Mint
) -> None:
    h = auth("alice")
    first = create_event(events_client, admin, name="First")
    assert [e["event_id"] for e in events_client.get("/v1/events", headers=h).json()["events"]] == [first]
    second = create_event(events_client, admin, name="Second")
    listed = {e["event_id"] for e in events_client.get("/v1/events", headers=h).json()["events"]}
    assert listed == {first, second}
