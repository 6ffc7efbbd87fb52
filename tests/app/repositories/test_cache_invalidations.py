"""DurableInvalidations against the Firestore emulator: one record per key, read back with a limit, and a
record rewritten after it was read survives the clear of the older copy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.cloud import firestore

from app.core.config import Settings
from app.repositories.cache_invalidations import COLLECTION, DurableInvalidations, record_id
from app.repositories.clients import close_firestore, firestore_client
from tests.app.conftest import Backends, settings_for

T = TypeVar("T")


def with_store(backends: Backends, scenario: Callable[[DurableInvalidations], Awaitable[T]]) -> T:
    settings: Settings = settings_for(backends)

    async def run() -> T:
        db = firestore_client(settings)
        try:
            return await scenario(DurableInvalidations(db))
        finally:
            await close_firestore(db)

    return asyncio.run(run())


def test_recorded_keys_are_pending_once_each_and_cleared(backends: Backends, db: firestore.Client) -> None:
    async def scenario(store: DurableInvalidations) -> tuple[list[str], list[str], int]:
        await store.record(["user:a:profile", "user:b:stats", "user:a:profile"])
        found = sorted(p.key for p in await store.pending())
        first = await store.pending(limit=1)
        await store.clear(await store.pending())
        return found, [p.key for p in first], len(await store.pending())

    found, first, left = with_store(backends, scenario)
    assert found == ["user:a:profile", "user:b:stats"]
    assert len(first) == 1  # the limit holds
    assert left == 0
    assert list(db.collection(COLLECTION).stream()) == []


def test_a_record_rewritten_after_it_was_read_is_kept(backends: Backends, db: firestore.Client) -> None:
    async def scenario(store: DurableInvalidations) -> list[str]:
        await store.record(["user:a:profile", "user:b:profile"])
        read = await store.pending()
        await store.record(["user:a:profile"])  # invalidated again (another write) after the read
        await store.clear(read)
        return [p.key for p in await store.pending()]

    assert with_store(backends, scenario) == ["user:a:profile"]
    kept = db.collection(COLLECTION).document(record_id("user:a:profile")).get().to_dict()
    assert kept is not None
    assert kept["key"] == "user:a:profile"


def test_clearing_records_another_instance_cleared_first_is_not_an_error(
    backends: Backends, db: firestore.Client
) -> None:
    async def scenario(store: DurableInvalidations) -> int:
        await store.record(["hotItems", "activeEvents"])
        read = await store.pending()
        await store.clear(read[:1])  # the other instance
        await store.clear(read)
        return len(await store.pending())

    assert with_store(backends, scenario) == 0
