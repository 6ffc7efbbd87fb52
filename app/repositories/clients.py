"""Connections to Firestore and Redis; the only module that builds SDK clients."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

import redis.asyncio as redis
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.storage.redis.redispy import RedispyBridge
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from app.core.config import Settings

DEFAULT_DATABASE = "(default)"

#: The app's Redis: one server or replicated database (phases 1 and 3), or a Redis Cluster (phase 2,
#: ``POG_REDIS_CLUSTER``). Both take the commands the app sends; docs/redis-topology.md says how keys spread.
RedisClient = redis.Redis | RedisCluster

#: What a Redis call fails with: a command, connection or timeout error (``RedisError``), a cluster
#: the client cannot map (no node reachable, a slot not covered: ``RedisClusterException``, which is not a
#: ``RedisError``), a socket error.
REDIS_ERRORS = (RedisError, RedisClusterException, OSError)


def firestore_client(settings: Settings, database: str = DEFAULT_DATABASE) -> firestore.AsyncClient:
    if settings.firestore_emulator_host:
        # The emulator needs no credential; google.cloud.firestore sends "Bearer owner" to it.
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return firestore.AsyncClient(
            project=settings.firebase_project_id, credentials=anonymous, database=database
        )
    return firestore.AsyncClient(project=settings.firebase_project_id, database=database)


def games_client(settings: Settings, users: firestore.AsyncClient) -> firestore.AsyncClient:
    """The client of the database holding this region's /games: ``users`` itself when the games share it
    (phase 1), else one on ``settings.games_database``."""
    return database_client(settings, users, settings.games_database)


def database_client(settings: Settings, users: firestore.AsyncClient, database: str) -> firestore.AsyncClient:
    """``users`` itself for the default database, else a client of ``database`` built like ``users``."""
    if database == DEFAULT_DATABASE:
        return users
    return firestore_client(settings, database)


def redis_client(settings: Settings) -> RedisClient:
    """Redis is a cache: a slow Redis must not hold a request for long (reads fall back to Firestore).

    Short timeouts and no client-side retries: the circuit breaker (app/repositories/breaker.py)
    decides when to stop trying, so one call costs at most ``redis_timeout_ms``.
    """
    timeout_s = settings.redis_timeout_ms / 1000
    options: dict[str, Any] = {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 30,
    }
    url = settings.redis_url.get_secret_value()
    if settings.redis_cluster:
        # RedisCluster follows MOVED and ASK inside every call whatever ``retry`` says (up to 16 hops,
        # updating its slot map), pipelines included; ``retry`` (which replaces the deprecated
        # ``cluster_error_retry_attempts``, default 3 with backoff) only re-runs a call after a timeout,
        # a connection error or CLUSTERDOWN. 0: a dead shard costs one timeout, counted by the breaker,
        # and the failure marks the slot map stale, so the next call re-reads it (a promoted replica).
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


async def close_redis(client: RedisClient) -> None:
    """Close every connection of the client. A cluster client's ``aclose`` alone does nothing while its
    slot map is marked stale (from a failed call until the next one succeeds), so its nodes are
    disconnected first."""
    if isinstance(client, RedisCluster):
        await asyncio.gather(*(node.disconnect() for node in [*client.get_nodes(), *client.startup_nodes]))
    await client.aclose()


async def ping_redis(client: RedisClient) -> None:
    """PING; on a cluster every primary, so that a shard down shows (one node would answer for all)."""
    if isinstance(client, RedisCluster):
        await asyncio.wait_for(client.ping(target_nodes=RedisCluster.PRIMARIES), timeout=2.0)
    else:
        await asyncio.wait_for(client.ping(), timeout=2.0)


def read_many(client: RedisClient, keys: Sequence[str]) -> Awaitable[list[Any]]:
    """The values of ``keys`` in order (None where missing), one round trip per node holding some.

    One ``MGET`` on a single Redis. On a cluster the keys of different slots cannot share an ``MGET``:
    ``mget_nonatomic`` sends one per slot, pipelined per node (a snapshot per slot, not of the whole).
    """
    if isinstance(client, RedisCluster):
        return client.mget_nonatomic(list(keys))
    return client.mget(list(keys))


def limits_storage(client: RedisClient, key_prefix: str) -> RedisStorage:
    """The ``limits`` library's storage on the app's Redis (exceptions wrapped in ``StorageError``).

    A single Redis: the client's own connection pool. A cluster: the library's cluster storage, which
    builds a cluster client of its own (it cannot take ours) on the same nodes with the same
    credentials, TLS and timeouts; ``close_limits_storage`` closes it.
    """
    if isinstance(client, RedisCluster):
        nodes = ",".join(f"{node.host}:{node.port}" for node in client.startup_nodes)
        return RedisClusterStorage(
            f"async+redis+cluster://{nodes}",
            implementation="redispy",
            key_prefix=key_prefix,
            wrap_exceptions=True,
            **_cluster_options(client),
        )
    options: dict[str, Any] = {"connection_pool": client.connection_pool}
    return RedisStorage(
        "async+redis://", implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True, **options
    )


#: The connection settings a cluster client of the ``limits`` storage copies from the app's.
_SHARED_CONNECTION_OPTIONS = (
    "username",
    "password",
    "socket_timeout",
    "socket_connect_timeout",
    "health_check_interval",
    "ssl_ca_certs",
    "ssl_cert_reqs",
    "ssl_check_hostname",
    "ssl_certfile",
    "ssl_keyfile",
)


def _cluster_options(client: RedisCluster) -> dict[str, Any]:
    kwargs = client.get_connection_kwargs()
    options = {name: kwargs[name] for name in _SHARED_CONNECTION_OPTIONS if kwargs.get(name) is not None}
    connection_class = kwargs.get("connection_class")
    if isinstance(connection_class, type) and issubclass(connection_class, SSLConnection):
        options["ssl"] = True
    options["retry"] = Retry(NoBackoff(), 0)
    return options


async def close_limits_storage(storage: RedisStorage) -> None:
    """Close the cluster client a ``limits`` cluster storage built (one on a single Redis owns nothing:
    it shares the app's connection pool)."""
    bridge = storage.bridge
    client = bridge.get_connection() if isinstance(bridge, RedispyBridge) else None
    if isinstance(client, RedisCluster):
        await close_redis(client)


async def ping_firestore(client: firestore.AsyncClient) -> None:
    await client.collection("_readyz").document("ping").get(timeout=2.0)


async def close_firestore(client: firestore.AsyncClient) -> None:
    """Close the gRPC channel (the async client has no public close)."""
    transport = getattr(getattr(client, "_firestore_api_internal", None), "_transport", None)
    if transport is not None:
        await transport.close()
