"""A shard of the cluster down (the node serving the ``{lb}`` slot, killed): what fails open and what fails
closed (docs/redis-topology.md). A cluster of this test's own, so the shared one stays whole."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.repositories.leaderboard_keys import ALIVE_KEY
from scripts import services as procs
from tests.app.conftest import MakeClient, Mint


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[procs.RedisClusterNodes]:
    cluster = procs.start_redis_cluster(tmp_path)
    yield cluster
    cluster.stop()


def _kill_the_leaderboards_shard(cluster: procs.RedisClusterNodes) -> None:
    with redis.Redis(port=cluster.ports[0], socket_timeout=5) as node:
        slot = node.cluster("KEYSLOT", ALIVE_KEY)
        owner = next(
            int(primary[1]) for start, end, primary, *_ in node.cluster("SLOTS") if start <= slot <= end
        )
    service = next(node for node in cluster.nodes if node.port == owner)
    os.kill(service.process.pid, signal.SIGKILL)
    service.process.wait(timeout=10)


def test_player_paths_fail_open_and_board_reads_fail_closed(
    make_client: MakeClient, auth: Mint, own_cluster: procs.RedisClusterNodes
) -> None:
    client = make_client(
        redis_url=own_cluster.url, redis_cluster=True, redis_breaker_threshold=3, redis_breaker_recovery_s=60
    )
    headers = auth("alice")
    assert client.get("/v1/me", headers=headers).status_code == 200
    assert client.get("/v1/leaderboards/daily/global").status_code == 200
    _kill_the_leaderboards_shard(own_cluster)

    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
    assert ready.json()["checks"]["redis"].startswith("error")
    # Profile reads and writes, rate limits and the finish go on (from Firestore, limits allowed) ...
    assert client.patch("/v1/me", headers=headers, json={"display_name": "Still Here"}).status_code == 200
    assert client.get("/v1/me", headers=headers).json()["display_name"] == "Still Here"
    assert client.get("/v1/me", headers=auth("bob")).status_code == 200  # a new token: the library's storage
    game_id = client.post("/v1/games", headers=headers).json()["game_id"]
    events = {"events": [{"type": "coin", "t_ms": 0, "points": 40}]}
    assert client.post(f"/v1/games/{game_id}/events", headers=headers, json=events).status_code == 200
    finished = client.post(f"/v1/games/{game_id}/finish", headers=headers, json={"score": 40})
    assert finished.status_code == 200, finished.text
    assert finished.json()["ranks"] == {"daily": None, "weekly": None, "monthly": None, "all_time": None}
    # ... the live boards, whose only copy is that shard, answer 503 until it is back (or rebuilt).
    page = client.get("/v1/leaderboards/weekly/global")
    assert (page.status_code, page.json()["error"]["code"]) == (503, "leaderboard_unavailable")
    assert client.get("/readyz").json()["breakers"] == {"redis": "opened"}
