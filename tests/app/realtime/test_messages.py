"""Messages at their REST boundary: what the Notifier sends the player's shard (always) and FCM (only
when their presence does not say they are connected), the queue's trimming, and the live-event broadcast
on every shard. The fake Realtime Database and the fake FCM v1 server record every request.

Two shards: alice hashes to shard 1, bob to shard 0.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.composition import Overrides, Parts
from app.domain import realtime
from app.domain.live_events import ClaimRecord, Goal, GoalMetric, LiveEvent, Rewards
from app.domain.notifications import Platform, Receipt, ReviewDecision
from app.services.notifications import Notifier
from tests.app.conftest import Backends, Mint, settings_for
from tests.app.fixtures.events import FakeFcm
from tests.app.fixtures.payments import EconClient, admin_headers, post_rc, rc_event, review_items
from tests.app.fixtures.realtime import SHARDS, FakeRtdb

T = TypeVar("T")
S0, S1 = SHARDS
NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
NOW_MS = realtime.epoch_ms(NOW)
TOKEN = "fcm-token-alice-phone-0123456789abcdef"
EVENT = LiveEvent(
    event_id="ev1",
    name="Rainbow Rush",
    description="Finish 2 games",
    starts_at=NOW - timedelta(minutes=1),
    ends_at=NOW + timedelta(hours=2),
    goal=Goal(metric=GoalMetric.games_played, target=2),
    rewards=Rewards(coins=250),
    created_by="root",
    created_at=NOW,
    updated_at=NOW,
)
CLAIM = ClaimRecord(uid="alice", event_id="ev1", claimed_at=NOW, progress=2, coins=250)
RECEIPT = Receipt("vip_monthly", "2000000001", coins=300, entitlement="vip")
QUERY = {"orderBy": '"at"', "limitToFirst": str(realtime.TRIM_READ)}
ID = re.compile(r"^[-0-9A-Za-z_]{20}$")


@pytest.fixture
def notify(
    backends: Backends, rtdb: FakeRtdb, fcm: FakeFcm, clean: None
) -> Callable[[Callable[[Notifier], Awaitable[T]]], T]:
    """Runs ``work`` with the app's Notifier (fake FCM, the fake shards, the clock at NOW), alice having
    registered one device."""
    rtdb.now_ms = NOW_MS
    settings = settings_for(backends, realtime_database_urls=rtdb.urls, fcm_endpoint=fcm.url)

    def run(work: Callable[[Notifier], Awaitable[T]]) -> T:
        async def go() -> T:
            async with Parts(settings, Overrides(clock=lambda: NOW)) as parts:
                await parts.notifier.register_device("alice", TOKEN, Platform.android)
                rtdb.clear()
                fcm.requests.clear()
                return await work(parts.notifier)

        return asyncio.run(go())

    return run


def online(rtdb: FakeRtdb, uid: str, state: str = "online") -> None:
    rtdb.seed(SHARDS[realtime.shard_for(uid, 2)], f"presence/{uid}", {"state": state, "last_changed": 1})


def queued(rtdb: FakeRtdb, shard: str, uid: str) -> list[dict[str, Any]]:
    """The queue as the shard holds it, oldest first; each id is a 20-character push id."""
    found = rtdb.at(shard, f"messages/{uid}") or {}
    assert all(ID.match(key) for key in found), found
    return [found[key] for key in sorted(found)]


def delivery(rtdb: FakeRtdb, shard: str, uid: str) -> dict[str, Any]:
    """The three requests of one delivery, in order: the presence read and the trim query (together),
    then one multi-path update; returns the update's body."""
    reads = sorted((r.method, r.shard, r.path, tuple(sorted(r.query.items()))) for r in rtdb.requests[:2])
    assert reads == sorted(
        [
            ("GET", shard, f"/presence/{uid}/state.json", ()),
            ("GET", shard, f"/messages/{uid}.json", tuple(sorted(QUERY.items()))),
        ]
    )
    [update] = rtdb.requests[2:]
    assert (update.method, update.shard, update.path, update.query) == (
        "PATCH",
        shard,
        "/.json",
        {"print": "silent"},
    )
    body: dict[str, Any] = update.body
    return body


