"""The ledger: wallets, payment records, markers, review items, and the transaction the grants run in.

The repository (``app/repositories/ledger.py``) implements ``Ledger``: ``run`` opens one Firestore
transaction, hands the service a ``LedgerTxn`` whose reads go through the transaction and whose writes
are buffered and committed together, or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from app.domain.audit import ChainHead

T = TypeVar("T")


@dataclass(slots=True)
class Wallet:
    """The economy part of ``/users/{uid}``: ``inventory`` plus ``economy`` (debt, flags, history)."""

    uid: str
    exists: bool
    coins: int = 0
    items: dict[str, int] = field(default_factory=dict)
    debt_coins: int = 0
    debt_items: dict[str, int] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    #: entitlement id -> {product_id, expires_at_ms, store}
    entitlements: dict[str, dict[str, Any]] = field(default_factory=dict)
    country: str | None = None
    purchases: int = 0
    refunds: int = 0
    spent_usd_cents: int = 0


class PaymentState(StrEnum):
    #: A Stripe Checkout Session completed without the money yet (async payment methods).
    awaiting = "awaiting"
    granted = "granted"
    held = "held"
    rejected = "rejected"
    revoked = "revoked"
    #: A refund, dispute or refund reversal arrived before its purchase: applied when the purchase arrives.
    revoke_pending = "revoke_pending"
    #: Held for review, then refunded or disputed: never granted, nothing to take back or give back.
    void = "void"


@dataclass(slots=True)
class PaymentRecord:
    """``/payments/{key}``: one store payment, whatever order its events arrive in."""

    key: str
    state: PaymentState
    uid: str | None = None
    product_id: str | None = None
    coins: int = 0
    items: dict[str, int] = field(default_factory=dict)
    entitlement: str | None = None
    #: "refund", "chargeback": every revocation in force, each once (a refund reversal removes "refund").
    revocations: list[str] = field(default_factory=list)
    review_id: str | None = None
    source_id: str | None = None
    #: What was paid, in minor units (RevenueCat: USD cents; Stripe: the charge's currency); 0: unknown.
    amount_minor: int = 0
    #: Refunded so far, in the same units (0 with "refund" in force: refunded in full, amounts unknown).
    refunded_minor: int = 0
    #: What the revocations in force have taken back from the player so far (a reversal gives it back).
    revoked_coins: int = 0
    revoked_items: dict[str, int] = field(default_factory=dict)
    #: Refund reversals that arrived before the refund they reverse: each cancels the next refund.
    reversals_pending: int = 0


@dataclass(slots=True)
class Marker:
    """``/processed_sources/{hash(source_id)}``: a source (webhook event, reward) was handled."""

    source_id: str
    outcome: str
    kind: str = ""
    uid: str | None = None
    review_id: str | None = None


class ReviewStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    #: The payment was refunded or disputed while held: nothing to approve any more.
    void = "void"


@dataclass(slots=True)
class ReviewItem:
    """``/review_queue/{id}``: a held grant and why it was held."""

    id: str
    status: ReviewStatus
    uid: str
    reasons: list[str]
    source: str
    source_id: str
    coins: int
    items: dict[str, int]
    reason: str
    created_at: datetime
    payment_key: str | None = None
    price_usd_cents: int = 0
    entitlement: dict[str, Any] | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str = ""


class LedgerTxn(Protocol):
    @property
    def transaction(self) -> Any:
        """The database transaction itself, for a change another repository commits with the entries."""
        ...

    async def wallet(self, uid: str) -> Wallet: ...
    async def head(self, chain: str) -> ChainHead: ...
    async def marker(self, source_id: str) -> Marker | None: ...
    async def payment(self, key: str) -> PaymentRecord | None: ...
    async def review(self, item_id: str) -> ReviewItem | None: ...
    def put_wallet(self, wallet: Wallet) -> None: ...
    def append(self, entry: Mapping[str, Any]) -> None: ...
    def put_head(self, chain: str, head: ChainHead) -> None: ...
    def put_marker(self, marker: Marker) -> None: ...
    def put_payment(self, record: PaymentRecord) -> None: ...
    def put_review(self, item: ReviewItem) -> None: ...


@dataclass(frozen=True, slots=True)
class EntryPage:
    entries: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ReviewPage:
    items: list[ReviewItem]
    next_cursor: str | None


class Ledger(Protocol):
    async def run(
        self,
        work: Callable[[LedgerTxn], Awaitable[T]],
        settled: Callable[[], Awaitable[T | None]] | None = None,
    ) -> T: ...
    async def find_marker(self, source_id: str) -> Marker | None: ...
    async def entries(self, uid: str, limit: int, cursor: str | None) -> EntryPage: ...
    async def review_items(self, status: ReviewStatus, limit: int, cursor: str | None) -> ReviewPage: ...


class Velocity(Protocol):
    """Velocity counters (per user, per IP); each source is counted once however often it is delivered."""

    async def exceeded(self, kind: str, uid: str, ip: str | None, source_id: str) -> list[str]: ...
