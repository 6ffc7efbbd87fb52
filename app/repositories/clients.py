"""Connections to Firestore and Redis; the only module that builds SDK clients."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.core.config import Settings

DEFAULT_DATABASE = "(default)"


def firestore_client(settings: Settings) -> firestore.AsyncClient:
    if settings.firestore_emulator_host:
        # The emulator needs no credential; google.cloud.firestore sends "Bearer owner" to it.
        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        return firestore.AsyncClient(project=settings.firebase_project_id, credentials=anonymous)
    return firestore.AsyncClient(project=settings.firebase_project_id)


def games_client(settings: Settings, users: firestore.AsyncClient) -> firestore.AsyncClient:
    """The client of the database holding this region's /games: ``users`` itself when the games share it
    (phase 1), else one on ``settings.games_database``."""
    return database_client(users, settings.games_database)


def database_client(users: firestore.AsyncClient, database: str) -> firestore.AsyncClient:
    """``users`` itself for the default database, else a client of ``database`` with the same project and
    credentials (anonymous ones with the emulator)."""
    if database == DEFAULT_DATABASE:
        return users
    return firestore.AsyncClient(project=users.project, credentials=users._credentials, database=database)


def redis_client(settings: Settings) -> redis.Redis:
    """Redis is a cache: a slow Redis must not hold a request for long (reads fall back to Firestore).

    Short timeouts and no client-side retries: the circuit breaker (app/repositories/breaker.py)
    decides when to stop trying, so one call costs at most ``redis_timeout_ms``.
    """
    timeout_s = settings.redis_timeout_ms / 1000
    return redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )


async def ping_redis(client: redis.Redis) -> None:
    await asyncio.wait_for(client.ping(), timeout=2.0)


async def ping_firestore(client: firestore.AsyncClient) -> None:
    await client.collection("_readyz").document("ping").get(timeout=2.0)


async def close_firestore(client: firestore.AsyncClient) -> None:
    """Close the gRPC channel (the async client has no public close)."""
    transport = getattr(getattr(client, "_firestore_api_internal", None), "_transport", None)
    if transport is not None:
        await transport.close()