MESSAGES = [
    (
        "reward_granted",
        lambda n: n.reward_granted("alice", EVENT, CLAIM),
        {
            "kind": "reward_granted",
            "title": "Reward unlocked",
            "body": "Rainbow Rush: 250 coins",
            "data": {"type": "event_reward", "event_id": "ev1"},
        },
    ),
    (
        "purchase_granted",
        lambda n: n.purchase_granted("alice", RECEIPT),
        {
            "kind": "purchase_granted",
            "title": "Purchase complete",
            "body": "vip_monthly: 300 coins, vip access",
            "data": {"type": "purchase_receipt", "product_id": "vip_monthly", "transaction_id": "2000000001"},
        },
    ),
    (
        "review_decided",
        lambda n: n.review_decided("alice", ReviewDecision("a" * 24, False, "purchase")),
        {
            "kind": "review_decided",
            "title": "Your purchase was declined",
            "body": "Our review declined this purchase.",
            "data": {"type": "review_decided", "review_id": "a" * 24, "status": "rejected"},
        },
    ),
]


@pytest.mark.parametrize(("kind", "send", "expected"), MESSAGES, ids=[m[0] for m in MESSAGES])
@pytest.mark.parametrize("state", ["online", "in_game", "away"])
def test_a_connected_player_gets_the_message_on_their_shard_and_no_push(
    notify: Any, rtdb: FakeRtdb, fcm: FakeFcm, kind: str, send: Any, expected: dict[str, Any], state: str
) -> None:
    online(rtdb, "alice", state)
    assert notify(send) is True
    [(path, value)] = delivery(rtdb, S1, "alice").items()
    assert path.startswith("messages/alice/")
    assert ID.match(path.removeprefix("messages/alice/"))
    assert value == {**expected, "at": {".sv": "timestamp"}}
    assert queued(rtdb, S1, "alice") == [{**expected, "at": NOW_MS}]
    assert fcm.sends() == []


