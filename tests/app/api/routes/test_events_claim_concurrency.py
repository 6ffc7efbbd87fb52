"""50 concurrent claims of one reward: exactly one claim recorded and one grant, with the recording
Granter and with the economy's real grant service (Firestore transaction deduplicating on source_id); and
an admin's change of the rewards racing a claim."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi.testclient import TestClient
from google.cloud import firestore

from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.events import ADMIN_NET, RecordingGranter, qualified_event

CLAIMS = 50


#: How long the rewards change waits after the claim is sent, one race each: from together to after the
#: claim's own transaction, so the change lands before, inside and after the claim's window.
CHANGE_DELAYS_S = (0.0, 0.001, 0.002, 0.003, 0.004, 0.006, 0.01, 0.03)


def _race(*requests: tuple[float, Callable[[], Any]]) -> list[Any]:
    """Each request in its own thread, released together and sent after its delay; the answers in order."""
    answers: list[Any] = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def run(i: int) -> None:
        delay, request = requests[i]
        barrier.wait()
        time.sleep(delay)  # on purpose: staggers the racing requests, not a wait for something
        answers[i] = request()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return answers


def _claim_concurrently(client: TestClient, headers: dict[str, str], event_id: str) -> list[Any]:
    claim = partial(client.post, f"/v1/events/{event_id}/claim", headers=headers)
    return _race(*[(0.0, claim)] * CLAIMS)


def _claims(db: firestore.Client, event_id: str) -> dict[str, dict[str, Any]]:
    claims = db.collection("events").document(event_id).collection("reward_claims").stream()
    return {s.id: s.to_dict() or {} for s in claims}


def test_50_concurrent_claims_grant_once(
    events_client: TestClient,
    admin: dict[str, str],
    auth: Mint,
    granter: RecordingGranter,
    db: firestore.Client,
) -> None:
    h = auth("alice")
    event_id = qualified_event(events_client, admin, h)
    results = _claim_concurrently(events_client, h, event_id)
    assert [r.status_code for r in results] == [200] * CLAIMS, [
        r.text for r in results if r.status_code != 200
    ]
    bodies = [r.json() for r in results]
    assert sum(b["first_claim"] for b in bodies) == 1
    assert {b["status"] for b in bodies} <= {"granted", "pending"}
    assert len(granter.calls) == 1  # concurrent duplicates do not pile onto the grant in flight
    assert list(granter.granted) == [f"event:{event_id}:alice"]
    assert list(_claims(db, event_id)) == ["alice"]
    final = events_client.post(f"/v1/events/{event_id}/claim", headers=h).json()
    assert (final["status"], final["first_claim"]) == ("granted", False)


def test_50_concurrent_claims_credit_the_wallet_once_with_the_grant_service(
    make_client: MakeClient, admin: dict[str, str], auth: Mint, db: firestore.Client
) -> None:
    client = make_client(admin_ip_allowlist=ADMIN_NET)  # the economy's GrantService, as wired in app.main
    h = auth("alice")
    event_id = qualified_event(client, admin, h)
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
    assert list(_claims(db, event_id)) == ["alice"]


def test_a_rewards_change_racing_a_claim_never_leaves_the_claim_on_other_rewards(
    events_client: TestClient,
    admin: dict[str, str],
    auth: Mint,
    granter: RecordingGranter,
    db: firestore.Client,
) -> None:
    """Either the claim commits first and the change is refused (409 rewards_claimed), or the change commits
    first and the claim records and grants the new rewards: the two transactions read each other's writes."""
    for n, delay in enumerate(CHANGE_DELAYS_S):
        player = f"racer{n}"
        h = auth(player)
        event_id = qualified_event(events_client, admin, h)
        new_coins = 400 + n
        change = partial(
            events_client.patch,
            f"/v1/admin/events/{event_id}",
            headers=admin,
            json={"rewards": {"coins": new_coins}},
        )
        claim_it = partial(events_client.post, f"/v1/events/{event_id}/claim", headers=h)
        patch, claim = _race((delay, change), (0.0, claim_it))
        assert claim.status_code == 200, claim.text
        event = db.collection("events").document(event_id).get().to_dict() or {}
        record = _claims(db, event_id)[player]
        if patch.status_code == 200:
            assert (record["coins"], record["items"]) == (new_coins, {}), record
        else:
            assert (patch.status_code, patch.json()["error"]["code"]) == (409, "rewards_claimed"), patch.text
            assert (record["coins"], record["items"]) == (250, {"booster_magnet": 2}), record
        assert event["rewards"] == {"coins": record["coins"], "items": record["items"]}
        granted = granter.granted[f"event:{event_id}:{player}"]
        assert (granted.coins, granted.items) == (record["coins"], record["items"])
