"""50 concurrent claims of one reward: exactly one claim recorded and one grant, with the recording
Granter and with the economy's real grant service (Firestore transaction deduplicating on source_id)."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from google.cloud import firestore

from tests.app.conftest import MakeClient, Mint
from tests.app.events.conftest import ADMIN_NET, RecordingGranter, create_event, play

CLAIMS = 50


def _claim_concurrently(client: TestClient, headers: dict[str, str], event_id: str) -> list[Any]:
    results: list[Any] = []
    barrier = threading.Barrier(CLAIMS)

    def claim() -> None:
        barrier.wait()
        results.append(client.post(f"/v1/events/{event_id}/claim", headers=headers))

    threads = [threading.Thread(target=claim) for _ in range(CLAIMS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _ready(client: TestClient, admin: dict[str, str], h: dict[str, str]) -> str:
    event_id = create_event(client, admin, goal={"metric": "games_played", "target": 1})
    assert client.post(f"/v1/events/{event_id}/join", headers=h).status_code == 200
    play(client, h, [2])
    return event_id


def _claim_docs(db: firestore.Client, event_id: str) -> list[str]:
    return [s.id for s in db.collection("events").document(event_id).collection("reward_claims").stream()]


def test_50_concurrent_claims_grant_once(
    events_client: TestClient,
    admin: dict[str, str],
    auth: Mint,
    granter: RecordingGranter,
    db: firestore.Client,
) -> None:
    h = auth("alice")
    event_id = _ready(events_client, admin, h)
    results = _claim_concurrently(events_client, h, event_id)
    assert [r.status_code for r in results] == [200] * CLAIMS, [
        r.text for r in results if r.status_code != 200
    ]
    bodies = [r.json() for r in results]
    assert sum(b["first_claim"] for b in bodies) == 1
    assert {b["status"] for b in bodies} <= {"granted", "pending"}
    assert len(granter.calls) == 1  # concurrent duplicates do not pile onto the grant in flight
    assert list(granter.granted) == [f"event:{event_id}:alice"]
    assert _claim_docs(db, event_id) == ["alice"]
    final = events_client.post(f"/v1/events/{event_id}/claim", headers=h).json()
    assert (final["status"], final["first_claim"]) == ("granted", False)


def test_50_concurrent_claims_credit_the_wallet_once_with_the_grant_service(
    make_client: MakeClient, admin: dict[str, str], auth: Mint, db: firestore.Client
) -> None:
    client = make_client(admin_ip_allowlist=ADMIN_NET)  # the economy's GrantService, as wired in app.main
    h = auth("alice")
    event_id = _ready(client, admin, h)
    before = client.get("/v1/me/inventory", headers=h).json()
    results = _claim_concurrently(client, h, event_id)
    assert [r.status_code for r in results] == [200] * CLAIMS, [
        r.text for r in results if r.status_code != 200
    ]
    assert sum(r.json()["first_claim"] for r in results) == 1
    final = client.post(f"/v1/events/{event_id}/claim", headers=h).json()
    assert final["status"] == "granted", final
    after = client.get("/v1/me/inventory", headers=h).json()
    assert after["coins"] - before.get("coins", 0) == 250
    assert after["items"].get("booster_magnet", 0) - before.get("items", {}).get("booster_magnet", 0) == 2
    assert _claim_docs(db, event_id) == ["alice"]