@pytest.mark.parametrize(("kind", "send", "expected"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_an_offline_player_gets_the_message_queued_and_the_push(
    notify: Any, rtdb: FakeRtdb, fcm: FakeFcm, kind: str, send: Any, expected: dict[str, Any]
) -> None:
    online(rtdb, "alice", "offline")
    assert notify(send) is True
    [value] = delivery(rtdb, S1, "alice").values()
    assert value["kind"] == kind
    [push] = fcm.sends()
    assert push["token"] == TOKEN
    assert push["notification"] == {"title": expected["title"], "body": expected["body"]}
    assert push["data"] == expected["data"]


def test_a_player_who_never_connected_gets_the_push(notify: Any, rtdb: FakeRtdb, fcm: FakeFcm) -> None:
    assert notify(lambda n: n.purchase_granted("alice", RECEIPT)) is True
    delivery(rtdb, S1, "alice")
    assert len(fcm.sends()) == 1


def test_an_unreadable_presence_sends_the_push_too(notify: Any, rtdb: FakeRtdb, fcm: FakeFcm) -> None:
    """Whether the player is connected is unknown: the message is queued, and pushed as well."""
    online(rtdb, "alice")
    rtdb.failing = ("/presence/",)
    assert notify(lambda n: n.purchase_granted("alice", RECEIPT)) is True
    presence_reads = [r for r in rtdb.requests if r.path == "/presence/alice/state.json"]
    # The SDK retries a 503 with backoff; the call's deadline (CALL_DEADLINE_S) ends the wait.
    assert len(presence_reads) >= 2
    assert len(queued(rtdb, S1, "alice")) == 1
    assert len(fcm.sends()) == 1


def test_a_presence_node_of_another_shape_counts_as_offline(
    notify: Any, rtdb: FakeRtdb, fcm: FakeFcm
) -> None:
    rtdb.seed(S1, "presence/alice/state", {"unexpected": "shape"})
    assert notify(lambda n: n.purchase_granted("alice", RECEIPT)) is True
    assert len(fcm.sends()) == 1


def test_a_shard_that_is_down_costs_the_message_not_the_push(
    notify: Any, rtdb: FakeRtdb, fcm: FakeFcm
) -> None:
    online(rtdb, "alice")
    rtdb.down()
    assert notify(lambda n: n.reward_granted("alice", EVENT, CLAIM)) is True  # never raises
    assert len(fcm.sends()) == 1


def test_the_queue_drops_week_old_entries_and_keeps_at_most_the_limit(
    notify: Any, rtdb: FakeRtdb, fcm: FakeFcm
) -> None:
    week_old = NOW_MS - int(realtime.MESSAGE_MAX_AGE.total_seconds() * 1000) - 1
    entry = {"kind": "reward_granted", "title": "t", "body": "b", "data": {}}
    rtdb.seed(S1, "messages/alice", {f"old{i}": {**entry, "at": week_old - i} for i in range(3)})
    recent = {f"new{i:02d}": {**entry, "at": NOW_MS - 1000 + i} for i in range(realtime.MAX_MESSAGES)}
    for key, value in recent.items():
        rtdb.seed(S1, f"messages/alice/{key}", value)
    online(rtdb, "alice")
    assert notify(lambda n: n.purchase_granted("alice", RECEIPT)) is True
    body = delivery(rtdb, S1, "alice")
    deleted = sorted(path.removeprefix("messages/alice/") for path, v in body.items() if v is None)
    # The three week-old ones, then the oldest recent one: 49 kept plus the new one.
    assert deleted == ["new00", "old0", "old1", "old2"]
    assert len(body) == len(deleted) + 1
    assert len(rtdb.at(S1, "messages/alice")) == realtime.MAX_MESSAGES


def test_an_event_start_is_broadcast_on_every_shard_and_to_the_topic(
    notify: Any, rtdb: FakeRtdb, fcm: FakeFcm
) -> None:
    ended = {"name": "Old", "starts_at": 1, "ends_at": NOW_MS - 1, "at": 1}
    rtdb.seed(S0, "broadcast/live_events/old", ended)
    rtdb.seed(S0, "broadcast/live_events/later", {**ended, "ends_at": NOW_MS + 1})
    assert notify(lambda n: n.event_started(EVENT)) is True
    value = {
        "name": "Rainbow Rush",
        "starts_at": realtime.epoch_ms(EVENT.starts_at),
        "ends_at": realtime.epoch_ms(EVENT.ends_at),
        "at": {".sv": "timestamp"},
    }
    reads = sorted(
        (r.shard, r.path, r.query["orderBy"], r.query["endAt"]) for r in rtdb.requests if r.method == "GET"
    )
    assert reads == [(s, "/broadcast/live_events.json", '"ends_at"', str(NOW_MS)) for s in SHARDS]
    writes = sorted((r.shard, r.path, r.body) for r in rtdb.requests if r.method == "PATCH")
    assert writes == [
        (S0, "/.json", {"broadcast/live_events/old": None, "broadcast/live_events/ev1": value}),
        (S1, "/.json", {"broadcast/live_events/ev1": value}),
    ]
    assert sorted(rtdb.at(S0, "broadcast/live_events")) == ["ev1", "later"]
    assert rtdb.at(S1, "broadcast/live_events/ev1") == {**value, "at": NOW_MS}
    [push] = fcm.sends()
    assert (push["topic"], push["data"]) == ("live-events", {"type": "event_started", "event_id": "ev1"})


def test_a_review_decision_reaches_the_player_through_the_admin_route(
    make_econ: EconClient, rtdb: FakeRtdb, fcm: FakeFcm, auth: Mint, db: firestore.Client
) -> None:
    """A held purchase rejected by an admin: one ``review_decided`` message, after the decision committed
    (an approved purchase sends its receipt instead: test_webhooks_purchase_receipt.py)."""
    shop: TestClient = make_econ(fcm_endpoint=fcm.url, realtime_database_urls=rtdb.urls)
    r = post_rc(
        shop,
        rc_event("INITIAL_PURCHASE", product_id="com.potofgold.vip.monthly", transaction_id="2000000001"),
    )
    assert (r.status_code, r.json()["outcome"]) == (200, "held")
    [item] = review_items(db)
    online(rtdb, "alice")
    rtdb.clear()
    url = f"/v1/admin/review-queue/{item['id']}/reject"
    assert shop.post(url, headers=admin_headers(auth), json={"note": "no such subscriber"}).status_code == 200
    [message] = queued(rtdb, S1, "alice")
    assert message["kind"] == "review_decided"
    assert message["data"] == {"type": "review_decided", "review_id": item["id"], "status": "rejected"}
    assert fcm.sends() == []  # connected: no push
