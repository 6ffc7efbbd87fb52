"""Partial refunds (Stripe and RevenueCat) and RevenueCat's REFUND_REVERSED.

The rule: a partial refund takes back the refunded share of the coins, rounded up, and no items, and flags
the player ``refund``; a full refund or a dispute takes everything; a reversal gives back what the refund
took, once. Each goes through the grant service: one audit entry, debt instead of a negative balance,
deduplicated on the event id, whatever order the events arrive in.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from tests.app.conftest import Mint
from tests.app.fixtures.payments import (
    FakeRevenueCat,
    admin_headers,
    charge_refunded,
    checkout_session,
    coins,
    entries,
    player,
    post_rc,
    post_stripe,
    rc_event,
    review_items,
    stripe_event,
    user_doc,
)

STARTER_ITEMS = {"booster_magnet": 3, "booster_shield": 2, "skin_leprechaun": 1}


def _pi() -> str:
    return f"pi_{uuid.uuid4().hex[:24]}"


def _refund(pi: str, refunded: int, amount: int = 99) -> bytes:
    return stripe_event("charge.refunded", charge_refunded(pi, amount=amount, refunded=refunded))


# --- Stripe --------------------------------------------------------------------------------------------


def test_a_partial_refund_takes_the_refunded_share_of_the_coins_rounded_up_and_no_items(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    session = checkout_session("alice", pi, product="starter_pack", amount=299)
    assert (
        post_stripe(econ, stripe_event("checkout.session.completed", session)).json()["outcome"] == "granted"
    )
    r = post_stripe(econ, _refund(pi, refunded=100, amount=299))
    assert r.json()["outcome"] == "revoked"
    doc = user_doc(db, "alice")
    assert doc["inventory"] == {"coins": 500 - 168, "items": STARTER_ITEMS}  # ceil(500 x 100/299) = 168
    assert doc["economy"]["flags"] == ["refund"]
    assert doc["economy"]["refunds"] == 1
    [revoke] = entries(db, "alice", "revoke")
    assert revoke["coins"] == -168
    assert revoke["items"] == {}
    assert revoke["balance_coins"] == 332
    assert revoke["reason"] == "partial refund 100/299"


def test_running_partial_refunds_take_only_the_difference_and_a_full_refund_the_rest(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    session = checkout_session("alice", pi, product="starter_pack", amount=299)
    post_stripe(econ, stripe_event("checkout.session.completed", session))
    first, second = _refund(pi, refunded=100, amount=299), _refund(pi, refunded=200, amount=299)
    assert post_stripe(econ, second).json()["outcome"] == "revoked"  # 200 of 299: ceil(334.4) = 335
    assert coins(db, "alice") == 165
    # Stripe's amount_refunded is the running total: the earlier, smaller one arriving late changes nothing.
    assert post_stripe(econ, first).json()["outcome"] == "duplicate"
    assert post_stripe(econ, second).json()["outcome"] == "duplicate"
    assert coins(db, "alice") == 165
    assert post_stripe(econ, _refund(pi, refunded=299, amount=299)).json()["outcome"] == "revoked"
    doc = user_doc(db, "alice")
    assert doc["inventory"] == {"coins": 0, "items": {}}
    assert doc["economy"]["refunds"] == 1  # one refunded payment, however many refund events
    assert [(e["coins"], e["items"]) for e in entries(db, "alice", "revoke")] == [
        (-335, {}),
        (-165, {k: -v for k, v in STARTER_ITEMS.items()}),
    ]


def test_a_partial_refund_of_spent_coins_becomes_debt(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("alice", pi)))
    db.collection("users").document("alice").update({"inventory.coins": 10})  # spent 90 in the game
    post_stripe(econ, _refund(pi, refunded=49))
    doc = user_doc(db, "alice")
    assert doc["inventory"]["coins"] == 0
    assert doc["economy"]["debt"]["coins"] == 40  # 50 taken: 10 there, 40 owed
    assert set(doc["economy"]["flags"]) == {"refund", "debt"}


def test_a_partial_refund_before_its_purchase_is_taken_when_the_purchase_arrives(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    assert post_stripe(econ, _refund(pi, refunded=49)).json()["outcome"] == "pending"
    purchase = stripe_event("checkout.session.completed", checkout_session("alice", pi))
    assert post_stripe(econ, purchase).json()["outcome"] == "granted"
    assert coins(db, "alice") == 50
    assert [(e["kind"], e["coins"]) for e in entries(db, "alice")] == [("grant", 100), ("revoke", -50)]
    assert post_stripe(econ, purchase).json()["outcome"] == "duplicate"
    assert coins(db, "alice") == 50


def test_a_partial_refund_while_held_keeps_the_item_and_approval_grants_the_rest(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    session = checkout_session("alice", pi, country="BR")  # country mismatch: held
    assert post_stripe(econ, stripe_event("checkout.session.completed", session)).json()["outcome"] == "held"
    assert post_stripe(econ, _refund(pi, refunded=49)).json()["outcome"] == "recorded"
    [item] = review_items(db)
    assert item["status"] == "pending"
    r = econ.post(f"/v1/admin/review-queue/{item['id']}/approve", headers=admin_headers(auth))
    assert r.status_code == 200, r.text
    assert coins(db, "alice") == 50
    assert [e["kind"] for e in entries(db, "alice")] == ["hold", "revoke_noted", "grant", "revoke"]


def test_a_charge_with_nothing_refunded_is_recorded_only(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("alice", pi)))
    assert post_stripe(econ, _refund(pi, refunded=0)).json()["outcome"] == "recorded"
    assert coins(db, "alice") == 100


# --- RevenueCat ------------------------------------------------------------------------------------------


def _rc_purchase(revenuecat: FakeRevenueCat, uid: str, transaction: str) -> dict[str, Any]:
    revenuecat.bought(uid, "com.potofgold.coins100", transaction)
    return rc_event("NON_RENEWING_PURCHASE", uid, transaction_id=transaction, price=0.99)


def _rc_refund(uid: str, transaction: str, price: float = -0.99) -> dict[str, Any]:
    return rc_event(
        "CANCELLATION", uid, transaction_id=transaction, cancel_reason="CUSTOMER_SUPPORT", price=price
    )


def _rc_reversal(uid: str, transaction: str) -> dict[str, Any]:
    return rc_event("REFUND_REVERSED", uid, transaction_id=transaction, price=0.99)


def test_a_revenuecat_partial_refund_takes_its_share_of_the_purchase_price(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    assert post_rc(econ, _rc_purchase(revenuecat, "alice", "7000000001")).json()["outcome"] == "granted"
    refund = _rc_refund("alice", "7000000001", price=-0.49)
    assert post_rc(econ, refund).json()["outcome"] == "revoked"
    assert coins(db, "alice") == 50  # ceil(100 x 49/99) = 50 taken
    assert post_rc(econ, refund).json()["outcome"] == "duplicate"
    assert coins(db, "alice") == 50


def test_a_refund_reversal_gives_back_what_the_refund_took_once(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    player(econ, auth, "alice", "IE")
    post_rc(econ, _rc_purchase(revenuecat, "alice", "7000000002"))
    db.collection("users").document("alice").update({"inventory.coins": 30})  # spent 70
    assert post_rc(econ, _rc_refund("alice", "7000000002")).json()["outcome"] == "revoked"
    assert user_doc(db, "alice")["economy"]["debt"]["coins"] == 70
    reversal = _rc_reversal("alice", "7000000002")
    assert post_rc(econ, reversal).json()["outcome"] == "restored"
    doc = user_doc(db, "alice")
    assert doc["inventory"]["coins"] == 30  # the 100 paid the 70 of debt first
    assert doc["economy"]["debt"]["coins"] == 0
    assert doc["economy"]["refunds"] == 0
    # Redelivered, or reported again under another event id: nothing more is given.
    assert post_rc(econ, reversal).json()["outcome"] == "duplicate"
    assert post_rc(econ, _rc_reversal("alice", "7000000002")).json()["outcome"] == "recorded"
    assert coins(db, "alice") == 30
    kinds = [(e["kind"], e["coins"]) for e in entries(db, "alice")]
    assert kinds == [("grant", 100), ("revoke", -100), ("revoke_reversed", 100), ("revoke_noted", 0)]


def test_a_reversal_does_not_undo_a_chargeback(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat
) -> None:
    """A dispute still in force keeps everything taken; only the refund is lifted."""
    player(econ, auth, "alice", "IE")
    pi = _pi()
    post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("alice", pi)))
    post_stripe(econ, stripe_event("charge.refunded", charge_refunded(pi)))
    grants = econ.app.state.container.grants  # type: ignore[attr-defined]
    from app.services.economy.revocation_share import Revocation, RevocationKind

    dispute = Revocation(RevocationKind.chargeback)
    econ.portal.call(grants.revoke, "test:dispute", f"stripe:{pi}", dispute)  # type: ignore[union-attr]
    reversal = Revocation(RevocationKind.refund_reversed)
    result = econ.portal.call(grants.revoke, "test:reversal", f"stripe:{pi}", reversal)  # type: ignore[union-attr]
    assert result.outcome.value == "recorded"
    assert coins(db, "alice") == 0


def test_a_reversal_without_a_transaction_is_400(econ: TestClient, db: firestore.Client) -> None:
    reversal = _rc_reversal("alice", "7000000003")
    reversal.pop("transaction_id")
    r = post_rc(econ, reversal)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "bad_payload"
    assert list(db.collection("processed_sources").stream()) == []


_RC_STEPS = ("purchase", "refund", "reversal")


def _rc_orderings() -> list[tuple[str, ...]]:
    return [
        order
        for size in (1, 2, 3)
        for subset in itertools.combinations(_RC_STEPS, size)
        for order in itertools.permutations(subset)
    ]


@pytest.mark.parametrize("steps", _rc_orderings(), ids="-".join)
def test_every_order_of_purchase_refund_and_reversal_ends_as_revenuecat_says(
    econ: TestClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat, steps: tuple[str, ...]
) -> None:
    """The store's state: purchased, and refunded unless the refund was reversed (a reversal that arrives
    first cancels the refund it reverses)."""
    player(econ, auth, "alice", "IE")
    events = {
        "purchase": _rc_purchase(revenuecat, "alice", "7100000001"),
        "refund": _rc_refund("alice", "7100000001"),
        "reversal": _rc_reversal("alice", "7100000001"),
    }
    for step in steps:
        assert post_rc(econ, events[step]).status_code == 200
    for step in steps:
        assert post_rc(econ, events[step]).json()["outcome"] == "duplicate"
    refunded = "refund" in steps and "reversal" not in steps
    want = 100 if "purchase" in steps and not refunded else 0
    assert coins(db, "alice") == want
    assert user_doc(db, "alice").get("economy", {}).get("debt", {}).get("coins", 0) == 0
    assert sum(e["coins"] for e in entries(db, "alice")) == want
