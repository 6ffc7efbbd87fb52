"""POST /v1/webhooks/stripe: signatures, grants, revocations, duplicates, any order of arrival."""

from __future__ import annotations

import itertools
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import hypothesis
import orjson
import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore
from hypothesis import HealthCheck
from hypothesis import strategies as st

from app.core.crypto import FieldCipher, Sealed
from tests.app.conftest import Mint
from tests.app.fixtures.payments import (
    AUDIT_KEY,
    STRIPE_OLD_SECRET,
    STRIPE_SECRET,
    EconClient,
    charge_refunded,
    checkout_session,
    coins,
    dispute,
    entries,
    player,
    post_stripe,
    review_items,
    sign,
    stripe_event,
    user_doc,
)


def _pi() -> str:
    return f"pi_{uuid.uuid4().hex[:24]}"


def _error(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


def test_a_paid_checkout_grants_the_product_once_with_an_encrypted_audit_entry(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    r = post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("alice", pi)))
    assert r.status_code == 200, r.text
    assert r.json() == {"received": True, "outcome": "granted"}
    assert coins(db, "alice") == 100
    [grant] = entries(db, "alice", "grant")
    assert grant["coins"] == 100
    assert grant["balance_coins"] == 100
    assert pi.encode() not in orjson.dumps(grant, default=str)  # the payment intent is only in `sealed`
    import base64

    cipher = FieldCipher(base64.b64decode(AUDIT_KEY))
    opened = cipher.open(Sealed.from_doc(grant["sealed"]), grant["id"])
    assert opened["payment_intent"] == pi
    assert opened["email"] == "alice@example.com"


def test_starter_pack_grants_coins_and_items(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    player(econ, auth, "alice", "IE")
    session = checkout_session("alice", _pi(), product="starter_pack", amount=299)
    assert (
        post_stripe(econ, stripe_event("checkout.session.completed", session)).json()["outcome"] == "granted"
    )
    inventory = user_doc(db, "alice")["inventory"]
    assert inventory == {
        "coins": 500,
        "items": {"booster_magnet": 3, "booster_shield": 2, "skin_leprechaun": 1},
    }
    r = econ.get("/v1/me/inventory", headers=auth("alice"))
    assert r.json()["coins"] == 500


def test_a_grant_invalidates_the_cached_inventory(econ: TestClient, auth: Mint) -> None:
    headers = player(econ, auth, "alice", "IE")
    assert econ.get("/v1/me/inventory", headers=headers).json()["coins"] == 0  # cached now
    post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("alice", _pi())))
    assert econ.get("/v1/me/inventory", headers=headers).json()["coins"] == 100


