"""What every economy operation shares: its dependencies, one flight per source in this process, the
processed-source check, the take-back of revocations in force, and the cache invalidation after a commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from app.core.crypto import FieldCipher
from app.domain.audit import AuditRecord
from app.domain.fraud import Thresholds
from app.domain.ledger import Ledger, PaymentRecord, Velocity, Wallet
from app.domain.players import inventory_key
from app.services.analytics import Analytics
from app.services.economy.audit_trail import Chains, with_balances
from app.services.economy.purchases import DecisionSender, ReceiptSender
from app.services.economy.requests import Outcome, Result, valid_uid
from app.services.economy.revocation_share import describe, settle
from app.services.economy.wallet import flag
from app.services.ports import Cache

log = logging.getLogger("app.grants")


class EconomyBase:
    def __init__(
        self,
        ledger: Ledger,
        cache: Cache,
        cipher: FieldCipher,
        velocity: Velocity,
        thresholds: Thresholds,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ledger = ledger
        self._cache = cache
        self._cipher = cipher
        self._velocity = velocity
        self._thresholds = thresholds
        self._clock = clock
        self._flights: dict[str, tuple[asyncio.Lock, int]] = {}
        self._receipts: ReceiptSender | None = None
        self._decisions: DecisionSender | None = None
        self._analytics: Analytics | None = None

    def send_receipts_through(self, sender: ReceiptSender) -> None:
        """Wired by the app once the live events' notifier exists: receipts of approved held purchases."""
        self._receipts = sender

    def send_events_through(self, analytics: Analytics) -> None:
        """Wired by the app: analytics events (grant, purchase_held, review_decided), after each commit."""
        self._analytics = analytics

    def _emit(self, name: str, uid: str, params: dict[str, Any], event_id: str) -> None:
        if self._analytics is None:
            return
        try:
            # The action's id (a source id) may hold the uid: emit hashes it into the event id.
            self._analytics.emit(name, uid if valid_uid(uid) else None, params, event_id=event_id)
        except ValueError:  # a bug in the params must not fail a committed grant: logged, never raised
            log.exception("analytics event refused: %s", name)

    def send_decisions_through(self, sender: DecisionSender) -> None:
        """Wired by the app: the player hears of a review decision that sends no receipt."""
        self._decisions = sender

    @asynccontextmanager
    async def _single_flight(self, source_id: str) -> AsyncIterator[None]:
        """Deliveries of one source in this process run one after the other: the later ones find the
        marker and answer at once instead of contending for the same documents (across processes the
        transaction alone keeps it exactly-once)."""
        lock, users = self._flights.get(source_id, (asyncio.Lock(), 0))
        self._flights[source_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._flights[source_id]
            if users <= 1:
                del self._flights[source_id]
            else:
                self._flights[source_id] = (lock, users - 1)

    async def seen(self, source_id: str) -> Result | None:
        """``duplicate`` when ``source_id`` was processed already (a read outside any transaction)."""
        marker = await self._ledger.find_marker(source_id)
        return Result(Outcome.duplicate, marker.review_id) if marker is not None else None

    def _take_back(
        self, chains: Chains, chain: str, wallet: Wallet, payment: PaymentRecord, source_id: str, note: str
    ) -> None:
        """Apply the revocations in force on a payment just granted (approved), with its audit entry."""
        coins, items = settle(wallet, payment)
        for revocation in payment.revocations:
            flag(wallet, revocation)
        record = AuditRecord(
            kind="revoke",
            source="purchase",
            source_id=source_id,
            coins=coins,
            items=items,
            reason=f"{describe(payment)}: {note}",
        )
        chains.append(chain, with_balances(record, wallet))

    async def _invalidate(self, uid: str) -> None:
        if valid_uid(uid):
            await self._cache.delete(inventory_key(uid))
