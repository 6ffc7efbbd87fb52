"""A player's purchases in a window, counted in the Firestore ledger: the purchase velocity's fallback
when Redis is unavailable (``app/repositories/ledger_velocity.py``).

The audit log (``/transactions``, the system of record) has one ``grant`` or ``hold`` entry per store
payment, whatever number of webhook events delivered it (the others find the payment record and write
no entry); approving a hold adds a ``grant`` entry with the same ``source_id`` and a purchase refunded
before it arrived a ``purchase_revoked`` one. So the distinct ``source_id`` of those entries are the
player's payments, each dated by its first entry.

The query (``uid`` ==, ``source`` ==, ``created_at`` >=, newest first) needs the composite index
``transactions (uid, source, created_at DESC)`` declared in infra/stacks/data.py. A missing index, a
timeout (``timeout_s`` for the whole count, retries included) or any Firestore error raises: the caller
then holds the purchase.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from google.cloud import firestore

from app.core.metrics import firestore_timer
from app.repositories.ledger import TRANSACTIONS

#: The entries that stand for a payment of the player (``revoke`` and entitlement entries do not).
PAYMENT_ENTRY_KINDS = frozenset({"grant", "hold", "purchase_revoked"})
#: More entries than this in the window: not counted here (the caller holds; such a player needs review).
MAX_ENTRIES = 500


class LedgerCounts:
    def __init__(self, client: firestore.AsyncClient, timeout_s: float = 5.0) -> None:
        self._db = client
        self._timeout_s = timeout_s

    async def purchase_times(self, uid: str, since: datetime) -> list[datetime] | None:
        """When each of the player's payments since ``since`` was first recorded, newest first; ``None``
        when the window holds more than ``MAX_ENTRIES`` purchase entries."""
        query = (
            self._db.collection(TRANSACTIONS)
            .where(filter=firestore.FieldFilter("uid", "==", uid))
            .where(filter=firestore.FieldFilter("source", "==", "purchase"))
            .where(filter=firestore.FieldFilter("created_at", ">=", since))
            .order_by("created_at", direction=firestore.Query.DESCENDING)
            .select(["kind", "source_id", "created_at"])
            .limit(MAX_ENTRIES + 1)
        )
        # The client retries an unreachable Firestore for minutes: bound the whole count, not one attempt.
        with firestore_timer("query"):
            async with asyncio.timeout(self._timeout_s):
                docs = [doc.to_dict() or {} async for doc in query.stream(timeout=self._timeout_s)]
        if len(docs) > MAX_ENTRIES:
            return None
        first: dict[str, datetime] = {}
        for doc in docs:
            if doc.get("kind") in PAYMENT_ENTRY_KINDS:
                at: datetime = doc["created_at"]
                source_id = str(doc.get("source_id"))
                first[source_id] = min(at, first.get(source_id, at))
        return sorted(first.values(), reverse=True)
