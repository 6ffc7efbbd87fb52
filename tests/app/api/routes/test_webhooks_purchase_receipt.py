"""A granted purchase pushes the player a receipt, once per grant, after the grant commits; a push that fails
never fails the webhook. A purchase held for review gets its receipt when an admin approves it: once, after
the approval committed, and a failed push never fails the approval. FCM is the fake FCM v1 server on
127.0.0.1 (firebase_admin's own code talks to it); RevenueCat is faked at its REST boundary and Stripe
deliveries are signed as Stripe signs them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.core.metrics import REGISTRY
from app.domain.notifications import Receipt
from tests.app.conftest import Mint
from tests.app.fixtures import events as events_fixtures
from tests.app.fixtures.events import FakeFcm
from tests.app.fixtures.payments import (
    EconClient,
    FakeRevenueCat,
    admin_headers,
    checkout_session,
    coins,
    player,
    post_rc,
    post_stripe,
    rc_event,
    review_items,
    stripe_event,
)

TOKEN = "fcm-token-alice-phone-0123456789abcdef"
BOB_TOKEN = "fcm-token-bob-phone-0123456789abcdef"
VIP = "com.potofgold.vip.monthly"
STARTER_PACK = "starter_pack: 500 coins, 3 x booster_magnet, 2 x booster_shield, 1 x skin_leprechaun"
VIP_RECEIPT = {
    "token": TOKEN,
    "notification": {"title": "Purchase complete", "body": "vip_monthly: 300 coins, vip access"},
    "data": {"type": "purchase_receipt", "product_id": "vip_monthly", "transaction_id": "2000000001"},
}


#: The fake FCM v1 server of tests/app/fixtures/events.py, shared.
fcm = events_fixtures.fcm


@pytest.fixture
def shop(make_econ: EconClient, fcm: FakeFcm) -> TestClient:
    """The economy with push on (the fake FCM endpoint)."""
    return make_econ(fcm_endpoint=fcm.url)


def _register(client: TestClient, headers: dict[str, str], token: str) -> None:
    r = client.post("/v1/me/devices", headers=headers, json={"token": token, "platform": "ios"})
    assert r.status_code == 201, r.text


def _alice_with_a_device(shop: TestClient, auth: Mint) -> dict[str, str]:
    headers = player(shop, auth, "alice", "IE")
    _register(shop, headers, TOKEN)
    _register(shop, player(shop, auth, "bob", "IE"), BOB_TOKEN)  # someone else's device gets nothing
    return headers


def _receipts(fcm: FakeFcm) -> list[dict[str, Any]]:
    return [m for m in fcm.sends() if m.get("data", {}).get("type") == "purchase_receipt"]


def _vip_purchase(revenuecat: FakeRevenueCat) -> dict[str, Any]:
    revenuecat.subscribed("alice", VIP, "2000000001")
    return rc_event("INITIAL_PURCHASE", product_id=VIP, transaction_id="2000000001")


def test_a_revenuecat_purchase_pushes_one_receipt_and_lists_the_grant(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
    revenuecat: FakeRevenueCat,
    db: firestore.Client,
) -> None:
    headers = _alice_with_a_device(shop, auth)
    r = post_rc(shop, _vip_purchase(revenuecat))
    assert (r.status_code, r.json()["outcome"]) == (200, "granted")
    assert _receipts(fcm) == [VIP_RECEIPT]
    assert coins(db, "alice") == 300
    [entry] = shop.get("/v1/me/transactions", headers=headers).json()["entries"]
    assert (entry["kind"], entry["source"], entry["coins"], entry["reason"]) == (
        "grant",
        "purchase",
        300,
        "initial_purchase vip_monthly",
    )


def test_a_replayed_delivery_sends_no_second_receipt(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
    revenuecat: FakeRevenueCat,
) -> None:
    _alice_with_a_device(shop, auth)
    event = _vip_purchase(revenuecat)
    assert post_rc(shop, event).json()["outcome"] == "granted"
    replay = post_rc(shop, event)
    assert (replay.status_code, replay.json()["outcome"]) == (200, "duplicate")
    assert _receipts(fcm) == [VIP_RECEIPT]


def test_a_stripe_checkout_pushes_one_receipt_per_payment_whatever_its_events(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
) -> None:
    _alice_with_a_device(shop, auth)
    session = checkout_session("alice", "pi_receipt_0001", product="starter_pack", amount=299)
    assert (
        post_stripe(shop, stripe_event("checkout.session.completed", session)).json()["outcome"] == "granted"
    )
    # Another event of the same payment (and a redelivery of it) grant nothing, so push nothing.
    again = stripe_event("checkout.session.async_payment_succeeded", session)
    assert post_stripe(shop, again).json()["outcome"] == "duplicate"
    assert post_stripe(shop, again).json()["outcome"] == "duplicate"
    assert _receipts(fcm) == [
        {
            "token": TOKEN,
            "notification": {
                "title": "Purchase complete",
                "body": STARTER_PACK,
            },
            "data": {
                "type": "purchase_receipt",
                "product_id": "starter_pack",
                "transaction_id": "pi_receipt_0001",
            },
        }
    ]


def test_a_held_purchase_sends_no_receipt(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
) -> None:
    _alice_with_a_device(shop, auth)
    # RevenueCat does not know the subscriber: held for review, nothing granted yet.
    assert post_rc(shop, rc_event("INITIAL_PURCHASE", product_id=VIP)).json()["outcome"] == "held"
    assert _receipts(fcm) == []


def _quota_failures() -> float:
    return REGISTRY.get_sample_value("pog_push_failures_total", {"reason": "quota"}) or 0.0


def test_a_refused_receipt_still_answers_200_and_the_grant_stands(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
    revenuecat: FakeRevenueCat,
    db: firestore.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _alice_with_a_device(shop, auth)
    fcm.refuse_all = True
    before = _quota_failures()
    event = _vip_purchase(revenuecat)
    r = post_rc(shop, event)
    assert (r.status_code, r.json()["outcome"]) == (200, "granted")
    assert _receipts(fcm) == [VIP_RECEIPT]  # tried once
    assert _quota_failures() == before + 1
    failed = [rec for rec in caplog.records if getattr(rec, "event", None) == "push_failed"]
    assert [getattr(rec, "push", None) for rec in failed] == ["receipt"]
    assert coins(db, "alice") == 300
    assert post_rc(shop, event).json()["outcome"] == "duplicate"  # RevenueCat's retry changes nothing


def test_fcm_unreachable_still_answers_200_and_the_grant_stands(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
    revenuecat: FakeRevenueCat,
    db: firestore.Client,
) -> None:
    _alice_with_a_device(shop, auth)
    fcm.stop()
    r = post_rc(shop, _vip_purchase(revenuecat))
    assert (r.status_code, r.json()["outcome"]) == (200, "granted")
    assert coins(db, "alice") == 300


class CommittedCoins:
    """Wraps the app's notifier: records the player's coins in Firestore when each receipt is sent."""

    def __init__(self, notifier: Any, db: firestore.Client) -> None:
        self._notifier = notifier
        self._db = db
        self.seen: list[int] = []

    async def purchase_granted(self, uid: str, receipt: Receipt) -> bool:
        self.seen.append(coins(self._db, uid))
        sent: bool = await self._notifier.purchase_granted(uid, receipt)
        return sent


def test_the_receipt_is_sent_after_the_grant_committed(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
    revenuecat: FakeRevenueCat,
    db: firestore.Client,
) -> None:
    _alice_with_a_device(shop, auth)
    container = shop.app.state.container  # type: ignore[attr-defined]
    spy = CommittedCoins(container.notifier, db)
    container.payments.send_receipts_through(spy)
    assert post_rc(shop, _vip_purchase(revenuecat)).json()["outcome"] == "granted"
    assert spy.seen == [300]  # another client already reads the granted coins
    assert _receipts(fcm) == [VIP_RECEIPT]


# --- held purchases: the receipt comes with the approval ---------------------------------------------------


def _held_vip(shop: TestClient, db: firestore.Client) -> str:
    """A VIP purchase whose subscriber RevenueCat does not know: held for review; the item's id."""
    r = post_rc(shop, rc_event("INITIAL_PURCHASE", product_id=VIP, transaction_id="2000000001"))
    assert (r.status_code, r.json()["outcome"]) == (200, "held")
    [item] = review_items(db)
    return str(item["id"])


