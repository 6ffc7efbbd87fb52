"""Analytics events from real API flows, through the app's sink, on the Pub/Sub emulator (issue 21).

Each message is checked against contract/analytics/events.avsc (Avro JSON, decoded with fastavro); after
deduplication by ``event_id`` there is exactly one event per action. The emulator is stopped by its PID
under load (SIGSTOP: a killed emulator would forget its topics, which Pub/Sub does not): every response
stays 2xx, the outbox holds the events, and once the emulator is back the delivered count (after
deduplication) equals the produced count.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import fastavro
import redis
from fastapi.testclient import TestClient

from app.core.metrics import REGISTRY
from app.repositories.analytics import OUTBOX_KEY
from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.events import ADMIN_NET, play, qualified_event
from tests.app.fixtures.pubsub import Topic
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = fastavro.parse_schema(json.loads((ROOT / "contract/analytics/events.avsc").read_text()))


def sample(result: str) -> float:
    return REGISTRY.get_sample_value("pog_analytics_events_total", {"result": result}) or 0.0


def decoded(message: Any) -> dict[str, Any]:
    """The message as the topic's schema reads it (Avro JSON encoding), validated on the way."""
    records = list(fastavro.json_reader(io.StringIO(message.data.decode()), SCHEMA))
    assert len(records) == 1
    fastavro.validate(records[0], SCHEMA, raise_errors=True)
    return records[0]


def by_name(topic: Topic) -> Counter[str]:
    unique = {m.attributes["event_id"]: decoded(m) for m in topic.received}
    return Counter(event["name"] for event in unique.values())


def analytics_client(make_client: MakeClient, topic: Topic) -> TestClient:
    # Redis is healthy here, and the outbox must take every event: a loaded CI machine stalls a call past
    # the 200 ms default (a timeout the breaker counts, then the outbox drops), which is another test's
    # subject (tests/app/repositories/test_analytics.py, the outbox with Redis down).
    return make_client(admin_ip_allowlist=ADMIN_NET, analytics_topic=topic.topic, redis_timeout_ms=2000)


def test_a_game_and_a_live_event_claim_publish_one_valid_event_per_action(
    make_client: MakeClient, auth: Mint, admin: dict[str, str], topic: Topic
) -> None:
    client = analytics_client(make_client, topic)
    alice = auth("alice")
    play(client, alice, [3, 4])
    event_id = qualified_event(client, admin, alice)  # joins and plays a second game
    r = client.post(f"/v1/events/{event_id}/claim", headers=alice)
    assert r.status_code == 200, r.text
    again = client.post(f"/v1/events/{event_id}/claim", headers=alice)  # a retried claim: no new event
    assert again.status_code == 200, again.text
    expected = Counter(
        game_started=2, game_finished=2, live_event_joined=1, live_event_reward_claimed=1, grant=1
    )
    topic.pull_until(sum(expected.values()))
    assert by_name(topic) == expected
    finished = [decoded(m) for m in topic.received if decoded(m)["name"] == "game_finished"]
    assert {json.loads(e["params"])["verdict"] for e in finished} == {"accepted"}
    players = {decoded(m)["player"] for m in topic.received}
    assert len(players) == 1
    assert not any(b"alice" in m.data for m in topic.received)  # pseudonymous, never the uid


def test_pubsub_killed_under_load_keeps_every_response_2xx_and_the_outbox_delivers_every_event(
    make_client: MakeClient, auth: Mint, rds: redis.Redis, topic: Topic
) -> None:
    client = analytics_client(make_client, topic)
    outboxed, dropped = sample("outboxed"), sample("dropped")
    bob = auth("bob")
    for _ in range(3):
        play(client, bob, [1, 2])
    topic.pull_until(6)  # delivered while Pub/Sub is up
    topic.emulator.pause()  # stopped by its PID (SIGSTOP to gcloud's process group): Pub/Sub unreachable
    try:
        for _ in range(5):
            play(client, bob, [2, 2])  # asserts each response is 2xx
        wait_until(lambda: rds.xlen(OUTBOX_KEY) == 10, 60, what=lambda: f"outbox: {rds.xlen(OUTBOX_KEY)}")
    finally:
        topic.emulator.resume()
    wait_until(lambda: rds.xlen(OUTBOX_KEY) == 0, 120, what=lambda: f"outbox holds {rds.xlen(OUTBOX_KEY)}")
    topic.pull_until(16)
    assert by_name(topic) == Counter(game_started=8, game_finished=8)
    assert sample("outboxed") - outboxed >= 10  # at least: a publish that timed out may be retried
    assert sample("dropped") == dropped


def test_reading_my_profile_starts_one_session_per_half_hour(
    make_client: MakeClient, auth: Mint, rds: redis.Redis, topic: Topic
) -> None:
    client = analytics_client(make_client, topic)
    alice, bob = auth("alice"), auth("bob")
    for headers in (alice, alice, bob, alice):  # the second and fourth of alice's are in her session
        r = client.get("/v1/me", headers=headers)
        assert r.status_code == 200, r.text
    topic.pull_until(2)
    assert by_name(topic) == Counter(session_started=2)
    assert len({decoded(m)["player"] for m in topic.received}) == 2
    assert rds.ttl("analytics:session:alice") > 1700
