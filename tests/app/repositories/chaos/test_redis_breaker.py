"""CH1/CH2: a dedicated redis-server, killed or frozen (SIGSTOP) in the middle of a test.

Reads keep answering 200 from Firestore, writes commit to Firestore, the breaker opens; once Redis is
back the breaker closes by itself after its recovery timeout and the cache is used again, without
serving a copy cached before a write made during the outage.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.core.metrics import REGISTRY
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.clients import close_redis, redis_client
from tests.app.conftest import Backends, MakeClient, Mint, settings_for
from tests.app.repositories.chaos.conftest import RedisControl
from tests.waiting import wait_until

RECOVERY_S = 1.0
BREAKER = {"redis_breaker_threshold": 3, "redis_breaker_recovery_s": RECOVERY_S, "redis_timeout_ms": 200}


def breaker_state(client: TestClient) -> str:
    state: str = client.app.state.redis_breaker.state  # type: ignore[attr-defined]
    return state


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_for_recovery(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    """Reads until the breaker has closed again (the first call after the timeout is the trial)."""

    def closed() -> dict[str, Any] | None:
        r = client.get("/v1/me", headers=headers)
        assert r.status_code == 200
        return r.json() if breaker_state(client) == "closed" else None  # type: ignore[no-any-return]

    body = wait_until(
        closed, timeout=RECOVERY_S + 10, interval=0.1, what=lambda: f"breaker still {breaker_state(client)}"
    )
    assert body is not None
    return body


def firestore_name(db: firestore.Client, uid: str) -> str:
    data = db.collection("users").document(uid).get().to_dict()
    assert data is not None
    return str(data["display_name"])


def test_redis_killed_reads_and_writes_use_firestore_and_the_breaker_recovers(
    own_redis: RedisControl, make_client: MakeClient, auth: Mint, db: firestore.Client
) -> None:
    client = make_client(redis_url=own_redis.url, **BREAKER)
    alice = auth("alice")
    assert client.get("/v1/me", headers=alice).status_code == 200
    with own_redis.direct() as direct:
        assert direct.exists("user:alice:profile")
    assert breaker_state(client) == "closed"

    own_redis.kill()
    for _ in range(4):
        r = client.get("/v1/me", headers=alice)
        assert r.status_code == 200
        assert r.json()["uid"] == "alice"
    assert breaker_state(client) == "opened"
    skipped = sample("pog_redis_failures_total", operation="get", reason="breaker_open")

    r = client.patch("/v1/me", json={"display_name": "Alice Offline"}, headers=alice)
    assert r.status_code == 200
    assert r.json()["display_name"] == "Alice Offline"
    assert firestore_name(db, "alice") == "Alice Offline"  # committed although Redis is gone
    assert client.get("/v1/me", headers=alice).json()["display_name"] == "Alice Offline"
    assert sample("pog_redis_failures_total", operation="get", reason="breaker_open") > skipped

    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")  # still serving: stays in the LB
    assert ready.json()["breakers"] == {"redis": "opened"}
    assert ready.json()["checks"]["firestore"] == "ok"

    own_redis.start()  # empty: no persistence
    body = wait_for_recovery(client, alice)
    assert body["display_name"] == "Alice Offline"
    assert client.get("/readyz").json()["breakers"] == {"redis": "closed"}
    hits = sample("pog_cache_requests_total", cache="profile", result="hit")
    assert client.get("/v1/me", headers=alice).json()["display_name"] == "Alice Offline"
    assert sample("pog_cache_requests_total", cache="profile", result="hit") == hits + 1
    with own_redis.direct() as direct:
        cached = direct.get("user:alice:profile")
    assert cached is not None
    assert b"Alice Offline" in cached


def test_redis_frozen_requests_stay_bounded_and_no_stale_copy_after_recovery(
    own_redis: RedisControl, make_client: MakeClient, auth: Mint, db: firestore.Client
) -> None:
    client = make_client(redis_url=own_redis.url, **BREAKER)
    bob = auth("bob")
    assert client.get("/v1/me", headers=bob).json()["display_name"] == "Player-bob"
    with own_redis.direct() as direct:
        assert direct.exists("user:bob:profile")

    own_redis.pause()  # connections are accepted by the kernel, commands never answered
    latencies = []
    for _ in range(6):
        start = time.perf_counter()
        r = client.get("/v1/me", headers=bob)
        latencies.append(time.perf_counter() - start)
        assert r.status_code == 200
    assert breaker_state(client) == "opened"
    # A bound, not a benchmark: without socket timeouts each of these would hang until Redis returned.
    assert max(latencies) < 5.0, latencies

    r = client.patch("/v1/me", json={"display_name": "Bob Frozen"}, headers=bob)
    assert r.status_code == 200
    assert firestore_name(db, "bob") == "Bob Frozen"
    with own_redis.direct() as direct:
        own_redis.resume()
        # The outage's invalidation never reached Redis: the old copy is still there ...
        stale = direct.get("user:bob:profile")
        assert stale is not None
        assert b"Player-bob" in stale
        # ... and is deleted before the cache is read again.
        body = wait_for_recovery(client, bob)
        assert body["display_name"] == "Bob Frozen"
        assert client.get("/v1/me", headers=bob).json()["display_name"] == "Bob Frozen"
        fresh = direct.get("user:bob:profile")
    assert fresh is not None
    assert b"Bob Frozen" in fresh


def test_rate_limits_count_in_memory_while_the_breaker_is_open(
    own_redis: RedisControl, make_client: MakeClient, auth: Mint
) -> None:
    """Failed before issue 18: with Redis killed every request passed (the limits failed open)."""
    client = make_client(redis_url=own_redis.url, rate_limit_user="2/minute", **BREAKER)
    carol = auth("carol")
    assert [client.get("/v1/me", headers=carol).status_code for _ in range(3)] == [200, 200, 429]
    own_redis.kill()
    # This instance's memory starts counting afresh: the same limit, per instance.
    assert [client.get("/v1/me", headers=carol).status_code for _ in range(4)] == [200, 200, 429, 429]
    assert breaker_state(client) == "opened"


def test_the_breaker_reports_each_failed_call_and_its_recovery(
    own_redis: RedisControl, backends: Backends
) -> None:
    """The hooks RedisCache catches up on (issue 18): ``on_failure`` for every failed call, whoever made it,
    none for a call the open breaker refused; ``on_recovered`` once, when a trial call closes it again."""
    breaker = RedisBreaker(threshold=2, recovery_s=RECOVERY_S)
    seen: list[str] = []
    breaker.on_failure(lambda: seen.append("failed"))
    breaker.on_recovered(lambda: seen.append(f"recovered while {breaker.state}"))
    settings = settings_for(backends, redis_url=own_redis.url)

    def ping() -> str:
        async def attempt() -> str:
            client = redis_client(settings)
            try:
                await breaker.call(client.ping)
            except BreakerOpenError:
                return "refused"
            except redis.RedisError:
                return "failed"
            finally:
                await close_redis(client)
            return "ok"

        return asyncio.run(attempt())

    assert ping() == "ok"
    own_redis.kill()
    assert [ping(), ping(), ping()] == ["failed", "failed", "refused"]
    assert (seen, breaker.state) == (["failed", "failed"], "opened")
    own_redis.start()
    wait_until(lambda: ping() == "ok", timeout=RECOVERY_S + 10, interval=0.1, what=lambda: breaker.state)
    assert (seen, breaker.state) == (["failed", "failed", "recovered while closed"], "closed")
