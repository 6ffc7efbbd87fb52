"""A real Redis Cluster (3 primaries, no replicas) under the app, started once per test process; every
node flushed (data and scripts) before each test. The Firestore emulator and the token fixtures are the
ones of tests/app/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from scripts import services as procs
from tests.app.conftest import MakeClient


@dataclass
class Shards:
    """A direct (non-cluster) client per node: what each node holds, whatever the cluster client does."""

    cluster: procs.RedisClusterNodes
    clients: dict[int, redis.Redis]

    @property
    def settings(self) -> dict[str, Any]:
        """The app's settings for the cluster: a node's URL, the cluster client."""
        return {"redis_url": self.cluster.url, "redis_cluster": True}

    def keys(self, pattern: str) -> dict[int, set[str]]:
        """Port -> the keys matching ``pattern`` that the node holds (nodes holding none included)."""
        return {
            port: {key.decode() for key in client.scan_iter(match=pattern, count=1000)}
            for port, client in self.clients.items()
        }

    def holders(self, pattern: str) -> set[int]:
        """The ports of the nodes holding at least one key matching ``pattern``."""
        return {port for port, keys in self.keys(pattern).items() if keys}

    def owner(self, key: str) -> int:
        """The port of the node serving ``key``'s slot (asked of the cluster, not computed here)."""
        any_node = next(iter(self.clients.values()))
        slot = any_node.cluster("KEYSLOT", key)
        for start, end, primary, *_replicas in any_node.cluster("SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
        raise AssertionError(f"slot {slot} of {key!r} is served by no node")

    def flush(self) -> None:
        for client in self.clients.values():
            client.flushall()
            client.script_flush()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[procs.RedisClusterNodes]:
    cluster = procs.start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    yield cluster
    cluster.stop()


@pytest.fixture
def shards(redis_cluster: procs.RedisClusterNodes) -> Iterator[Shards]:
    clients = {
        port: redis.Redis(host="127.0.0.1", port=port, socket_timeout=5) for port in redis_cluster.ports
    }
    found = Shards(redis_cluster, clients)
    found.flush()
    yield found
    for client in clients.values():
        client.close()


@pytest.fixture
def make_cluster_client(make_client: MakeClient, shards: Shards) -> MakeClient:
    """``make_client`` with the app on the cluster (POG_REDIS_CLUSTER=true)."""

    def make(client_addr: tuple[str, int] = ("203.0.113.7", 50000), **overrides: Any) -> TestClient:
        return make_client(client_addr, **{**shards.settings, **overrides})

    return make


@pytest.fixture
def cluster_client(make_cluster_client: MakeClient) -> TestClient:
    return make_cluster_client()