def test_price_ids_map_to_products(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    player(econ, auth, "alice", "IE")
    session = checkout_session("alice", _pi(), amount=499)
    session["metadata"] = {"price_id": "price_coins_550"}
    assert (
        post_stripe(econ, stripe_event("checkout.session.completed", session)).json()["outcome"] == "granted"
    )
    assert coins(db, "alice") == 550


def test_an_unpaid_checkout_grants_only_when_the_async_payment_succeeds(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    unpaid = checkout_session("alice", pi, status="unpaid")
    assert (
        post_stripe(econ, stripe_event("checkout.session.completed", unpaid)).json()["outcome"] == "recorded"
    )
    assert coins(db, "alice") == 0
    paid = {**unpaid, "payment_status": "paid"}
    r = post_stripe(econ, stripe_event("checkout.session.async_payment_succeeded", paid))
    assert r.json()["outcome"] == "granted"
    assert coins(db, "alice") == 100


def test_two_events_of_one_payment_grant_once(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    player(econ, auth, "alice", "IE")
    session = checkout_session("alice", _pi())
    assert (
        post_stripe(econ, stripe_event("checkout.session.completed", session)).json()["outcome"] == "granted"
    )
    r = post_stripe(econ, stripe_event("checkout.session.async_payment_succeeded", session))
    assert r.json()["outcome"] == "duplicate"
    assert coins(db, "alice") == 100


def test_an_amount_that_does_not_match_the_catalog_is_held(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    session = checkout_session("alice", _pi(), amount=1)
    assert post_stripe(econ, stripe_event("checkout.session.completed", session)).json()["outcome"] == "held"
    assert coins(db, "alice") == 0
    [item] = review_items(db)
    assert item["reasons"] == ["amount_mismatch:1 usd"]
    assert item["status"] == "pending"


def test_other_event_types_are_recorded(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    r = post_stripe(econ, stripe_event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert r.json()["outcome"] == "recorded"
    assert len(list(db.collection("processed_sources").stream())) == 1


def test_an_unknown_player_or_product_is_recorded_without_a_grant(
    econ: TestClient, auth: Mint, db: firestore.Client, caplog: pytest.LogCaptureFixture
) -> None:
    session = checkout_session("alice", _pi(), product="no_such_product")
    assert (
        post_stripe(econ, stripe_event("checkout.session.completed", session)).json()["outcome"] == "recorded"
    )
    held = post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("ghost", _pi())))
    assert held.json()["outcome"] == "held"  # a valid id with no profile: for review
    assert review_items(db)[0]["reasons"] == ["unknown_user"]
    # The log entries the payment-failures and suspicious-activity alerts count (monitoring/metrics/).
    logged = [
        (getattr(r, "event", None), getattr(r, "reason", getattr(r, "rule", None))) for r in caplog.records
    ]
    assert ("payment_failed", "unmatched") in logged
    assert ("fraud_flagged", "unknown_user") in logged


# --- authenticity: 0 grants for anything not signed right and current ---------------------------------


_PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


def _mutations(body: bytes, now: int) -> st.SearchStrategy[tuple[str, bytes, str | None]]:
    """(label, body, header) deliveries that must all be refused."""
    good_sig = sign(body, timestamp=now)
    return st.one_of(
        st.tuples(st.just("missing"), st.just(body), st.just("")),
        st.tuples(
            st.just("wrong_secret"),
            st.just(body),
            st.text(min_size=1, max_size=40).map(lambda s: sign(body, "whsec_" + s, now)),
        ),
        st.tuples(
            st.just("tampered_body"),
            st.binary(min_size=1, max_size=8).map(lambda extra: body[:-1] + extra + b"}"),
            st.just(good_sig),
        ),
        st.tuples(
            st.just("stale"),
            st.just(body),
            st.integers(301, 10**7).map(lambda age: sign(body, timestamp=now - age)),
        ),
        st.tuples(
            st.just("future"),
            st.just(body),
            st.integers(400, 10**7).map(lambda ahead: sign(body, timestamp=now + ahead)),
        ),
        st.tuples(st.just("garbage_header"), st.just(body), st.text(_PRINTABLE, min_size=1, max_size=200)),
        st.tuples(
            st.just("other_scheme"),
            st.just(body),
            st.just(good_sig.replace("v1=", "v0=")),
        ),
        st.tuples(
            st.just("timestamp_swapped"),
            st.just(body),
            st.integers(1, 299).map(lambda d: good_sig.replace(f"t={now}", f"t={now - d}")),
        ),
    )


def test_bad_signatures_tampered_bodies_stale_and_future_timestamps_grant_nothing(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    body = stripe_event("checkout.session.completed", checkout_session("alice", _pi()))
    now = int(time.time())
    labels: dict[str, int] = {}

    @hypothesis.settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @hypothesis.given(case=_mutations(body, now))
    def deliver(case: tuple[str, bytes, str | None]) -> None:
        label, payload, header = case
        headers = {"Content-Type": "application/json"}
        if header:
            headers["Stripe-Signature"] = header
        r = econ.post("/v1/webhooks/stripe", content=payload, headers=headers)
        assert r.status_code == 401, (label, r.status_code, r.text)
        labels[label] = labels.get(label, 0) + 1

    deliver()
    total = sum(labels.values())
    print(f"\n{total} bad deliveries ({labels}), grants: {coins(db, 'alice')} coins")
    assert total >= 150
    assert coins(db, "alice") == 0
    assert list(db.collection("processed_sources").stream()) == []
    assert entries(db, "alice") == []


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_signature"),
        ("t=1,v1=deadbeef", "bad_signature"),
        ("v1=deadbeef", "bad_signature"),
        ("x" * 3000, "bad_signature"),
    ],
)
def test_signature_errors(econ: TestClient, header: str | None, code: str) -> None:
    body = stripe_event("customer.created", {"id": "cus_1"})
    headers = {} if header is None else {"Stripe-Signature": header}
    _error(econ.post("/v1/webhooks/stripe", content=body, headers=headers), 401, code)


def test_stale_and_future_signatures_are_refused(econ: TestClient) -> None:
    body = stripe_event("customer.created", {"id": "cus_1"})
    now = int(time.time())
    # A minute past the 300 s tolerance each way: a slow machine's seconds between here and the check
    # must not move a timestamp back inside it.
    _error(post_stripe(econ, body, sign(body, timestamp=now - 360)), 401, "stale_signature")
    _error(post_stripe(econ, body, sign(body, timestamp=now + 360)), 401, "future_signature")
    assert post_stripe(econ, body, sign(body, timestamp=now + 60)).status_code == 200  # clock skew


def test_without_a_configured_secret_nothing_verifies(make_econ: EconClient) -> None:
    client = make_econ(stripe_webhook_secret=None)
    body = stripe_event("customer.created", {"id": "cus_1"})
    _error(post_stripe(client, body), 401, "bad_signature")


def test_an_authentic_body_that_is_not_an_event_is_400(econ: TestClient) -> None:
    for body, code in [(b"[1, 2]", "bad_payload"), (b'{"id": "evt_1"}', "bad_payload")]:
        _error(post_stripe(econ, body), 400, code)
    _error(post_stripe(econ, b"not json"), 400, "bad_payload")


def test_refund_without_payment_reference_is_400(econ: TestClient) -> None:
    body = stripe_event("charge.refunded", {"object": "charge", "refunded": True})
    _error(post_stripe(econ, body), 400, "bad_payload")
    body = stripe_event("charge.dispute.created", {"object": "dispute"})
    _error(post_stripe(econ, body), 400, "bad_payload")


def test_secret_rotation_accepts_either_secret_and_several_signatures(
    make_econ: EconClient, auth: Mint, db: firestore.Client
) -> None:
    client = make_econ(stripe_webhook_secret=f"{STRIPE_SECRET},{STRIPE_OLD_SECRET}")
    player(client, auth, "alice", "IE")
    now = int(time.time())
    body = stripe_event("checkout.session.completed", checkout_session("alice", _pi()))
    # Stripe during a rotation: one timestamp, a v1 signature per secret.
    old = sign(body, STRIPE_OLD_SECRET, now)
    new = sign(body, STRIPE_SECRET, now)
    both = f"{new},{old.split(',', 1)[1]}"
    assert post_stripe(client, body, both).json()["outcome"] == "granted"
    body2 = stripe_event("checkout.session.completed", checkout_session("alice", _pi()))
    assert post_stripe(client, body2, sign(body2, STRIPE_OLD_SECRET, now)).json()["outcome"] == "granted"
    assert coins(db, "alice") == 200
    body3 = stripe_event("checkout.session.completed", checkout_session("alice", _pi()))
    _error(post_stripe(client, body3, sign(body3, "whsec_retired", now)), 401, "bad_signature")


# --- duplicates, concurrency, crashes -------------------------------------------------------------------


def test_n_sequential_deliveries_grant_once(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    player(econ, auth, "alice", "IE")
    body = stripe_event("checkout.session.completed", checkout_session("alice", _pi()))
    outcomes = [post_stripe(econ, body).json()["outcome"] for _ in range(10)]
    print(f"\n10 sequential deliveries: {outcomes.count('granted')} grant(s)")
    assert outcomes == ["granted"] + ["duplicate"] * 9
    assert coins(db, "alice") == 100
    assert len(entries(db, "alice", "grant")) == 1


def test_n_concurrent_deliveries_to_two_instances_grant_once(
    make_econ: EconClient, auth: Mint, db: firestore.Client
) -> None:
    """Two app instances (two processes' worth of state) racing: the transaction keeps it to one grant."""
    instances = [make_econ(), make_econ()]
    player(instances[0], auth, "alice", "IE")
    body = stripe_event("checkout.session.completed", checkout_session("alice", _pi()))
    n = 12
    with ThreadPoolExecutor(n) as pool:
        responses = list(pool.map(lambda i: post_stripe(instances[i % 2], body), range(n)))
    statuses = [r.status_code for r in responses]
    outcomes = [r.json().get("outcome") for r in responses if r.status_code == 200]
    print(f"\n{n} concurrent deliveries: statuses {sorted(statuses)}, {outcomes.count('granted')} grant(s)")
    assert all(s == 200 for s in statuses), statuses
    assert outcomes.count("granted") == 1
    assert coins(db, "alice") == 100
    assert len(entries(db, "alice", "grant")) == 1
    assert len(entries(db, "alice")) == 1


def test_a_crash_after_the_commit_then_the_retry_grants_once(
    econ: TestClient, auth: Mint, db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    player(econ, auth, "alice", "IE")
    body = stripe_event("checkout.session.completed", checkout_session("alice", _pi()))
    grants = econ.app.state.container.grants  # type: ignore[attr-defined]
    committed = grants._invalidate

    async def crash(uid: str) -> None:  # the grant has committed; the process dies before the 200
        await committed(uid)
        raise RuntimeError("instance killed")

    monkeypatch.setattr(grants, "_invalidate", crash)
    with pytest.raises(RuntimeError, match="instance killed"):
        post_stripe(econ, body)  # no 200 reached Stripe: it will retry
    assert coins(db, "alice") == 100
    monkeypatch.undo()
    retry = post_stripe(econ, body)
    assert retry.status_code == 200
    assert retry.json()["outcome"] == "duplicate"
    assert coins(db, "alice") == 100
    assert len(entries(db, "alice", "grant")) == 1


# --- refunds and disputes, in every order ---------------------------------------------------------------


def test_a_refund_takes_back_what_was_granted_and_flags_the_player(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("alice", pi)))
    r = post_stripe(econ, stripe_event("charge.refunded", charge_refunded(pi)))
    assert r.json()["outcome"] == "revoked"
    assert coins(db, "alice") == 0
    assert user_doc(db, "alice")["economy"]["flags"] == ["refund"]
    [revoke] = entries(db, "alice", "revoke")
    assert revoke["coins"] == -100


def test_a_revocation_beyond_the_balance_becomes_debt_paid_by_the_next_grant(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    player(econ, auth, "alice", "IE")
    pi = _pi()
    post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("alice", pi)))
    db.collection("users").document("alice").update({"inventory.coins": 30})  # spent 70 in the game
    post_stripe(econ, stripe_event("charge.dispute.created", dispute(pi)))
    doc = user_doc(db, "alice")
    assert doc["inventory"]["coins"] == 0
    assert doc["economy"]["debt"]["coins"] == 70
    assert set(doc["economy"]["flags"]) == {"debt", "chargeback"}
    assert doc["economy"]["flagged"] is True
    post_stripe(econ, stripe_event("checkout.session.completed", checkout_session("alice", _pi())))
    doc = user_doc(db, "alice")
    assert doc["inventory"]["coins"] == 30
    assert doc["economy"]["debt"]["coins"] == 0
    assert doc["economy"]["flags"] == ["chargeback"]


_STEPS = ("purchase", "refund", "dispute")
#: A partial refund of 49 of 99 cents: ceil(100 x 49/99) = 50 coins go back, 50 stay.
_PARTIAL_REFUNDED, _AFTER_PARTIAL = 49, 50


def _expected(steps: tuple[str, ...]) -> tuple[int, set[str]]:
    """What Stripe's state implies: a refunded or disputed payment leaves the player nothing; one refunded
    in part leaves the unrefunded share of the coins."""
    if "purchase" not in steps:
        return 0, set()
    flags = {"refund"} if "refund" in steps or "partial" in steps else set()
    if "dispute" in steps:
        flags.add("chargeback")
    if "dispute" in steps or "refund" in steps:
        return 0, flags
    return (_AFTER_PARTIAL if "partial" in steps else 100), flags


def _bodies(uid: str, pi: str) -> dict[str, bytes]:
    return {
        "purchase": stripe_event("checkout.session.completed", checkout_session(uid, pi)),
        "refund": stripe_event("charge.refunded", charge_refunded(pi)),
        "partial": stripe_event("charge.refunded", charge_refunded(pi, refunded=_PARTIAL_REFUNDED)),
        "dispute": stripe_event("charge.dispute.created", dispute(pi)),
    }


def _orderings() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for size in (1, 2, 3):
        for subset in itertools.combinations(_STEPS, size):
            found.extend(itertools.permutations(subset))
    return found


def test_every_order_of_purchase_refund_and_dispute_ends_as_stripe_says(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    orderings = _orderings()
    assert len(orderings) == 3 + 6 + 6  # every non-empty subset of the 3 steps, in every order
    for i, steps in enumerate(orderings):
        uid = f"order{i}"
        player(econ, auth, uid, "IE")
        bodies = _bodies(uid, _pi())
        for step in steps:
            assert post_stripe(econ, bodies[step]).status_code == 200
        for step in steps:  # every event delivered a second time changes nothing
            assert post_stripe(econ, bodies[step]).json()["outcome"] == "duplicate"
        want_coins, want_flags = _expected(steps)
        doc = user_doc(db, uid)
        assert doc["inventory"]["coins"] == want_coins, steps
        assert set((doc.get("economy") or {}).get("flags", [])) == want_flags, steps
        assert (doc.get("economy") or {}).get("debt", {}).get("coins", 0) == 0, steps
    print(f"\n{len(orderings)} orderings (with redeliveries): all end in Stripe's state")


@hypothesis.settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@hypothesis.given(
    steps=st.lists(st.sampled_from((*_STEPS, "partial")), min_size=1, max_size=6),
)
def test_hypothesis_orderings_with_partial_refunds_and_duplicates(
    econ: TestClient, auth: Mint, db: firestore.Client, steps: list[str]
) -> None:
    uid = f"h{uuid.uuid4().hex[:12]}"
    player(econ, auth, uid, "IE")
    bodies = _bodies(uid, _pi())
    for step in steps:
        assert post_stripe(econ, bodies[step]).status_code == 200
    want_coins, want_flags = _expected(tuple(steps))
    doc = user_doc(db, uid)
    assert doc["inventory"]["coins"] == want_coins, steps
    assert set((doc.get("economy") or {}).get("flags", [])) == want_flags, steps
    assert (doc.get("economy") or {}).get("debt", {}).get("coins", 0) == 0, steps
    assert sum(e["coins"] for e in entries(db, uid)) == want_coins, steps  # the audit log adds up
