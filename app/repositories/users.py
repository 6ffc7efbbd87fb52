"""``/users/{uid}`` in Firestore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore
from google.cloud.firestore_v1.async_batch import AsyncWriteBatch
from google.cloud.firestore_v1.async_transaction import AsyncTransaction

from app.core.metrics import firestore_timer
from app.domain.players import Inventory, Profile, ProfileChanges, Stats
from app.domain.realtime import MirrorKey

COLLECTION = "users"


class MirrorRecorder(Protocol):
    """Adds a friendship-mirror record to a transaction or batch (app/repositories/realtime_outbox.py)."""

    def record(self, writer: AsyncTransaction | AsyncWriteBatch, key: MirrorKey) -> None: ...


def _profile(data: dict[str, Any]) -> Profile:
    return Profile.model_validate(data)


class UserRepository:
    def __init__(self, client: firestore.AsyncClient, outbox: MirrorRecorder | None = None) -> None:
        """``outbox``: a change to ``presence_visible`` is recorded there in the same batch (the
        Realtime Database's ``/hidden`` mirror, app/repositories/realtime_outbox.py); None: realtime off."""
        self._db = client
        self._outbox = outbox

    def _doc(self, uid: str) -> firestore.AsyncDocumentReference:
        return self._db.collection(COLLECTION).document(uid)

    async def get(self, uid: str) -> Profile | None:
        with firestore_timer("get"):
            snap = await self._doc(uid).get()
        data = snap.to_dict()
        return _profile(data) if snap.exists and data is not None else None

    async def create(self, uid: str, display_name: str) -> Profile:
        """Create the document with its defaults, or return the one a concurrent request created."""
        now = datetime.now(UTC)
        data: dict[str, Any] = {
            "uid": uid,
            "display_name": display_name,
            "country": None,
            "avatar_id": None,
            "created_at": now,
            "updated_at": now,
            "stats": {"games_played": 0, "best_score": 0, "total_score": 0},
            "inventory": {"coins": 0, "items": {}},
            "friends": [],
            "presence_visible": True,
        }
        try:
            with firestore_timer("write"):
                await self._doc(uid).create(data)
        except AlreadyExists:
            existing = await self.get(uid)
            if existing is not None:
                return existing
            raise
        return _profile(data)

    async def update_profile(self, uid: str, changes: ProfileChanges) -> None:
        fields: dict[str, Any] = changes.model_dump(exclude_unset=True)
        fields["updated_at"] = datetime.now(UTC)
        if self._outbox is None or "presence_visible" not in fields:
            with firestore_timer("write"):
                await self._doc(uid).update(fields)
            return
        batch = self._db.batch()  # both or neither
        batch.update(self._doc(uid), fields)
        self._outbox.record(batch, MirrorKey.hidden(uid))
        with firestore_timer("write"):
            await batch.commit()

    async def get_inventory(self, uid: str) -> Inventory | None:
        with firestore_timer("get"):
            snap = await self._doc(uid).get(field_paths=["inventory"])
        if not snap.exists:
            return None
        data = snap.to_dict() or {}
        return Inventory.model_validate(data.get("inventory") or {})

    async def get_stats(self, uid: str) -> Stats | None:
        with firestore_timer("get"):
            snap = await self._doc(uid).get(field_paths=["stats"])
        if not snap.exists:
            return None
        data = snap.to_dict() or {}
        return Stats.model_validate(data.get("stats") or {})
