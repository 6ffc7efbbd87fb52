"""Push notifications through firebase_admin.messaging against a fake FCM v1 server on 127.0.0.1, and
the device token endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore
from pydantic import ValidationError

from app.core.config import Settings, SettingsError
from app.domain.notifications import MAX_DEVICES, device_id
from tests.app.conftest import Mint
from tests.app.core.settings_env import use_prod_env
from tests.app.fixtures.events import FakeFcm, RecordingGranter, create_event, error, play, seed_event

TOKEN = "fcm-token-alice-phone-0123456789abcdef"
PROJECT_PATH = "/v1/projects/{project}/messages:send"


def _register(
    client: TestClient, headers: dict[str, str], token: str = TOKEN, platform: str = "android"
) -> str:
    r = client.post("/v1/me/devices", headers=headers, json={"token": token, "platform": platform})
    assert r.status_code == 201, r.text
    did: str = r.json()["device_id"]
    return did


def _devices(db: firestore.Client, uid: str) -> dict[str, str]:
    docs = db.collection("users").document(uid).collection("devices").stream()
    return {d.id: (d.to_dict() or {})["token"] for d in docs}


def _qualify(client: TestClient, admin: dict[str, str], h: dict[str, str]) -> str:
    event_id = create_event(client, admin, goal={"metric": "games_played", "target": 1})
    assert client.post(f"/v1/events/{event_id}/join", headers=h).status_code == 200
    play(client, h, [1])
    return event_id


# --- devices ---------------------------------------------------------------------------------------------


def test_register_device_keeps_the_token_and_subscribes_it_to_the_events_topic(
    events_client: TestClient, auth: Mint, db: firestore.Client, fcm: FakeFcm
) -> None:
    did = _register(events_client, auth("alice"))
    assert did == device_id(TOKEN)
    assert _devices(db, "alice") == {did: TOKEN}
    [sub] = fcm.subscriptions()
    assert sub.path.endswith(f"/registrations/{TOKEN}/topicSubscriptions")
    assert sub.query == {"topic_name": ["live-events"]}
    assert _register(events_client, auth("alice")) == did  # idempotent
    assert len(_devices(db, "alice")) == 1


def test_only_the_latest_devices_are_kept(
    events_client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    h = auth("alice")
    tokens = [f"{TOKEN}-{i:02d}" for i in range(MAX_DEVICES + 2)]
    for token in tokens:
        _register(events_client, h, token)
    assert sorted(_devices(db, "alice").values()) == sorted(tokens[-MAX_DEVICES:])


@pytest.mark.parametrize(
    "body",
    [
        {"token": "short", "platform": "android"},
        {"token": TOKEN, "platform": "symbian"},
        {"token": TOKEN + " with spaces", "platform": "ios"},
        {"token": TOKEN},
        {"token": TOKEN, "platform": "web", "extra": 1},
    ],
)
def test_bad_device_body_422(
    events_client: TestClient, auth: Mint, db: firestore.Client, body: dict[str, object]
) -> None:
    error(events_client.post("/v1/me/devices", headers=auth("alice"), json=body), 422, "validation_error")
    assert _devices(db, "alice") == {}


def test_register_device_needs_a_token(events_client: TestClient) -> None:
    r = events_client.post("/v1/me/devices", json={"token": TOKEN, "platform": "ios"})
    error(r, 401, "unauthorized")


def test_forget_device_and_someone_elses_is_404(
    events_client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    did = _register(events_client, auth("alice"))
    error(events_client.delete(f"/v1/me/devices/{did}", headers=auth("bob")), 404, "device_not_found")
    assert _devices(db, "alice") == {did: TOKEN}
    assert events_client.delete(f"/v1/me/devices/{did}", headers=auth("alice")).status_code == 204
    assert _devices(db, "alice") == {}
    error(events_client.delete(f"/v1/me/devices/{did}", headers=auth("alice")), 404, "device_not_found")
    error(events_client.delete("/v1/me/devices/not-a-hash", headers=auth("alice")), 422, "validation_error")


# --- reward and start notifications -------------------------------------------------------------------------


def test_a_granted_reward_is_pushed_to_the_players_devices_once(
    events_client: TestClient, admin: dict[str, str], auth: Mint, fcm: FakeFcm, backends: object
) -> None:
    h = auth("alice")
    _register(events_client, h)
    _register(events_client, auth("bob"), token=TOKEN + "-bob")
    event_id = _qualify(events_client, admin, h)
    before = len(fcm.sends())
    assert events_client.post(f"/v1/events/{event_id}/claim", headers=h).json()["status"] == "granted"
    assert events_client.post(f"/v1/events/{event_id}/claim", headers=h).json()["first_claim"] is False
    rewards = [m for m in fcm.sends()[before:] if m.get("data", {}).get("type") == "event_reward"]
    assert rewards == [
        {
            "token": TOKEN,
            "notification": {
                "title": "Reward unlocked",
                "body": "Rainbow Rush: 250 coins, 2 x booster_magnet",
            },
            "data": {"type": "event_reward", "event_id": event_id},
        }
    ]
    [req] = [r for r in fcm.requests if r.body.get("message", {}).get("token") == TOKEN]
    assert req.path == PROJECT_PATH.format(
        project=events_client.app.state.container.settings.firebase_project_id
    )  # type: ignore[attr-defined]


def test_a_push_failure_never_fails_the_claim(
    events_client: TestClient, admin: dict[str, str], auth: Mint, fcm: FakeFcm, granter: RecordingGranter
) -> None:
    h = auth("alice")
    _register(events_client, h)
    event_id = _qualify(events_client, admin, h)
    fcm.refuse_all = True
    r = events_client.post(f"/v1/events/{event_id}/claim", headers=h)
    assert (r.status_code, r.json()["status"]) == (200, "granted")
    assert any(m.get("token") == TOKEN for m in fcm.sends())  # it was tried
    assert list(granter.granted) == [f"event:{event_id}:alice"]


def test_fcm_down_never_fails_the_claim(
    events_client: TestClient,
    admin: dict[str, str],
    auth: Mint,
    fcm: FakeFcm,
    granter: RecordingGranter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = auth("alice")
    _register(events_client, h)
    event_id = _qualify(events_client, admin, h)
    fcm.stop()  # connections refused: the SDK's HTTP client raises
    r = events_client.post(f"/v1/events/{event_id}/claim", headers=h)
    assert (r.status_code, r.json()["status"]) == (200, "granted")
    failed = [rec for rec in caplog.records if getattr(rec, "event", None) == "push_failed"]
    assert [getattr(rec, "push", None) for rec in failed] == ["reward"]
    assert list(granter.granted) == [f"event:{event_id}:alice"]


def test_unregistered_tokens_are_forgotten(
    events_client: TestClient, admin: dict[str, str], auth: Mint, fcm: FakeFcm, db: firestore.Client
) -> None:
    h = auth("alice")
    stale = TOKEN + "-old"
    _register(events_client, h, stale)
    _register(events_client, h)
    fcm.unregistered.add(stale)
    event_id = _qualify(events_client, admin, h)
    assert events_client.post(f"/v1/events/{event_id}/claim", headers=h).status_code == 200
    assert _devices(db, "alice") == {device_id(TOKEN): TOKEN}


def test_an_event_start_is_pushed_to_the_topic_once(
    events_client: TestClient, auth: Mint, fcm: FakeFcm, db: firestore.Client
) -> None:
    now = datetime.now(UTC)
    seed_event(
        db,
        "started",
        now - timedelta(minutes=10),
        now + timedelta(hours=1),
        name="Clover Cup",
        announced_at=None,
    )
    h = auth("alice")
    for _ in range(3):
        assert [e["event_id"] for e in events_client.get("/v1/events", headers=h).json()["events"]] == [
            "started"
        ]
    starts = [m for m in fcm.sends() if m.get("topic") == "live-events"]
    assert starts == [
        {
            "topic": "live-events",
            "notification": {
                "title": "Clover Cup has started",
                "body": f"Join before {now + timedelta(hours=1):%Y-%m-%d %H:%M} UTC",
            },
            "data": {"type": "event_started", "event_id": "started"},
        }
    ]
    assert db.collection("events").document("started").get().to_dict()["announced_at"] is not None  # type: ignore[index]


def test_creating_a_running_event_announces_it(
    events_client: TestClient, admin: dict[str, str], fcm: FakeFcm
) -> None:
    event_id = create_event(events_client, admin, name="Lucky Sprint")
    starts = [m for m in fcm.sends() if m.get("topic") == "live-events"]
    assert [(m["notification"]["title"], m["data"]["event_id"]) for m in starts] == [
        ("Lucky Sprint has started", event_id)
    ]


def test_fcm_endpoint_is_refused_in_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    use_prod_env(monkeypatch)
    Settings()  # the config tests' prod environment starts
    monkeypatch.setenv("POG_FCM_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises((SettingsError, ValidationError), match="POG_FCM_ENDPOINT is set"):
        Settings()
