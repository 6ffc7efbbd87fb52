"""PATCH /v1/admin/events/{event_id}: the change, its audit entry, the cache, and one test per error path
(each leaves the event and the audit log as they were)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from tests.app.conftest import Mint
from tests.app.fixtures.events import create_event, error, iso, seed_event


def _patch(client: TestClient, headers: dict[str, str], event_id: str, body: Any) -> Any:
    return client.patch(f"/v1/admin/events/{event_id}", headers=headers, json=body)


def _stored(db: firestore.Client, event_id: str) -> dict[str, Any]:
    data = db.collection("events").document(event_id).get().to_dict()
    assert data is not None
    return data


def _audit(db: firestore.Client, kind: str = "event_update") -> list[dict[str, Any]]:
    """The admin's audit entries of ``kind`` (creating the event wrote an ``event_create`` before)."""
    chain = "admin:root"
    found = db.collection("transactions").where(filter=firestore.FieldFilter("uid", "==", chain)).stream()
    return [
        e for e in sorted((d.to_dict() or {} for d in found), key=lambda e: e["seq"]) if e["kind"] == kind
    ]


def _upcoming(client: TestClient, admin: dict[str, str]) -> str:
    now = datetime.now(UTC)
    return create_event(
        client, admin, starts_at=iso(now + timedelta(hours=1)), ends_at=iso(now + timedelta(hours=3))
    )


def _claimed(db: firestore.Client, event_id: str, uid: str = "alice") -> None:
    now = datetime.now(UTC)
    db.collection("events").document(event_id).collection("reward_claims").document(uid).set(
        {"uid": uid, "event_id": event_id, "claimed_at": now, "progress": 2, "coins": 250, "items": {}}
    )


