"""``/realtime_outbox/{id}``: the friendship mirror's pending work, and the Firestore truth it applies.

A change to a friendship (``FriendRepository.change``) or to ``presence_visible``
(``UserRepository.update_profile``) records a ``MirrorKey`` here in the same transaction or batch as the
change itself, so no committed change can be forgotten by a crash or an outage between Firestore and the
Realtime Database. One document per key (``MirrorKey.record_id``): ``{kind, uids, recorded_at, nonce}``;
recording again rewrites it, which changes its ``update_time``.

Whoever applies a key (the request right after its commit, ``realtime sync`` later) reads the record,
applies the truth as it is then, and deletes the record only if it was not recorded again meanwhile (a
delete conditioned on the ``update_time`` it read): a change committed during the apply keeps its record.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

from google.api_core.exceptions import FailedPrecondition, NotFound
from google.cloud import firestore
from google.cloud.firestore_v1.async_batch import AsyncWriteBatch
from google.cloud.firestore_v1.async_transaction import AsyncTransaction

from app.core.metrics import firestore_timer
from app.domain.realtime import MirrorKey, MirrorRecord, PlayerMirror
from app.repositories.users import COLLECTION as USERS

COLLECTION = "realtime_outbox"
_USER_FIELDS = ["friends", "presence_visible"]


def _record(snap: Any) -> MirrorRecord | None:
    data = snap.to_dict() if snap.exists else None
    if data is None:
        return None
    try:
        key = MirrorKey.of(str(data.get("kind")), [str(u) for u in data.get("uids") or []])
    except ValueError:
        return None
    return MirrorRecord(key, snap.update_time)


class RealtimeOutbox:
    def __init__(self, client: firestore.AsyncClient) -> None:
        self._db = client

    def _doc(self, key: MirrorKey) -> firestore.AsyncDocumentReference:
        return self._db.collection(COLLECTION).document(key.record_id)

    def record(self, writer: AsyncTransaction | AsyncWriteBatch, key: MirrorKey) -> None:
        """Adds the record to ``writer``: it commits with the change, or not at all."""
        writer.set(
            self._doc(key),
            {
                "kind": key.kind,
                "uids": list(key.uids),
                "recorded_at": datetime.now(UTC),
                # Recording the same key twice must change the document, so that its update_time moves.
                "nonce": secrets.token_hex(8),
            },
        )

    async def get(self, key: MirrorKey) -> MirrorRecord | None:
        with firestore_timer("get"):
            snap = await self._doc(key).get()
        return _record(snap)

    async def pending(self, limit: int) -> list[MirrorRecord]:
        """The oldest ``limit`` records (ordered by when they were last recorded)."""
        query = self._db.collection(COLLECTION).order_by("recorded_at").limit(limit)
        found: list[MirrorRecord] = []
        with firestore_timer("query"):
            async for snap in query.stream():
                pending = _record(snap)
                if pending is not None:
                    found.append(pending)
        return found

    async def settle(self, record: MirrorRecord) -> bool:
        """Deletes the record if it is still the one read; False when it was recorded again (or is gone)."""
        option = self._db.write_option(last_update_time=record.version)
        try:
            with firestore_timer("write"):
                await self._doc(record.key).delete(option=option)
        except (FailedPrecondition, NotFound):
            return False
        return True

    # --- the truth, read from /users ----------------------------------------------------------------

    async def truth(self, key: MirrorKey) -> bool:
        """For a friendship: both players exist and list each other; for a hidden flag: the player exists
        and has ``presence_visible`` false."""
        refs = [self._db.collection(USERS).document(uid) for uid in key.uids]
        with firestore_timer("get"):
            found = {s.id: s.to_dict() async for s in self._db.get_all(refs, field_paths=_USER_FIELDS)}
        docs = [found.get(uid) for uid in key.uids]
        if any(doc is None for doc in docs):
            return False
        if key.kind == "hidden":
            return (docs[0] or {}).get("presence_visible") is False
        (a, b), (doc_a, doc_b) = key.uids, docs
        return b in ((doc_a or {}).get("friends") or []) and a in ((doc_b or {}).get("friends") or [])

    async def players(self, uids: Sequence[str]) -> list[PlayerMirror]:
        """What the shards should hold for each of ``uids`` that exists (one batched read), by uid."""
        if not uids:
            return []
        refs = [self._db.collection(USERS).document(uid) for uid in dict.fromkeys(uids)]
        with firestore_timer("get"):
            snaps = [s async for s in self._db.get_all(refs, field_paths=_USER_FIELDS)]
        return sorted((_player(s.id, s.to_dict() or {}) for s in snaps if s.exists), key=lambda p: p.uid)

    async def player_ids(self, page: int) -> AsyncIterator[list[str]]:
        """Every player's uid, ``page`` at a time, in document order (a key-only query)."""
        last: Any = None
        while True:
            query = self._db.collection(USERS).select([]).order_by("__name__").limit(page)
            if last is not None:
                query = query.start_after(last)
            with firestore_timer("query"):
                snaps = [s async for s in query.stream()]
            if not snaps:
                return
            yield [s.id for s in snaps]
            if len(snaps) < page:
                return
            last = snaps[-1]


def _player(uid: str, data: dict[str, Any]) -> PlayerMirror:
    # ``friends`` is mutual by construction: both documents are written in one transaction
    # (app/repositories/friends.py), and one-sided entries from before consent were migrated.
    return PlayerMirror(
        uid=uid,
        friends=tuple(str(f) for f in data.get("friends") or []),
        hidden=data.get("presence_visible") is False,
    )
