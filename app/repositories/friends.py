"""Friendships, friend requests and blocks on ``/users/{uid}``: both players' documents in one transaction.

Fields (the rules: ``app/domain/friends.py``): ``friends`` (mutual only), ``friend_requests_in`` and
``friend_requests_out`` (maps uid -> sent at), ``blocked``. A change reads both documents in a transaction,
lets the rules change them in memory and writes back, in the same transaction, the fields that changed:
a friendship is never one-sided, and a refused change writes nothing. A change to ``friends`` also records
the pair in the Realtime Database mirror's outbox, in that transaction (``RealtimeOutbox``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.cloud import firestore
from google.cloud.firestore_v1.async_transaction import AsyncTransaction

from app.core.metrics import firestore_timer
from app.domain.friends import Side
from app.domain.realtime import MirrorKey
from app.repositories.transactions import run_transaction
from app.repositories.users import COLLECTION, MirrorRecorder

T = TypeVar("T")

FRIENDS = "friends"
REQUESTS_IN = "friend_requests_in"
REQUESTS_OUT = "friend_requests_out"
BLOCKED = "blocked"


def _side(uid: str, data: dict[str, Any] | None) -> Side:
    if data is None:
        return Side(uid=uid, exists=False)
    return Side(
        uid=uid,
        friends=list(data.get(FRIENDS) or []),
        requests_in=dict(data.get(REQUESTS_IN) or {}),
        requests_out=dict(data.get(REQUESTS_OUT) or {}),
        blocked=list(data.get(BLOCKED) or []),
    )


def _changes(before: Side, after: Side) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, old, new in (
        (FRIENDS, before.friends, after.friends),
        (REQUESTS_IN, before.requests_in, after.requests_in),
        (REQUESTS_OUT, before.requests_out, after.requests_out),
        (BLOCKED, before.blocked, after.blocked),
    ):
        if old != new:
            fields[name] = new
    return fields


class FriendRepository:
    def __init__(self, client: firestore.AsyncClient, outbox: MirrorRecorder | None = None) -> None:
        """``outbox``: a change to the friendship is recorded there in the same transaction (the
        Realtime Database's ``/friends`` mirror, app/repositories/realtime_outbox.py); None: realtime off."""
        self._db = client
        self._outbox = outbox

    def _doc(self, uid: str) -> firestore.AsyncDocumentReference:
        return self._db.collection(COLLECTION).document(uid)

    async def side(self, uid: str) -> Side:
        with firestore_timer("get"):
            snap = await self._doc(uid).get(field_paths=[FRIENDS, REQUESTS_IN, REQUESTS_OUT, BLOCKED])
        return _side(uid, snap.to_dict() if snap.exists else None)

    async def change(self, uid: str, other: str, rules: Callable[[Side, Side], T]) -> T:
        """``rules(mine, theirs)`` on both documents as read in one transaction, retried on contention;
        what it changed is written in that transaction (nothing when it raises)."""

        @firestore.async_transactional
        async def attempt(txn: AsyncTransaction) -> T:
            refs = [self._doc(uid), self._doc(other)] if other != uid else [self._doc(uid)]
            # AsyncTransaction.get_all awaits the client's async generator (a TypeError): ask the client.
            snaps = {s.id: s async for s in self._db.get_all(refs, transaction=txn)}
            sides = {
                ref.id: _side(ref.id, snaps[ref.id].to_dict() if snaps[ref.id].exists else None)
                for ref in refs
            }
            mine, theirs = sides[uid], sides[other]
            before = {key: side.copy() for key, side in sides.items()}
            result = rules(mine, theirs)
            now = datetime.now(UTC)
            befriended_or_not = False
            for ref in refs:
                fields = _changes(before[ref.id], sides[ref.id])
                if fields and sides[ref.id].exists:
                    txn.update(ref, {**fields, "updated_at": now})
                    befriended_or_not |= FRIENDS in fields
            if befriended_or_not and self._outbox is not None:
                self._outbox.record(txn, MirrorKey.friendship(uid, other))
            return result

        return await run_transaction(self._db, attempt, "friends_busy")

    async def listed_friends(self) -> AsyncIterator[tuple[str, list[str]]]:
        """Every player with a non-empty ``friends`` list, and that list (the migration's input)."""
        query = self._db.collection(COLLECTION).select([FRIENDS])
        async for snap in query.stream():
            listed = list((snap.to_dict() or {}).get(FRIENDS) or [])
            if listed:
                yield snap.id, listed

    async def display_names(self, uids: Sequence[str]) -> dict[str, str]:
        """The display names of the players that exist among ``uids`` (one batched read)."""
        if not uids:
            return {}
        refs = [self._doc(uid) for uid in dict.fromkeys(uids)]
        with firestore_timer("get"):
            snaps = [s async for s in self._db.get_all(refs, field_paths=["display_name"])]
        return {s.id: str((s.to_dict() or {}).get("display_name", "")) for s in snaps if s.exists}
