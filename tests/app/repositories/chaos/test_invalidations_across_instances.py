"""Two real API processes on one dedicated redis-server (frozen mid-test) and the Firestore emulator: a
cache invalidation Redis refused to one instance reaches the other, although the writer is gone."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from google.cloud import firestore

from app.repositories.cache_invalidations import COLLECTION
from tests.app.conftest import Backends
from tests.app.processes import ApiProcesses, api_env, bearer
from tests.app.repositories.chaos.conftest import RedisControl
from tests.waiting import wait_until

PLAYERS = [f"player-{i}" for i in range(10)]
SWEEP_S = 1.0
RECOVERY_S = 1.0
#: The bound the test holds instance two to, from Redis's return: a sweep interval and a breaker recovery,
#: with room for a loaded machine (2 cores shared by several test runs).
FRESH_WITHIN_S = SWEEP_S + RECOVERY_S + 13


def name(client: httpx.Client, headers: dict[str, str]) -> str:
    r = client.get("/v1/me", headers=headers)
    assert r.status_code == 200, r.text
    return str(r.json()["display_name"])


def test_another_instance_serves_the_new_profiles_after_the_writer_died_during_a_redis_outage(
    own_redis: RedisControl, backends: Backends, db: firestore.Client, tmp_path: Path
) -> None:
    """Failed before issue 18: the other instance served stale profiles for 10 of 10 players."""
    env = api_env(
        backends,
        redis_url=own_redis.url,
        redis_breaker_threshold=3,
        redis_breaker_recovery_s=RECOVERY_S,
        redis_timeout_ms=200,
        cache_invalidation_sweep_s=SWEEP_S,
        rate_limit_user="1000/minute",
        rate_limit_ip="10000/minute",
    )
    headers = {uid: bearer(uid, backends.project) for uid in PLAYERS}
    with ApiProcesses(tmp_path, env) as apis:
        one, two = apis.start("one"), apis.start("two")
        with one.client() as writer, two.client() as reader:
            # Cached through instance two.
            old = {uid: name(reader, headers[uid]) for uid in PLAYERS}
            assert {uid: name(reader, headers[uid]) for uid in PLAYERS} == old  # the cached copies
            with own_redis.direct() as direct:
                assert direct.exists(*(f"user:{uid}:profile" for uid in PLAYERS)) == len(PLAYERS)

            own_redis.pause()
            for uid in PLAYERS:
                r = writer.patch("/v1/me", json={"display_name": f"New {uid}"}, headers=headers[uid])
                assert (r.status_code, r.json()["display_name"]) == (200, f"New {uid}")
            recorded = {doc.to_dict()["key"] for doc in db.collection(COLLECTION).stream()}  # type: ignore[index]
            assert recorded == {f"user:{uid}:profile" for uid in PLAYERS}

            one.kill()  # its memory, and the invalidations pending there, are gone
            own_redis.resume()
            returned = time.monotonic()
            fresh_at: dict[str, float] = {}

            def all_fresh() -> bool:
                for uid in PLAYERS:
                    seen = name(reader, headers[uid])
                    if uid in fresh_at:
                        assert seen == f"New {uid}", f"{uid}: {seen!r} again after the new profile"
                    elif seen == f"New {uid}":
                        fresh_at[uid] = time.monotonic() - returned
                return len(fresh_at) == len(PLAYERS)

            wait_until(all_fresh, timeout=FRESH_WITHIN_S, interval=0.1, what=lambda: f"fresh: {fresh_at}")
            assert [name(reader, headers[uid]) for uid in PLAYERS] == [f"New {uid}" for uid in PLAYERS]
            wait_until(
                lambda: not list(db.collection(COLLECTION).limit(1).stream()),
                timeout=10,
                what="records left after they were applied",
            )
            slowest = max(fresh_at.values())
            print(f"instance two served all {len(PLAYERS)} new profiles {slowest:.2f} s after Redis returned")
