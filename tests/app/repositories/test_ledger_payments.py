"""Payment records (``/payments``): kept under a keyed hash of the store transaction id, never the id."""

from __future__ import annotations

import base64
import hashlib
import uuid

from fastapi.testclient import TestClient
from google.cloud import firestore

from app.core.crypto import FieldCipher
from tests.app.conftest import Mint
from tests.app.fixtures.payments import (
    AUDIT_KEY,
    admin_headers,
    charge_refunded,
    checkout_session,
    coins,
    player,
    post_stripe,
    stripe_event,
)


def _payments(db: firestore.Client) -> dict[str, dict[str, object]]:
    return {snap.id: snap.to_dict() or {} for snap in db.collection("payments").stream()}


def test_a_payment_record_holds_no_transaction_id_and_refunds_find_it(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    """Failed before issue 18: ``/payments/{sha256(key)}`` kept ``key: stripe:pi_…`` in clear, and its
    unkeyed id let anyone who guessed a transaction id confirm it."""
    player(econ, auth, "alice", "IE")
    pi = f"pi_{uuid.uuid4().hex}"
    assert post_stripe(
        econ, stripe_event("checkout.session.completed", checkout_session("alice", pi))
    ).is_success
    [(doc_id, record)] = _payments(db).items()
    assert doc_id == FieldCipher(base64.b64decode(AUDIT_KEY)).index(f"stripe:{pi}")
    assert pi not in str(record)
    assert "key" not in record
    assert coins(db, "alice") == 100
    assert post_stripe(econ, stripe_event("charge.refunded", charge_refunded(pi))).is_success
    assert coins(db, "alice") == 0  # the refund found its purchase through the hash
    assert _payments(db)[doc_id]["state"] == "revoked"


def test_a_record_written_before_issue_18_is_found_and_moved_to_its_keyed_id(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    """Failed before issue 18: (the read fallback is new) a record at ``sha256(key)`` with the key in clear
    is found by the next event of its payment, which moves it to the keyed id and deletes the old copy."""
    player(econ, auth, "alice", "IE")
    pi = f"pi_{uuid.uuid4().hex}"
    assert post_stripe(
        econ, stripe_event("checkout.session.completed", checkout_session("alice", pi))
    ).is_success
    [(doc_id, record)] = _payments(db).items()
    legacy = hashlib.sha256(f"stripe:{pi}".encode()).hexdigest()
    db.collection("payments").document(legacy).set({**record, "key": f"stripe:{pi}"})
    db.collection("payments").document(doc_id).delete()
    assert post_stripe(econ, stripe_event("charge.refunded", charge_refunded(pi))).is_success
    after = _payments(db)
    assert list(after) == [doc_id]
    assert after[doc_id]["state"] == "revoked"
    assert pi not in str(after[doc_id])


def test_a_held_purchase_keeps_its_payment_key_sealed_and_approval_still_finds_the_payment(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    """Failed before issue 18: ``/review_queue/{id}`` kept ``payment_key: stripe:pi_…`` in clear beside the
    sealed audit entry."""
    player(econ, auth, "alice", "IE")
    pi = f"pi_{uuid.uuid4().hex}"
    session = checkout_session("alice", pi, country="BR")  # a country mismatch: held for review
    assert post_stripe(econ, stripe_event("checkout.session.completed", session)).json()["outcome"] == "held"
    [item] = [snap.to_dict() or {} for snap in db.collection("review_queue").stream()]
    assert pi not in str(item)
    assert "payment_key" not in item
    approved = econ.post(f"/v1/admin/review-queue/{item['id']}/approve", headers=admin_headers(auth))
    assert approved.status_code == 200, approved.text
    assert coins(db, "alice") == 100
    assert post_stripe(econ, stripe_event("charge.refunded", charge_refunded(pi))).is_success
    assert coins(db, "alice") == 0  # the approved grant is tied to its payment: the refund revokes it
