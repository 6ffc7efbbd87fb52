"""Firestore transactions retried from scratch on contention (app/repositories/transactions.py), on the
emulator, whose pessimistic locks abort a transaction that waits on another for 2 s."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.async_transaction import AsyncTransaction

from app.repositories.clients import close_firestore, firestore_client
from app.repositories.errors import StoreBusyError
from app.repositories.transactions import run_transaction
from tests.app.conftest import Backends, settings_for

WRITERS = 6


def _client(backends: Backends) -> firestore.AsyncClient:
    return firestore_client(settings_for(backends))


def test_overlapping_read_then_write_transactions_all_commit_and_lose_no_update(
    backends: Backends, db: firestore.Client
) -> None:
    """Every writer reads the counter before any writes it, so Firestore must abort all but one of each
    round; each is retried until it commits on what the others committed."""

    async def main() -> list[int]:
        client = _client(backends)
        ref = client.collection("counters").document("c")
        await ref.set({"n": 0})
        everyone_read = asyncio.Barrier(WRITERS)

        async def writer() -> int:
            first = True

            @firestore.async_transactional
            async def increment(txn: AsyncTransaction) -> int:
                nonlocal first
                snap = await ref.get(transaction=txn)
                if first:  # only the first attempts meet: a retry must not wait for the others again
                    first = False
                    await everyone_read.wait()
                n = int((snap.to_dict() or {})["n"]) + 1
                txn.update(ref, {"n": n})
                return n

            return await run_transaction(client, increment, "counter_busy")

        try:
            return await asyncio.gather(*(writer() for _ in range(WRITERS)))
        finally:
            await close_firestore(client)

    seen = asyncio.run(main())
    assert sorted(seen) == list(range(1, WRITERS + 1))  # each saw the others' commits: no lost update
    assert (db.collection("counters").document("c").get().to_dict() or {})["n"] == WRITERS


def test_contention_past_the_budget_answers_503_with_the_callers_code(
    backends: Backends, db: firestore.Client
) -> None:
    async def main() -> Any:
        client = _client(backends)
        ref = client.collection("counters").document("held")
        await ref.set({"n": 0})
        holder = client.transaction(max_attempts=1)
        await holder._begin()
        await ref.get(transaction=holder)  # holds the document until it commits

        @firestore.async_transactional
        async def overwrite(txn: AsyncTransaction) -> None:
            await ref.get(transaction=txn)
            txn.update(ref, {"n": 99})

        try:
            with pytest.raises(StoreBusyError) as refused:
                await run_transaction(client, overwrite, "counter_busy", budget_s=0.5)
            holder.update(ref, {"n": 1})
            await holder._commit()
            return refused.value
        finally:
            await close_firestore(client)

    refused = asyncio.run(main())
    assert refused.code == "counter_busy"
    assert (db.collection("counters").document("held").get().to_dict() or {})["n"] == 1  # nothing half-done
