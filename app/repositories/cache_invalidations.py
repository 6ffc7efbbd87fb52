"""Cache invalidations that Redis refused, recorded in Firestore so that every instance can apply them.

``/cache_invalidations/{sha256(key)}`` holds ``{key, at}``: one document per key (a key invalidated again
while its record is pending rewrites the same document). The write that caused the invalidation has just
committed to Firestore, so Firestore is up to take the record; an instance that goes away after writing
loses nothing. A record is deleted only after the ``DEL`` it stands for succeeded, and only if nobody
rewrote it since it was read (``last_update_time`` precondition): a key invalidated again meanwhile keeps
its record for the next reader.

Why Firestore and not a Redis set: the records exist because Redis failed. Why not Pub/Sub: the
instances that need them are the ones that could not hear anything while they were cut off.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from google.api_core.exceptions import FailedPrecondition, NotFound
from google.cloud import firestore

from app.core.metrics import firestore_timer

log = logging.getLogger("app.cache")

COLLECTION = "cache_invalidations"
#: Records read per query; a catch-up reads pages of this size until a page is not full.
PAGE = 200
#: Firestore's limit of writes per batch.
_BATCH = 500


@dataclass(frozen=True, slots=True)
class PendingInvalidation:
    key: str
    doc_id: str
    update_time: datetime


def record_id(key: str) -> str:
    """The document id of ``key``'s record: keys may hold ``/`` and exceed Firestore's id rules."""
    return hashlib.sha256(key.encode()).hexdigest()


class DurableInvalidations:
    def __init__(self, client: firestore.AsyncClient) -> None:
        self._db = client

    def _collection(self) -> firestore.AsyncCollectionReference:
        return self._db.collection(COLLECTION)

    async def record(self, keys: Sequence[str]) -> None:
        """One batch write per 500 keys; raises the SDK's error when Firestore refuses it."""
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), _BATCH):
            batch = self._db.batch()
            for key in unique[i : i + _BATCH]:
                record = {"key": key, "at": firestore.SERVER_TIMESTAMP}
                batch.set(self._collection().document(record_id(key)), record)
            with firestore_timer("batch"):
                await batch.commit()

    async def pending(self, limit: int = PAGE) -> list[PendingInvalidation]:
        """Up to ``limit`` records: one query, which reads no document when nothing is pending."""
        query = self._collection().select(["key"]).limit(limit)
        with firestore_timer("query"):
            snaps = [snap async for snap in query.stream()]
        found = []
        for snap in snaps:
            key = (snap.to_dict() or {}).get("key")
            if isinstance(key, str) and snap.update_time is not None:
                found.append(PendingInvalidation(key, snap.id, snap.update_time))
        return found

    async def clear(self, applied: Sequence[PendingInvalidation]) -> None:
        """Delete the records whose ``DEL`` succeeded, unless rewritten since they were read."""
        for i in range(0, len(applied), _BATCH):
            chunk = applied[i : i + _BATCH]
            batch = self._db.batch()
            for item in chunk:
                batch.delete(self._collection().document(item.doc_id), option=self._unchanged(item))
            try:
                with firestore_timer("batch"):
                    await batch.commit()
            except (FailedPrecondition, NotFound):
                # One record was rewritten or already cleared (by another instance): the batch is atomic,
                # so delete the others one by one and keep the rewritten ones.
                await self._clear_one_by_one(chunk)

    async def _clear_one_by_one(self, items: Sequence[PendingInvalidation]) -> None:
        for item in items:
            try:
                with firestore_timer("write"):
                    await self._collection().document(item.doc_id).delete(option=self._unchanged(item))
            except (FailedPrecondition, NotFound):
                kept = {"event": "cache_record_kept"}
                log.info("cache invalidation re-recorded since read: kept", extra=kept)

    def _unchanged(self, item: PendingInvalidation) -> firestore.WriteOption:
        return self._db.write_option(last_update_time=item.update_time)