def _decide(shop: TestClient, auth: Mint, item_id: str, action: str) -> int:
    url = f"/v1/admin/review-queue/{item_id}/{action}"
    return shop.post(url, headers=admin_headers(auth), json={"note": "checked"}).status_code


def test_an_approved_held_purchase_pushes_one_receipt_after_the_approval_committed(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
    db: firestore.Client,
) -> None:
    _alice_with_a_device(shop, auth)
    container = shop.app.state.container  # type: ignore[attr-defined]
    spy = CommittedCoins(container.notifier, db)
    container.grants.send_receipts_through(spy)
    item_id = _held_vip(shop, db)
    assert _receipts(fcm) == []  # nothing while held
    assert coins(db, "alice") == 0
    assert _decide(shop, auth, item_id, "approve") == 200
    assert _decide(shop, auth, item_id, "approve") == 409  # decided already: nothing more
    assert spy.seen == [300]  # sent once, when another client already reads the approved coins
    assert _receipts(fcm) == [VIP_RECEIPT]  # the product, the store transaction, the entitlement


def test_an_approved_held_checkout_pushes_its_receipt_through_the_apps_notifier(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
    db: firestore.Client,
) -> None:
    _alice_with_a_device(shop, auth)
    session = checkout_session("alice", "pi_held_0001", product="coins_100", amount=99, country="BR")
    held = post_stripe(shop, stripe_event("checkout.session.completed", session))
    assert held.json()["outcome"] == "held"  # the card's country is not the player's
    [item] = review_items(db)
    assert _receipts(fcm) == []
    assert _decide(shop, auth, str(item["id"]), "approve") == 200
    assert _decide(shop, auth, str(item["id"]), "approve") == 409
    assert _receipts(fcm) == [
        {
            "token": TOKEN,
            "notification": {"title": "Purchase complete", "body": "coins_100: 100 coins"},
            "data": {"type": "purchase_receipt", "product_id": "coins_100", "transaction_id": "pi_held_0001"},
        }
    ]
    assert coins(db, "alice") == 100


def test_a_rejected_held_purchase_sends_no_receipt(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
    db: firestore.Client,
) -> None:
    _alice_with_a_device(shop, auth)
    item_id = _held_vip(shop, db)
    assert _decide(shop, auth, item_id, "reject") == 200
    assert _decide(shop, auth, item_id, "approve") == 409
    assert _receipts(fcm) == []
    assert coins(db, "alice") == 0


@pytest.mark.parametrize("failure", ["refused", "unreachable"])
def test_a_failing_push_still_approves_and_the_grant_stands(
    shop: TestClient,
    auth: Mint,
    fcm: FakeFcm,
    db: firestore.Client,
    failure: str,
) -> None:
    _alice_with_a_device(shop, auth)
    item_id = _held_vip(shop, db)
    if failure == "refused":
        fcm.refuse_all = True
    else:
        fcm.stop()
    sends_before = len(_receipts(fcm))
    assert _decide(shop, auth, item_id, "approve") == 200
    assert coins(db, "alice") == 300
    assert review_items(db)[0]["status"] == "approved"
    assert len(_receipts(fcm)) == sends_before + (1 if failure == "refused" else 0)  # tried once
    assert _decide(shop, auth, item_id, "approve") == 409
