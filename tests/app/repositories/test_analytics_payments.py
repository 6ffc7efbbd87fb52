"""Analytics events of a store purchase and its refund, through the RevenueCat webhook, on the Pub/Sub
emulator: each delivered twice, one event per action after deduplication by ``event_id``."""

from __future__ import annotations

import json
from collections import Counter

from fastapi.testclient import TestClient
from google.cloud import firestore

from tests.app.conftest import Mint
from tests.app.fixtures.payments import EconClient, FakeRevenueCat, coins, player, post_rc, rc_event
from tests.app.fixtures.pubsub import Topic
from tests.app.repositories.test_analytics_flows import by_name, decoded


def test_a_purchase_and_its_refund_delivered_twice_publish_one_grant_and_one_refund(
    make_econ: EconClient, auth: Mint, db: firestore.Client, revenuecat: FakeRevenueCat, topic: Topic
) -> None:
    econ: TestClient = make_econ(analytics_topic=topic.topic)
    player(econ, auth, "alice", "IE")  # GET /v1/me: the session's start
    revenuecat.bought("alice", "com.potofgold.coins100", "1000000007")
    purchase = rc_event("NON_RENEWING_PURCHASE", transaction_id="1000000007")
    refund = rc_event(
        "CANCELLATION", transaction_id="1000000007", cancel_reason="CUSTOMER_SUPPORT", price=-0.99
    )
    assert [post_rc(econ, purchase).json()["outcome"] for _ in range(2)] == ["granted", "duplicate"]
    assert [post_rc(econ, refund).json()["outcome"] for _ in range(2)] == ["revoked", "duplicate"]
    assert coins(db, "alice") == 0
    topic.pull_until(3)
    assert by_name(topic) == Counter(session_started=1, grant=1, refund=1)
    events = {decoded(m)["name"]: decoded(m) for m in topic.received}
    assert json.loads(events["grant"]["params"]) == {
        "reason": "purchase", "product_id": "coins_100", "coins": 100, "items": 0,
    }  # fmt: skip
    assert json.loads(events["refund"]["params"]) == {
        "reason": "refund", "product_id": "coins_100", "coins": 100, "items": 0,
    }  # fmt: skip
    assert not any(b"1000000007" in m.data or b"alice" in m.data for m in topic.received)
