"""Fraud checks hold grants for the review queue; admins approve (applied once) or reject; all audited."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.services.grant_port import GrantOutcome, GrantRequest, GrantSource
from tests.app.conftest import Mint
from tests.app.fixtures.payments import (
    EconClient,
    admin_headers,
    charge_refunded,
    checkout_session,
    coins,
    entries,
    player,
    post_stripe,
    review_items,
    stripe_event,
    user_doc,
)


def _pi() -> str:
    return f"pi_{uuid.uuid4().hex[:24]}"


def _buy(
    client: TestClient, uid: str, country: str = "IE", product: str = "coins_100", amount: int = 99
) -> str:
    session = checkout_session(uid, _pi(), product=product, amount=amount, country=country)
    outcome: str = post_stripe(client, stripe_event("checkout.session.completed", session)).json()["outcome"]
    return outcome


def _held(econ: TestClient, auth: Mint, db: firestore.Client) -> str:
    player(econ, auth, "alice", "IE")
    assert _buy(econ, "alice", country="BR") == "held"
    [item] = review_items(db)
    assert item["reasons"] == ["country_mismatch:BR!=IE"]
    return str(item["id"])


# --- the checks ----------------------------------------------------------------------------------------


def test_purchase_velocity_per_user_holds_the_excess(
    make_econ: EconClient, auth: Mint, db: firestore.Client
) -> None:
    client = make_econ(fraud_purchase_limit_user="3/hour")
    player(client, auth, "alice", "IE")
    outcomes = [_buy(client, "alice") for _ in range(5)]
    assert outcomes == ["granted"] * 3 + ["held"] * 2
    assert coins(db, "alice") == 300
    reasons = {r for item in review_items(db) for r in item["reasons"]}
    assert reasons == {"velocity:purchase:user:3 per 1 hour"}


def test_claim_velocity_per_user_holds_rewards(
    make_econ: EconClient, auth: Mint, db: firestore.Client
) -> None:
    client = make_econ(fraud_claim_limit_user="2/hour")
    player(client, auth, "alice", "IE")
    grants = client.app.state.container.grants  # type: ignore[attr-defined]
    outcomes = []
    for n in range(3):
        request = GrantRequest("alice", GrantSource.EVENT_REWARD, f"event:e1:{n}:alice", coins=10)
        outcomes.append(client.portal.call(grants.grant, request))  # type: ignore[union-attr]
    assert outcomes == [GrantOutcome.GRANTED, GrantOutcome.GRANTED, GrantOutcome.HELD]
    # A redelivery of a counted claim does not count again (and is a duplicate).
    again = GrantRequest("alice", GrantSource.EVENT_REWARD, "event:e1:0:alice", coins=10)
    assert client.portal.call(grants.grant, again) is GrantOutcome.DUPLICATE  # type: ignore[union-attr]


def test_purchase_velocity_per_ip(make_econ: EconClient, auth: Mint, db: firestore.Client) -> None:
    from app.domain.fraud import PurchaseFacts
    from app.services.economy.purchases import Purchase

    client = make_econ(fraud_purchase_limit_ip="2/hour")
    grants = client.app.state.container.grants  # type: ignore[attr-defined]
    results = []
    for uid in ("alice", "bob", "carol"):
        player(client, auth, uid, "IE")
        request = GrantRequest(uid, GrantSource.PURCHASE, f"test:{uuid.uuid4()}", coins=100)
        purchase = Purchase(f"test:{uuid.uuid4()}", "coins_100", PurchaseFacts(99, "IE"), ip="192.0.2.44")
        results.append(client.portal.call(grants.purchase, request, purchase).outcome.value)  # type: ignore[union-attr]
    assert results == ["granted", "granted", "held"]


def test_an_amount_far_above_the_players_history_is_held(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    for _ in range(3):
        assert _buy(econ, "alice") == "granted"  # three purchases at 0.99
    assert _buy(econ, "alice", product="coins_1200", amount=999) == "held"  # > 10x the average
    [item] = review_items(db)
    assert item["reasons"] == ["amount_outlier:999>10x99"]


def test_a_high_refund_ratio_holds_further_purchases(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    payments = [_pi() for _ in range(3)]
    for pi in payments:
        post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("alice", pi)))
    post_stripe(econ, stripe_event("charge.refunded", charge_refunded(payments[0])))
    post_stripe(econ, stripe_event("charge.refunded", charge_refunded(payments[1])))
    assert _buy(econ, "alice") == "held"
    assert review_items(db)[0]["reasons"] == ["refund_ratio:2/3"]


# --- admin routes --------------------------------------------------------------------------------------


def test_admin_lists_approves_once_and_everything_is_audited(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    item_id = _held(econ, auth, db)
    admin = admin_headers(auth)
    listed = econ.get("/v1/admin/review-queue", headers=admin).json()
    assert [i["id"] for i in listed["items"]] == [item_id]
    assert listed["items"][0]["reasons"] == ["country_mismatch:BR!=IE"]
    r = econ.post(
        f"/v1/admin/review-queue/{item_id}/approve", headers=admin, json={"note": "called the player"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["decided_by"] == "root"
    assert coins(db, "alice") == 100
    again = econ.post(f"/v1/admin/review-queue/{item_id}/approve", headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_decided"
    assert coins(db, "alice") == 100
    assert [e["kind"] for e in entries(db, "alice")] == ["hold", "grant"]
    assert entries(db, "alice")[1]["actor"] == "admin:root"
    [action] = entries(db, "admin:root")
    assert action["kind"] == "review_approve"
    assert action["review_id"] == item_id
    assert econ.get("/v1/admin/review-queue", headers=admin).json()["items"] == []
    approved = econ.get("/v1/admin/review-queue", headers=admin, params={"status": "approved"}).json()
    assert [i["id"] for i in approved["items"]] == [item_id]
    # The payment is granted now: its redelivery is a duplicate.
    assert user_doc(db, "alice")["economy"]["purchases"] == 1


def test_concurrent_approvals_apply_the_grant_once(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    item_id = _held(econ, auth, db)
    admin = admin_headers(auth)
    with ThreadPoolExecutor(6) as pool:
        statuses = list(
            pool.map(
                lambda _: econ.post(f"/v1/admin/review-queue/{item_id}/approve", headers=admin).status_code,
                range(6),
            )
        )
    print(f"\n6 concurrent approvals: {sorted(statuses)}")
    assert statuses.count(200) == 1
    assert set(statuses) <= {200, 409, 503}
    assert coins(db, "alice") == 100
    assert len(entries(db, "alice", "grant")) == 1


def test_reject_drops_the_grant_and_is_audited(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    item_id = _held(econ, auth, db)
    admin = admin_headers(auth)
    r = econ.post(f"/v1/admin/review-queue/{item_id}/reject", headers=admin, json={"note": "stolen card"})
    assert r.status_code == 200
    assert r.json()["status"] == "rejected"
    assert coins(db, "alice") == 0
    assert econ.post(f"/v1/admin/review-queue/{item_id}/approve", headers=admin).status_code == 409
    assert [e["kind"] for e in entries(db, "alice")] == ["hold", "hold_rejected"]
    assert [e["kind"] for e in entries(db, "admin:root")] == ["review_reject"]


def test_a_refund_while_held_voids_the_item(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    session = checkout_session("alice", pi, country="BR")
    assert post_stripe(econ, stripe_event("checkout.session.completed", session)).json()["outcome"] == "held"
    post_stripe(econ, stripe_event("charge.refunded", charge_refunded(pi)))
    [item] = review_items(db)
    assert item["status"] == "void"
    r = econ.post(f"/v1/admin/review-queue/{item['id']}/approve", headers=admin_headers(auth))
    assert r.status_code == 409
    assert coins(db, "alice") == 0


def test_approving_for_a_player_who_does_not_exist_is_409(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("ghost", _pi())))
    [item] = review_items(db)
    r = econ.post(f"/v1/admin/review-queue/{item['id']}/approve", headers=admin_headers(auth))
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "user_missing"
    r = econ.post(f"/v1/admin/review-queue/{item['id']}/reject", headers=admin_headers(auth))
    assert r.status_code == 200


def test_unknown_item_is_404(econ: TestClient, auth: Mint) -> None:
    for action in ("approve", "reject"):
        r = econ.post(f"/v1/admin/review-queue/{'0' * 24}/{action}", headers=admin_headers(auth))
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "review_item_not_found"


@pytest.mark.parametrize(
    ("path", "params"),
    [("/v1/admin/review-queue", {"status": "nope"}), ("/v1/admin/review-queue", {"limit": 0})],
)
def test_bad_list_query_is_422(econ: TestClient, auth: Mint, path: str, params: dict[str, Any]) -> None:
    assert econ.get(path, headers=admin_headers(auth), params=params).status_code == 422


def test_bad_item_id_and_body_are_422(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    item_id = _held(econ, auth, db)
    admin = admin_headers(auth)
    assert econ.post("/v1/admin/review-queue/NOT-AN-ID/approve", headers=admin).status_code == 422
    r = econ.post(f"/v1/admin/review-queue/{item_id}/approve", headers=admin, json={"coins": 10**9})
    assert r.status_code == 422
    r = econ.post(f"/v1/admin/review-queue/{item_id}/approve", headers=admin, json={"note": "x" * 501})
    assert r.status_code == 422
    assert coins(db, "alice") == 0


def test_unknown_cursor_is_404(econ: TestClient, auth: Mint) -> None:
    r = econ.get("/v1/admin/review-queue", headers=admin_headers(auth), params={"cursor": "f" * 24})
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("player", "forbidden"),
        ("no_second_factor", "second_factor_required"),
        ("wrong_ip", "ip_not_allowed"),
    ],
)
def test_admin_routes_refuse_non_admins(
    econ: TestClient, auth: Mint, db: firestore.Client, who: str, code: str
) -> None:
    item_id = _held(econ, auth, db)
    headers = {
        "player": {**auth("alice"), "CF-Connecting-IP": "198.51.100.10"},
        "no_second_factor": {**auth("root", role="admin"), "CF-Connecting-IP": "198.51.100.10"},
        "wrong_ip": admin_headers(auth) | {"CF-Connecting-IP": "192.0.2.1"},
    }[who]
    requests = [
        econ.get("/v1/admin/review-queue", headers=headers),
        econ.post(f"/v1/admin/review-queue/{item_id}/approve", headers=headers),
        econ.post(f"/v1/admin/review-queue/{item_id}/reject", headers=headers),
    ]
    assert [r.status_code for r in requests] == [403, 403, 403]
    assert {r.json()["error"]["code"] for r in requests} == {code}
    assert coins(db, "alice") == 0
    assert review_items(db)[0]["status"] == "pending"


def test_admin_routes_need_a_token(econ: TestClient) -> None:
    assert econ.get("/v1/admin/review-queue").status_code == 401
    assert econ.post(f"/v1/admin/review-queue/{'0' * 24}/approve").status_code == 401
