"""``/events/{eventId}`` in Firestore, with ``participants/{uid}`` and ``reward_claims/{uid}`` under it.

The event document holds the window, goal and rewards (``announced_at`` once its start was pushed); a
participation is created once per player (``create``: the first join wins, later joins read it); a claim
is created once per player inside a transaction that re-reads the event and the participation. The claim
document is only created there (never read first in that transaction), so concurrent claims do not wait
on each other's locks: the first commit creates it and every other commit fails with ``AlreadyExists``,
after which the existing claim is read and answered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists, FailedPrecondition
from google.cloud import firestore
from google.cloud.firestore_v1.async_transaction import AsyncTransaction
from google.cloud.firestore_v1.base_query import FieldFilter

from app.core.metrics import firestore_timer
from app.domain.live_events import (
    ClaimRecord,
    ClaimStatus,
    EventSpec,
    Goal,
    LiveEvent,
    Participation,
    Rewards,
)
from app.repositories.transactions import run_transaction

COLLECTION = "events"
PARTICIPANTS = "participants"
CLAIMS = "reward_claims"


def _event(event_id: str, data: dict[str, Any] | None) -> LiveEvent | None:
    if data is None:
        return None
    return LiveEvent(
        event_id=event_id,
        name=data["name"],
        description=data.get("description", ""),
        starts_at=data["starts_at"],
        ends_at=data["ends_at"],
        goal=Goal.model_validate(data["goal"]),
        rewards=Rewards.model_validate(data["rewards"]),
        created_by=data["created_by"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        announced_at=data.get("announced_at"),
    )


def _participation(data: dict[str, Any] | None) -> Participation | None:
    return Participation(uid=data["uid"], joined_at=data["joined_at"]) if data else None


def _claim(data: dict[str, Any] | None) -> ClaimRecord | None:
    if data is None:
        return None
    return ClaimRecord(
        uid=data["uid"],
        event_id=data["event_id"],
        claimed_at=data["claimed_at"],
        progress=data["progress"],
        coins=data["coins"],
        items=dict(data.get("items") or {}),
        status=ClaimStatus(data["status"]),
        grant_failed=bool(data.get("grant_failed", False)),
    )


def _claim_data(record: ClaimRecord) -> dict[str, Any]:
    return {
        "uid": record.uid,
        "event_id": record.event_id,
        "claimed_at": record.claimed_at,
        "progress": record.progress,
        "coins": record.coins,
        "items": dict(record.items),
        "status": record.status.value,
        "grant_failed": record.grant_failed,
        "updated_at": record.claimed_at,
    }


class EventRepository:
    def __init__(self, client: firestore.AsyncClient) -> None:
        self._db = client

    def _ref(self, event_id: str) -> firestore.AsyncDocumentReference:
        return self._db.collection(COLLECTION).document(event_id)

    def _participant(self, event_id: str, uid: str) -> firestore.AsyncDocumentReference:
        ref: firestore.AsyncDocumentReference = self._ref(event_id).collection(PARTICIPANTS).document(uid)
        return ref

    def _claim_ref(self, event_id: str, uid: str) -> firestore.AsyncDocumentReference:
        ref: firestore.AsyncDocumentReference = self._ref(event_id).collection(CLAIMS).document(uid)
        return ref

    async def create_event(
        self, txn: AsyncTransaction, spec: EventSpec, created_by: str, now: datetime
    ) -> LiveEvent:
        ref = self._db.collection(COLLECTION).document()
        data: dict[str, Any] = {
            "name": spec.name,
            "description": spec.description,
            "starts_at": spec.starts_at,
            "ends_at": spec.ends_at,
            "goal": spec.goal.model_dump(mode="json"),
            "rewards": spec.rewards.model_dump(),
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
            "announced_at": None,
        }
        txn.create(ref, data)
        event = _event(str(ref.id), data)
        assert event is not None
        return event

    async def get_event(self, event_id: str) -> LiveEvent | None:
        with firestore_timer("get"):
            snap = await self._ref(event_id).get()
        return _event(event_id, snap.to_dict() if snap.exists else None)

    async def not_ended(self, now: datetime, limit: int) -> list[LiveEvent]:
        query = (
            self._db.collection(COLLECTION)
            .where(filter=FieldFilter("ends_at", ">", now))
            .order_by("ends_at")
            .limit(limit)
        )
        events: list[LiveEvent] = []
        with firestore_timer("query"):
            async for snap in query.stream():
                event = _event(str(snap.id), snap.to_dict())
                if event is not None:
                    events.append(event)
        return sorted(events, key=lambda e: (e.starts_at, e.event_id))

    async def mark_announced(self, event_id: str, now: datetime) -> bool:
        """Set ``announced_at`` unless set: True for the one caller that set it.

        A write conditional on the document being unchanged since it was read, not a transaction: of
        concurrent callers one write lands and the others fail the precondition at once, where
        transactions on one document wait on each other's locks and can all run out of attempts."""
        ref = self._ref(event_id)
        with firestore_timer("get"):
            snap = await ref.get(field_paths=["announced_at"])
        if not snap.exists or (snap.to_dict() or {}).get("announced_at") is not None:
            return False
        try:
            with firestore_timer("write"):
                await ref.update(
                    {"announced_at": now}, option=self._db.write_option(last_update_time=snap.update_time)
                )
        except FailedPrecondition:
            return False  # changed since the read: another caller marked it (or an admin edited it)
        return True

    async def update_event(
        self, txn: AsyncTransaction, event_id: str, revise: Callable[[LiveEvent | None, bool], LiveEvent]
    ) -> LiveEvent:
        """Read the event and whether anyone claimed its reward, then write what ``revise`` decides, in
        ``txn``. A claim's own transaction reads the event document this one writes, so a claim and a
        change of the rewards are serialised: the claim sees the new rewards or the change sees the claim."""
        ref = self._ref(event_id)
        snap = await ref.get(transaction=txn)
        current = _event(event_id, snap.to_dict() if snap.exists else None)
        claimed = False
        if current is not None:
            first_claim = ref.collection(CLAIMS).limit(1)
            claimed = bool([claim async for claim in await txn.get(first_claim)])
        updated = revise(current, claimed)
        txn.update(
            ref,
            {
                "name": updated.name,
                "description": updated.description,
                "starts_at": updated.starts_at,
                "ends_at": updated.ends_at,
                "goal": updated.goal.model_dump(mode="json"),
                "rewards": updated.rewards.model_dump(),
                "updated_at": updated.updated_at,
            },
        )
        return updated

    async def join(self, event_id: str, uid: str, now: datetime) -> Participation:
        ref = self._participant(event_id, uid)
        try:
            with firestore_timer("write"):
                await ref.create({"uid": uid, "joined_at": now})
            return Participation(uid=uid, joined_at=now)
        except AlreadyExists:
            found = await self.get_participation(event_id, uid)
            assert found is not None  # participations are never deleted
            return found

    async def get_participation(self, event_id: str, uid: str) -> Participation | None:
        with firestore_timer("get"):
            snap = await self._participant(event_id, uid).get()
        return _participation(snap.to_dict() if snap.exists else None)

    async def get_claim(self, event_id: str, uid: str) -> ClaimRecord | None:
        with firestore_timer("get"):
            snap = await self._claim_ref(event_id, uid).get()
        return _claim(snap.to_dict() if snap.exists else None)

    async def create_claim(
        self,
        event_id: str,
        uid: str,
        decide: Callable[[LiveEvent | None, Participation | None], ClaimRecord],
    ) -> tuple[ClaimRecord, bool]:
        """Record the claim ``decide`` returns, once: ``(claim, True)`` for the request that created it,
        ``(existing claim, False)`` for every other."""
        event_ref = self._ref(event_id)
        part_ref = self._participant(event_id, uid)
        claim_ref = self._claim_ref(event_id, uid)

        @firestore.async_transactional
        async def run(txn: AsyncTransaction) -> ClaimRecord:
            event_snap = await event_ref.get(transaction=txn)
            part_snap = await part_ref.get(transaction=txn)
            event = _event(event_id, event_snap.to_dict() if event_snap.exists else None)
            record = decide(event, _participation(part_snap.to_dict() if part_snap.exists else None))
            txn.create(claim_ref, _claim_data(record))
            return record

        try:
            return await run_transaction(self._db, run, "claim_busy"), True
        except AlreadyExists:
            existing = await self.get_claim(event_id, uid)
            assert existing is not None  # claims are never deleted
            return existing, False

    async def set_claim_status(self, event_id: str, uid: str, status: ClaimStatus, failed: bool) -> None:
        changes = {"status": status.value, "grant_failed": failed, "updated_at": firestore.SERVER_TIMESTAMP}
        with firestore_timer("write"):
            await self._claim_ref(event_id, uid).update(changes)

    async def recent_claimed_items(self, since: datetime, limit: int) -> list[dict[str, int]]:
        query = (
            self._db.collection_group(CLAIMS)
            .where(filter=FieldFilter("claimed_at", ">=", since))
            .order_by("claimed_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
            .select(["items"])
        )
        found: list[dict[str, int]] = []
        with firestore_timer("query"):
            async for snap in query.stream():
                items = (snap.to_dict() or {}).get("items") or {}
                found.append({str(k): int(v) for k, v in items.items()})
        return found
