"""POST /v1/webhooks/revenuecat: the shared header, every event type, receipt validation, entitlements."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.services.payments import REVENUECAT_TYPES, PaymentService
from tests.app.conftest import Mint
from tests.app.fixtures.payments import (
    RC_API_KEY,
    RC_AUTH,
    FakeRevenueCat,
    coins,
    entries,
    player,
    post_rc,
    rc_event,
    review_items,
    user_doc,
)


def _error(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


def _markers(db: firestore.Client) -> list[dict[str, Any]]:
    return [d.to_dict() or {} for d in db.collection("processed_sources").stream()]


def test_a_validated_purchase_grants(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    event = rc_event("NON_RENEWING_PURCHASE", transaction_id="1000000001")
    revenuecat.bought("alice", "com.potofgold.coins100", "1000000001")
    r = post_rc(econ, event)
    assert r.status_code == 200
    assert r.json()["outcome"] == "granted", r.text
    assert coins(db, "alice") == 100
    assert revenuecat.calls == ["/v1/subscribers/alice"]
    assert post_rc(econ, event).json()["outcome"] == "duplicate"
    assert revenuecat.calls == ["/v1/subscribers/alice"]  # a redelivery does not ask again
    assert revenuecat.authorizations == [f"Bearer {RC_API_KEY}"]
    assert len(entries(db, "alice", "grant")) == 1


def test_a_purchase_revenuecat_does_not_know_goes_to_review(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    revenuecat.bought("alice", "com.potofgold.coins100", "1000000001")
    r = post_rc(econ, rc_event("NON_RENEWING_PURCHASE", transaction_id="9999"))
    assert r.json()["outcome"] == "held"
    assert coins(db, "alice") == 0
    [item] = review_items(db)
    assert item["reasons"] == ["receipt_mismatch:transaction_not_found"]


def test_an_unknown_subscriber_goes_to_review(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    player(econ, auth, "alice", "IE")
    assert post_rc(econ, rc_event("INITIAL_PURCHASE")).json()["outcome"] == "held"
    assert review_items(db)[0]["reasons"] == ["receipt_mismatch:unknown_subscriber"]


def test_revenuecat_unreachable_is_503_and_the_retry_grants(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    event = rc_event("NON_RENEWING_PURCHASE", transaction_id="1000000002")
    revenuecat.bought("alice", "com.potofgold.coins100", "1000000002")
    revenuecat.status = 500
    _error(post_rc(econ, event), 503, "receipt_validation_unavailable")
    assert coins(db, "alice") == 0
    assert _markers(db) == []
    revenuecat.status = 200
    assert post_rc(econ, event).json()["outcome"] == "granted"
    assert coins(db, "alice") == 100


def test_a_subscription_opens_its_entitlement_and_expiration_ends_it(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    revenuecat.subscribed("alice", "com.potofgold.vip.monthly", "2000000001")
    purchase = rc_event(
        "INITIAL_PURCHASE",
        product_id="com.potofgold.vip.monthly",
        transaction_id="2000000001",
        entitlement_ids=["vip"],
        expiration_at_ms=1_800_000_000_000,
        price=7.99,
    )
    assert post_rc(econ, purchase).json()["outcome"] == "granted"
    economy = user_doc(db, "alice")["economy"]
    assert economy["entitlements"]["vip"]["product_id"] == "vip_monthly"
    assert coins(db, "alice") == 300
    change = rc_event("PRODUCT_CHANGE", entitlement_ids=["vip"], new_product_id="com.potofgold.vip.yearly")
    assert post_rc(econ, change).json()["outcome"] == "entitlements"
    assert user_doc(db, "alice")["economy"]["entitlements"]["vip"]["product_id"] == "com.potofgold.vip.yearly"
    expired = rc_event("EXPIRATION", entitlement_ids=["vip"], expiration_reason="UNSUBSCRIBE")
    assert post_rc(econ, expired).json()["outcome"] == "entitlements"
    assert user_doc(db, "alice")["economy"]["entitlements"] == {}
    assert [e["kind"] for e in entries(db, "alice")] == [
        "grant",
        "entitlement_changed",
        "entitlement_expired",
    ]


def test_a_transfer_moves_entitlements(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    player(econ, auth, "bob", "IE")
    revenuecat.subscribed("alice", "com.potofgold.vip.monthly", "2000000002")
    purchase = rc_event(
        "INITIAL_PURCHASE", product_id="com.potofgold.vip.monthly", transaction_id="2000000002", price=7.99
    )
    assert post_rc(econ, purchase).json()["outcome"] == "granted"
    transfer = rc_event("TRANSFER", uid=None, transferred_from=["alice"], transferred_to=["bob"])
    transfer.pop("app_user_id")
    assert post_rc(econ, transfer).json()["outcome"] == "entitlements"
    assert user_doc(db, "alice")["economy"]["entitlements"] == {}
    assert set(user_doc(db, "bob")["economy"]["entitlements"]) == {"vip"}


def test_a_customer_support_cancellation_is_a_refund(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    revenuecat.bought("alice", "com.potofgold.coins100", "1000000003")
    post_rc(econ, rc_event("NON_RENEWING_PURCHASE", transaction_id="1000000003"))
    other = rc_event("CANCELLATION", transaction_id="1000000003", cancel_reason="UNSUBSCRIBE")
    assert post_rc(econ, other).json()["outcome"] == "recorded"
    assert coins(db, "alice") == 100
    refund = rc_event(
        "CANCELLATION", transaction_id="1000000003", cancel_reason="CUSTOMER_SUPPORT", price=-0.99
    )
    assert post_rc(econ, refund).json()["outcome"] == "revoked"
    assert coins(db, "alice") == 0
    assert user_doc(db, "alice")["economy"]["flags"] == ["refund"]


def test_a_refund_before_its_purchase_is_applied_when_the_purchase_arrives(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    revenuecat.bought("alice", "com.potofgold.coins100", "1000000004")
    refund = rc_event("CANCELLATION", transaction_id="1000000004", cancel_reason="CUSTOMER_SUPPORT")
    assert post_rc(econ, refund).json()["outcome"] == "pending"
    purchase = rc_event("NON_RENEWING_PURCHASE", transaction_id="1000000004")
    assert post_rc(econ, purchase).json()["outcome"] == "revoked"
    assert coins(db, "alice") == 0


@pytest.mark.parametrize("event_type", sorted(REVENUECAT_TYPES))
def test_every_event_type_is_accepted_and_recorded(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat, event_type: str
) -> None:
    player(econ, auth, "alice", "IE")
    event = rc_event(event_type, transaction_id="3000000001")
    revenuecat.bought("alice", "com.potofgold.coins100", "3000000001")
    r = post_rc(econ, event)
    assert r.status_code == 200, r.text
    [marker] = _markers(db)
    assert marker["source_id"] == f"revenuecat:{event['id']}"
    assert post_rc(econ, event).json()["outcome"] == "duplicate"


def test_an_unknown_event_type_is_recorded_too(econ: TestClient, db: firestore.Client) -> None:
    assert post_rc(econ, rc_event("SOMETHING_NEW")).json()["outcome"] == "recorded"


def test_sandbox_events_are_honoured_outside_prod_only(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    revenuecat.bought("alice", "com.potofgold.coins100", "4000000001", sandbox=True)
    event = rc_event("NON_RENEWING_PURCHASE", transaction_id="4000000001", environment="SANDBOX")
    # The prod rules on the same ledger: a sandbox purchase is recorded, not granted.
    container = econ.app.state.container  # type: ignore[attr-defined]
    prod = PaymentService(
        container.grants, container.payments._catalog, container.payments._revenuecat, prod=True
    )
    result = econ.portal.call(prod.revenuecat, {"api_version": "1.0", "event": event})  # type: ignore[union-attr]
    assert result.outcome.value == "recorded"
    assert coins(db, "alice") == 0
    # Outside prod (this app is "test") a sandbox purchase grants.
    event2 = rc_event("NON_RENEWING_PURCHASE", transaction_id="4000000001", environment="SANDBOX")
    assert post_rc(econ, event2).json()["outcome"] == "granted"
    assert coins(db, "alice") == 100


def test_a_sandbox_receipt_for_a_production_event_goes_to_review(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    revenuecat.bought("alice", "com.potofgold.coins100", "4000000002", sandbox=True)
    assert (
        post_rc(econ, rc_event("NON_RENEWING_PURCHASE", transaction_id="4000000002")).json()["outcome"]
        == "held"
    )
    assert review_items(db)[0]["reasons"] == ["receipt_mismatch:environment"]


# --- error paths: 0 grants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_authorization"),
        ("Bearer wrong", "bad_authorization"),
        (RC_AUTH + " ", "bad_authorization"),
        (RC_AUTH[:-1], "bad_authorization"),
        ("", "missing_authorization"),
    ],
)
def test_authorization_errors_grant_nothing(
    econ: TestClient,
    auth: Mint,
    db: firestore.Client,
    revenuecat: FakeRevenueCat,
    header: str | None,
    code: str,
) -> None:
    player(econ, auth, "alice", "IE")
    revenuecat.bought("alice", "com.potofgold.coins100", "5000000001")
    r = post_rc(econ, rc_event("NON_RENEWING_PURCHASE", transaction_id="5000000001"), auth_header=header)
    _error(r, 401, code)
    assert coins(db, "alice") == 0
    assert _markers(db) == []
    assert revenuecat.calls == []


def test_without_a_configured_header_nothing_is_accepted(make_econ: Any) -> None:
    client = make_econ(revenuecat_webhook_auth=None)
    _error(post_rc(client, rc_event("TEST")), 401, "bad_authorization")


def test_bad_bodies_are_400(econ: TestClient, db: firestore.Client) -> None:
    headers = {"Authorization": RC_AUTH, "Content-Type": "application/json"}
    for body in (b"not json", b"[]", b'{"api_version": "1.0"}', b'{"event": {"type": "TEST"}}'):
        _error(econ.post("/v1/webhooks/revenuecat", content=body, headers=headers), 400, "bad_payload")
    refund = rc_event("CANCELLATION", cancel_reason="CUSTOMER_SUPPORT")
    refund.pop("transaction_id")
    _error(post_rc(econ, refund), 400, "bad_payload")
    assert _markers(db) == []


def test_concurrent_deliveries_of_one_purchase_grant_once(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    player(econ, auth, "alice", "IE")
    revenuecat.bought("alice", "com.potofgold.coins100", "6000000001")
    event = rc_event("NON_RENEWING_PURCHASE", transaction_id="6000000001")
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: post_rc(econ, event), range(10)))
    outcomes = [r.json()["outcome"] for r in responses]
    print(f"\n10 concurrent RevenueCat deliveries: {outcomes.count('granted')} grant(s)")
    assert outcomes.count("granted") == 1
    assert outcomes.count("duplicate") == 9
    assert coins(db, "alice") == 100
    assert len(entries(db, "alice")) == 1