def test_admin_changes_window_goal_rewards_and_name_audited(
    events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    event_id = _upcoming(events_client, admin)
    now = datetime.now(UTC)
    body = {
        "name": "Rainbow Rush II",
        "starts_at": iso(now + timedelta(hours=2)),
        "ends_at": iso(now + timedelta(hours=6)),
        "goal": {"metric": "total_score", "target": 500},
        "rewards": {"coins": 400, "items": {"booster_shield": 1}},
    }
    r = _patch(events_client, admin, event_id, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["name"] == "Rainbow Rush II"
    assert out["goal"] == {"metric": "total_score", "target": 500}
    assert out["rewards"] == {"coins": 400, "items": {"booster_shield": 1}}
    assert out["description"] == "Finish 2 games"  # not given: unchanged
    stored = _stored(db, event_id)
    assert stored["ends_at"] == datetime.fromisoformat(body["ends_at"])
    assert stored["rewards"] == {"coins": 400, "items": {"booster_shield": 1}}
    [created] = _audit(db, "event_create")
    assert created["source_id"] == f"event:{event_id}"
    [entry] = _audit(db)
    assert entry["seq"] == created["seq"] + 1  # the admin's chain: create, then the change
    assert entry["actor"] == "admin:root"
    assert entry["source_id"] == f"event:{event_id}"
    assert entry["reason"] == "changed ends_at, goal, name, rewards, starts_at"


def test_a_change_refreshes_the_players_cached_list(
    events_client: TestClient, admin: dict[str, str], auth: Mint
) -> None:
    event_id = create_event(events_client, admin)
    h = auth("alice")
    assert [e["name"] for e in events_client.get("/v1/events", headers=h).json()["events"]] == [
        "Rainbow Rush"
    ]
    assert _patch(events_client, admin, event_id, {"name": "Pot Frenzy"}).status_code == 200
    assert [e["name"] for e in events_client.get("/v1/events", headers=h).json()["events"]] == ["Pot Frenzy"]


def test_a_running_event_can_end_later_and_change_its_name_after_claims(
    events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    event_id = create_event(events_client, admin)
    _claimed(db, event_id)
    later = iso(datetime.now(UTC) + timedelta(days=2))
    r = _patch(events_client, admin, event_id, {"ends_at": later, "name": "Extended Rush"})
    assert r.status_code == 200, r.text
    assert _stored(db, event_id)["ends_at"] == datetime.fromisoformat(later)


def test_patch_needs_a_token_401(
    events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    event_id = _upcoming(events_client, admin)
    error(
        events_client.patch(f"/v1/admin/events/{event_id}", json={"name": "Nope Nope"}), 401, "unauthorized"
    )
    assert _stored(db, event_id)["name"] == "Rainbow Rush"


def test_a_player_cannot_patch_403(
    events_client: TestClient, admin: dict[str, str], auth: Mint, db: firestore.Client
) -> None:
    event_id = _upcoming(events_client, admin)
    error(_patch(events_client, auth("alice"), event_id, {"name": "Mine Now"}), 403, "forbidden")
    assert _stored(db, event_id)["name"] == "Rainbow Rush"
    assert _audit(db) == []


def test_unknown_event_404(events_client: TestClient, admin: dict[str, str], db: firestore.Client) -> None:
    error(_patch(events_client, admin, "no-such-event", {"name": "Ghost Rush"}), 404, "event_not_found")
    assert _audit(db) == []


def test_changing_rewards_after_a_claim_409(
    events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    event_id = create_event(events_client, admin)
    _claimed(db, event_id)
    body = {"rewards": {"coins": 9999}}
    error(_patch(events_client, admin, event_id, body), 409, "rewards_claimed")
    assert _stored(db, event_id)["rewards"] == {"coins": 250, "items": {"booster_magnet": 2}}
    assert _audit(db) == []


def test_an_ended_event_409(events_client: TestClient, admin: dict[str, str], db: firestore.Client) -> None:
    now = datetime.now(UTC)
    seed_event(db, "ended", now - timedelta(days=2), now - timedelta(days=1))
    error(_patch(events_client, admin, "ended", {"name": "Too Late"}), 409, "event_ended")
    assert _stored(db, "ended")["name"] == "Seeded"
    assert _audit(db) == []


def test_moving_the_start_of_a_running_event_409(
    events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    event_id = create_event(events_client, admin)
    later = iso(datetime.now(UTC) + timedelta(minutes=30))
    error(_patch(events_client, admin, event_id, {"starts_at": later}), 409, "event_started")
    assert _audit(db) == []


BAD_PATCHES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown_field": ({"prize": 1}, "prize"),
    "empty": ({}, "changes nothing"),
    "only_nulls": ({"name": None}, "changes nothing"),
    "ends_before_start": (
        {
            "starts_at": iso(datetime.now(UTC) + timedelta(hours=3)),
            "ends_at": iso(datetime.now(UTC) + timedelta(hours=2)),
        },
        "starts_at must be before ends_at",
    ),
    "no_rewards": ({"rewards": {"coins": 0}}, "rewards grant nothing"),
    "bad_target": ({"goal": {"metric": "games_played", "target": 0}}, "goal.target"),
}


@pytest.mark.parametrize("case", sorted(BAD_PATCHES))
def test_bad_patch_422_changes_nothing(
    case: str, events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    event_id = _upcoming(events_client, admin)
    before = _stored(db, event_id)
    body, reason = BAD_PATCHES[case]
    r = _patch(events_client, admin, event_id, body)
    assert r.status_code == 422, r.text
    assert reason in r.text, r.text
    assert _stored(db, event_id) == before
    assert _audit(db) == []


SERVICE_RULES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown_item": ({"rewards": {"items": {"golden_unicorn": 1}}}, "unknown item id(s) in rewards"),
    "too_long": ({"ends_at": iso(datetime.now(UTC) + timedelta(days=7))}, "an event lasts between"),
    "start_in_the_past": ({"starts_at": iso(datetime.now(UTC) - timedelta(hours=1))}, "in the past"),
}


@pytest.mark.parametrize("case", sorted(SERVICE_RULES))
def test_service_rule_422_changes_nothing(
    case: str, events_client: TestClient, admin: dict[str, str], db: firestore.Client
) -> None:
    event_id = _upcoming(events_client, admin)
    before = _stored(db, event_id)
    body, reason = SERVICE_RULES[case]
    assert reason in error(_patch(events_client, admin, event_id, body), 422, "invalid_event")
    assert _stored(db, event_id) == before
    assert _audit(db) == []
