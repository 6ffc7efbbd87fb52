"""``/users/{uid}/devices/{deviceId}``: the player's FCM registration tokens (server-side only; the
document id is a hash of the token). At most ``MAX_DEVICES`` are kept, the most recently registered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.cloud import firestore
from google.cloud.firestore_v1.async_transaction import AsyncTransaction

from app.core.metrics import firestore_timer
from app.domain.notifications import MAX_DEVICES, Platform
from app.repositories.transactions import run_transaction
from app.repositories.users import COLLECTION as USERS

DEVICES = "devices"


class DeviceRepository:
    def __init__(self, client: firestore.AsyncClient) -> None:
        self._db = client

    def _devices(self, uid: str) -> firestore.AsyncCollectionReference:
        devices: firestore.AsyncCollectionReference = (
            self._db.collection(USERS).document(uid).collection(DEVICES)
        )
        return devices

    async def register(self, uid: str, device_id: str, token: str, platform: Platform, now: datetime) -> None:
        devices = self._devices(uid)
        newest_first = devices.order_by("updated_at", direction=firestore.Query.DESCENDING)

        @firestore.async_transactional
        async def run(txn: AsyncTransaction) -> None:
            kept = [snap async for snap in await txn.get(newest_first)]
            others = [snap for snap in kept if snap.id != device_id]
            txn.set(
                devices.document(device_id), {"token": token, "platform": platform.value, "updated_at": now}
            )
            for stale in others[MAX_DEVICES - 1 :]:
                txn.delete(stale.reference)

        await run_transaction(self._db, run, "devices_busy")

    async def tokens(self, uid: str) -> list[str]:
        found: list[str] = []
        with firestore_timer("query"):
            async for snap in self._devices(uid).limit(MAX_DEVICES).stream():
                token = (snap.to_dict() or {}).get("token")
                if isinstance(token, str):
                    found.append(token)
        return found

    async def forget(self, uid: str, device_ids: Sequence[str]) -> int:
        """Delete these devices of ``uid``; returns how many existed."""
        removed = 0
        for device_id in device_ids:
            ref = self._devices(uid).document(device_id)
            with firestore_timer("get"):
                exists = (await ref.get(field_paths=["updated_at"])).exists
            if exists:
                with firestore_timer("write"):
                    await ref.delete()
                removed += 1
        return removed
