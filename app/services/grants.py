"""The grant service: the one way currency, items and entitlements change (implements ``Granter``).

Each operation is ONE ledger transaction that reads the processed-source marker, the player's wallet,
the payment record and the audit chain heads, and writes the wallet, the audit entries, the chain heads,
the marker and (for payments) the payment record together. So:

- a second delivery of the same ``source_id`` finds the marker and changes nothing (DUPLICATE);
- a payment is granted at most once whichever of its events arrives first or how often (the payment
  record's state), and a refund or dispute that arrives before its purchase is remembered
  (``revoke_pending``) and applied when the purchase arrives;
- balances never go negative: a revocation takes what is there and records the rest as debt, which
  later grants pay off first; the player is flagged (``debt``, ``refund``, ``chargeback``);
- what a payment's revocations take back follows from the facts recorded on its payment record, not
  from the order the events came in (``revocation_share``): a dispute or a full refund takes the whole
  grant; a partial refund takes the refunded share of the coins, rounded up, and no items; a refund
  reversal removes the refund, and what it took is given back (debt paid off first), once.

A fraud hit (velocity, unusual pattern, receipt mismatch, unknown player) holds the grant: a review item
is written instead of the wallet change, and approving it applies the grant once. Approving a held
purchase sends the player its receipt (through ``ReceiptSender``) once the approval has committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any, Protocol, TypeVar

from app.core.crypto import FieldCipher
from app.services.audit import AuditRecord, ChainHead, admin_chain, chain_entry, head_after, redact
from app.services.errors import Failure, ServiceError
from app.services.fraud import PurchaseFacts, Thresholds, unusual_patterns
from app.services.grant_port import GrantOutcome, GrantRequest, GrantSource
from app.services.grants_models import (
    EntryPage,
    Ledger,
    LedgerTxn,
    Marker,
    PaymentRecord,
    PaymentState,
    ReviewItem,
    ReviewPage,
    ReviewStatus,
    Velocity,
    Wallet,
)
from app.services.notifications import Receipt
from app.services.ports import Cache
from app.services.users import UserService

_UID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
#: Where entries about a payment for no recognisable player go (their review item names the raw id).
UNMATCHED_CHAIN = "system:unmatched"
MAX_SOURCE_ID = 512
MAX_ITEM_COUNT = 1_000_000

log = logging.getLogger("app.grants")

T = TypeVar("T")


class Outcome(StrEnum):
    granted = "granted"
    duplicate = "duplicate"
    held = "held"
    revoked = "revoked"
    #: A revocation for a payment not seen yet: applied when the purchase arrives.
    pending = "pending"
    #: Accepted and recorded; nothing to change (informational events, sandbox in prod, ...).
    recorded = "recorded"
    #: Entitlements ended, moved or changed.
    entitlements = "entitlements"
    #: A refund reversal gave back what the refund had taken.
    restored = "restored"


_PORT_OUTCOME = {Outcome.granted: GrantOutcome.GRANTED, Outcome.held: GrantOutcome.HELD}


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    review_id: str | None = None
    #: Why a grant was held (``held`` only).
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Purchase:
    """A store payment behind a grant: its key across events, facts for the fraud checks, secrets."""

    payment_key: str
    product_id: str
    facts: PurchaseFacts
    #: Encrypted in the audit entry: store transaction ids, payment details.
    sensitive: Mapping[str, Any] = field(default_factory=dict)
    #: {id, product_id, expires_at_ms, store} for subscription products.
    entitlement: Mapping[str, Any] | None = None
    #: Reasons found before the transaction (receipt validation mismatch, ...): hold for review.
    review_reasons: tuple[str, ...] = ()
    ip: str | None = None
    #: What was paid, in minor units (what a partial refund's share is taken of); 0: unknown.
    amount_minor: int = 0


class ReceiptSender(Protocol):
    async def purchase_granted(self, uid: str, receipt: Receipt) -> bool:
        """Push the receipt to the player's devices; never raises (a failure is logged and counted)."""
        ...


class RevocationKind(StrEnum):
    refund = "refund"
    chargeback = "chargeback"
    #: The store reversed a refund (RevenueCat ``REFUND_REVERSED``): what it took is given back.
    refund_reversed = "refund_reversed"


@dataclass(frozen=True, slots=True)
class Revocation:
    """A refund, dispute or refund reversal of one payment, as the provider reports it."""

    kind: RevocationKind
    #: Refunds: the amount refunded, in minor units (0: unknown, taken as the whole payment).
    refunded_minor: int = 0
    #: What the payment was, in the same units, when the event says (Stripe's charge ``amount``).
    amount_minor: int = 0
    #: Stripe's ``amount_refunded`` is the charge's running total; RevenueCat sends one event per refund.
    cumulative: bool = False


def valid_uid(uid: str) -> bool:
    return bool(_UID.match(uid))


def review_id_for(source_id: str) -> str:
    return hashlib.sha256(source_id.encode()).hexdigest()[:24]


def _check_request(request: GrantRequest) -> None:
    if not request.source_id or len(request.source_id) > MAX_SOURCE_ID:
        raise ServiceError(
            Failure.INVALID, "invalid_grant", f"source_id must have 1..{MAX_SOURCE_ID} characters"
        )
    if request.coins < 0:
        raise ServiceError(
            Failure.INVALID, "invalid_grant", "a grant cannot take coins away; revocations do that"
        )
    if any(n < 1 or n > MAX_ITEM_COUNT for n in request.items.values()):
        raise ServiceError(Failure.INVALID, "invalid_grant", f"item counts must be 1..{MAX_ITEM_COUNT}")
    if request.coins == 0 and not request.items:
        raise ServiceError(Failure.INVALID, "invalid_grant", "the grant grants nothing")


def _credit(wallet: Wallet, coins: int, items: Mapping[str, int]) -> None:
    """Add to the wallet; a debt is paid off first."""
    paid = min(coins, wallet.debt_coins)
    wallet.debt_coins -= paid
    wallet.coins += coins - paid
    for item, count in items.items():
        _add(wallet.items, item, count - _take(wallet.debt_items, item, count))
    if not wallet.debt_coins and not wallet.debt_items and "debt" in wallet.flags:
        wallet.flags.remove("debt")


def _debit(wallet: Wallet, coins: int, items: Mapping[str, int]) -> None:
    """Take from the wallet, never below zero: what is missing becomes debt and flags the player."""
    taken = min(coins, wallet.coins)
    wallet.coins -= taken
    wallet.debt_coins += coins - taken
    for item, count in items.items():
        _add(wallet.debt_items, item, count - _take(wallet.items, item, count))
    if wallet.debt_coins or wallet.debt_items:
        _flag(wallet, "debt")


def _take(counts: dict[str, int], item: str, wanted: int) -> int:
    """Take up to ``wanted`` of ``item`` from ``counts`` (an item at zero is dropped); how many were taken."""
    have = counts.get(item, 0)
    taken = min(wanted, have)
    if have - taken:
        counts[item] = have - taken
    else:
        counts.pop(item, None)
    return taken


def _add(counts: dict[str, int], item: str, n: int) -> None:
    if n:
        counts[item] = counts.get(item, 0) + n


def _flag(wallet: Wallet, flag: str) -> None:
    if flag not in wallet.flags:
        wallet.flags.append(flag)


def refund_share(payment: PaymentRecord) -> Fraction:
    """The refunded share of the payment in force: 0 (none) .. 1 (all, or amounts unknown)."""
    if RevocationKind.refund not in payment.revocations:
        return Fraction(0)
    if payment.refunded_minor <= 0 or payment.amount_minor <= 0:
        return Fraction(1)
    return min(Fraction(payment.refunded_minor, payment.amount_minor), Fraction(1))


def revocation_share(payment: PaymentRecord) -> tuple[int, dict[str, int]]:
    """What the revocations in force take back of the payment's grant (the economy team's rule):
    a dispute or a full refund takes everything; a partial refund takes the refunded share of the coins,
    rounded up, and no items (an item cannot be split; the player is flagged instead)."""
    share = refund_share(payment)
    if RevocationKind.chargeback in payment.revocations or share == 1:
        return payment.coins, dict(payment.items)
    return math.ceil(payment.coins * share), {}


def _takes_everything(payment: PaymentRecord) -> bool:
    return revocation_share(payment) == (payment.coins, dict(payment.items))


def _note(payment: PaymentRecord, revocation: Revocation) -> bool:
    """Record the revocation's facts on the payment; False when they change nothing (a redundant event)."""
    revocations = payment.revocations
    if revocation.kind is RevocationKind.chargeback:
        if RevocationKind.chargeback in revocations:
            return False
        revocations.append(RevocationKind.chargeback)
        return True
    if revocation.kind is RevocationKind.refund_reversed:
        if RevocationKind.refund in revocations:
            revocations.remove(RevocationKind.refund)
            payment.refunded_minor = 0
        else:
            payment.reversals_pending += 1  # the refund it reverses has not arrived yet
        return True
    if payment.reversals_pending:
        payment.reversals_pending -= 1  # reversed before it arrived
        return True
    before = (RevocationKind.refund in revocations, payment.refunded_minor, payment.amount_minor)
    if revocation.amount_minor > 0:
        payment.amount_minor = revocation.amount_minor
    if revocation.refunded_minor <= 0:
        payment.refunded_minor = max(payment.refunded_minor, payment.amount_minor)
    elif revocation.cumulative:
        payment.refunded_minor = max(payment.refunded_minor, revocation.refunded_minor)
    else:
        payment.refunded_minor += revocation.refunded_minor
    if RevocationKind.refund not in revocations:
        revocations.append(RevocationKind.refund)
    return before != (True, payment.refunded_minor, payment.amount_minor)


def _settle(wallet: Wallet, payment: PaymentRecord) -> tuple[int, dict[str, int]]:
    """Bring what the player holds of a granted payment to what its revocations leave: take the rest of
    the share (never below zero: debt), or give back what a reversal released (debt paid first).
    Returns the change: negative taken, positive given back."""
    coins, items = revocation_share(payment)
    take_coins = coins - payment.revoked_coins
    names = sorted(set(items) | set(payment.revoked_items))
    take_items = {n: items.get(n, 0) - payment.revoked_items.get(n, 0) for n in names}
    _debit(wallet, max(take_coins, 0), {n: c for n, c in take_items.items() if c > 0})
    _credit(wallet, max(-take_coins, 0), {n: -c for n, c in take_items.items() if c < 0})
    payment.revoked_coins, payment.revoked_items = coins, items
    if payment.entitlement and _takes_everything(payment):
        wallet.entitlements.pop(payment.entitlement, None)
    payment.state = PaymentState.revoked if _takes_everything(payment) else PaymentState.granted
    return -take_coins, {n: -c for n, c in take_items.items() if c}


class _Chains:
    """Appends audit entries inside one transaction, keeping each chain's head in memory."""

    def __init__(self, txn: LedgerTxn, cipher: FieldCipher, now: datetime) -> None:
        self._txn = txn
        self._cipher = cipher
        self._now = now
        self._heads: dict[str, ChainHead] = {}

    async def load(self, *chains: str) -> None:
        """Read the heads up front (Firestore transactions read everything before writing)."""
        for chain in chains:
            if chain not in self._heads:
                self._heads[chain] = await self._txn.head(chain)

    def append(self, chain: str, record: AuditRecord) -> None:
        entry = chain_entry(chain, self._heads[chain], record, self._now, self._cipher)
        self._txn.append(entry)
        self._heads[chain] = head_after(entry)
        self._txn.put_head(chain, self._heads[chain])


class GrantService:
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

    def send_receipts_through(self, sender: ReceiptSender) -> None:
        """Wired by the app once the live events' notifier exists: receipts of approved held purchases."""
        self._receipts = sender

    # --- the Granter port ---------------------------------------------------------------------------

    async def grant(self, request: GrantRequest) -> GrantOutcome:
        """Rewards and admin grants (purchases go through ``purchase``)."""
        result = await self.apply(request)
        return _PORT_OUTCOME.get(result.outcome, GrantOutcome.DUPLICATE)

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

    async def apply(
        self, request: GrantRequest, purchase: Purchase | None = None, ip: str | None = None
    ) -> Result:
        _check_request(request)
        async with self._single_flight(request.source_id):
            return await self._apply(request, purchase, ip)

    async def _apply(self, request: GrantRequest, purchase: Purchase | None, ip: str | None) -> Result:
        known = await self._ledger.find_marker(request.source_id)
        if known is not None:
            return Result(Outcome.duplicate, known.review_id)
        reasons: list[str] = []
        if purchase is not None:
            reasons.extend(purchase.review_reasons)
            ip = purchase.ip or ip
        kind = _velocity_kind(request.source)
        if kind and valid_uid(request.uid):
            reasons.extend(await self._velocity.exceeded(kind, request.uid, ip, request.source_id))
        result = await self._ledger.run(
            lambda txn: self._apply_txn(txn, request, purchase, reasons), lambda: self.seen(request.source_id)
        )
        if result.outcome in (Outcome.granted, Outcome.revoked):
            await self._invalidate(request.uid)
        elif result.outcome is Outcome.held:
            # Counted by the log-based metric behind the suspicious-activity alert (monitoring/metrics/).
            log.warning(
                "grant held for review",
                extra={
                    "event": "fraud_flagged",
                    "rule": ",".join(result.reasons),
                    "uid": request.uid,
                    "review_id": result.review_id,
                },
            )
        return result

    async def seen(self, source_id: str) -> Result | None:
        """``duplicate`` when ``source_id`` was processed already (a read outside any transaction)."""
        marker = await self._ledger.find_marker(source_id)
        return Result(Outcome.duplicate, marker.review_id) if marker is not None else None

    async def purchase(self, request: GrantRequest, purchase: Purchase) -> Result:
        return await self.apply(request, purchase)

    async def _apply_txn(
        self, txn: LedgerTxn, request: GrantRequest, purchase: Purchase | None, pre_reasons: list[str]
    ) -> Result:
        now = self._clock()
        if (await txn.marker(request.source_id)) is not None:
            return Result(Outcome.duplicate)
        uid_ok = valid_uid(request.uid)
        chain = request.uid if uid_ok else UNMATCHED_CHAIN
        chains = _Chains(txn, self._cipher, now)
        await chains.load(chain)
        wallet = await txn.wallet(request.uid) if uid_ok else Wallet(request.uid, exists=False)
        payment = await txn.payment(purchase.payment_key) if purchase is not None else None
        marker = Marker(request.source_id, "", kind=request.source.value, uid=request.uid)
        sensitive = dict(purchase.sensitive) if purchase is not None else None
        base = AuditRecord(
            kind="grant",
            source=request.source.value,
            source_id=request.source_id,
            coins=request.coins,
            items=request.items,
            reason=request.reason,
            sensitive=sensitive,
        )

        if payment is not None and payment.state in (PaymentState.granted, PaymentState.held):
            marker.outcome = Outcome.duplicate.value  # another event of the same payment got here first
            txn.put_marker(marker)
            return Result(Outcome.duplicate, payment.review_id)

        # A refund, dispute or reversal that overtook its purchase: its facts carry over to the payment.
        earlier = payment if payment is not None and payment.state is PaymentState.revoke_pending else None
        if earlier is not None and purchase is not None:
            overtaken = _payment_from(purchase, request, PaymentState.revoked, earlier)
            if overtaken.revocations and _takes_everything(overtaken):
                # Refunded in full or disputed before the purchase arrived: record both, the player keeps
                # nothing (as if granted and taken back at once, so a later reversal gives it all back).
                wallet.purchases += 1
                wallet.refunds += 1
                for revocation in overtaken.revocations:
                    _flag(wallet, revocation)
                overtaken.revoked_coins, overtaken.revoked_items = overtaken.coins, dict(overtaken.items)
                record = _with(
                    base, kind="purchase_revoked", coins=0, items={}, reason="revoked before delivery"
                )
                chains.append(chain, _balances(record, wallet))
                txn.put_payment(overtaken)
                if wallet.exists:
                    txn.put_wallet(wallet)
                marker.outcome = Outcome.revoked.value
                txn.put_marker(marker)
                return Result(Outcome.revoked)

        reasons = list(pre_reasons)
        if not wallet.exists:
            reasons.append("unknown_user")
        if purchase is not None and wallet.exists:
            reasons.extend(unusual_patterns(wallet, purchase.facts, self._thresholds))
        if reasons:
            item = ReviewItem(
                id=review_id_for(request.source_id),
                status=ReviewStatus.pending,
                uid=request.uid,
                reasons=reasons,
                source=request.source.value,
                source_id=request.source_id,
                coins=request.coins,
                items=dict(request.items),
                reason=request.reason,
                created_at=now,
                payment_key=purchase.payment_key if purchase is not None else None,
                price_usd_cents=purchase.facts.price_usd_cents if purchase is not None else 0,
                entitlement=dict(purchase.entitlement) if purchase and purchase.entitlement else None,
            )
            txn.put_review(item)
            held = _with(base, kind="hold", coins=0, items={}, reason=",".join(reasons), review_id=item.id)
            chains.append(chain, held)
            if purchase is not None:
                record_ = _payment_from(purchase, request, PaymentState.held, earlier)
                record_.review_id = item.id
                txn.put_payment(record_)
            marker.outcome, marker.review_id = Outcome.held.value, item.id
            txn.put_marker(marker)
            return Result(Outcome.held, item.id, tuple(reasons))

        _credit(wallet, request.coins, request.items)
        granted = None
        if purchase is not None:
            wallet.purchases += 1
            wallet.spent_usd_cents += purchase.facts.price_usd_cents
            if purchase.entitlement:
                _grant_entitlement(wallet, purchase.entitlement)
            granted = _payment_from(purchase, request, PaymentState.granted, earlier)
        chains.append(chain, _balances(base, wallet))
        if granted is not None:
            if granted.revocations:  # a partial refund that overtook the purchase: take its share now
                wallet.refunds += 1
                self._take_back(chains, chain, wallet, granted, base.source_id, "refunded before delivery")
            txn.put_payment(granted)
        txn.put_wallet(wallet)
        marker.outcome = Outcome.granted.value
        txn.put_marker(marker)
        return Result(Outcome.granted)

    def _take_back(
        self, chains: _Chains, chain: str, wallet: Wallet, payment: PaymentRecord, source_id: str, note: str
    ) -> None:
        """Apply the revocations in force on a payment just granted (approved), with its audit entry."""
        coins, items = _settle(wallet, payment)
        for revocation in payment.revocations:
            _flag(wallet, revocation)
        record = AuditRecord(
            kind="revoke",
            source="purchase",
            source_id=source_id,
            coins=coins,
            items=items,
            reason=f"{_describe(payment)}: {note}",
        )
        chains.append(chain, _balances(record, wallet))

    # --- revocations ---------------------------------------------------------------------------------

    async def revoke(
        self,
        source_id: str,
        payment_key: str,
        revocation: Revocation,
        sensitive: Mapping[str, Any] | None = None,
    ) -> Result:
        """A refund, dispute or refund reversal of ``payment_key`` (once per ``source_id``): record it on
        the payment and bring the player's holdings to what the revocations in force leave."""
        if not source_id or len(source_id) > MAX_SOURCE_ID:
            raise ServiceError(Failure.INVALID, "invalid_revocation", "bad source id")
        async with self._single_flight(source_id):
            return await self._revoke(source_id, payment_key, revocation, sensitive)

    async def _revoke(
        self, source_id: str, payment_key: str, revocation: Revocation, sensitive: Mapping[str, Any] | None
    ) -> Result:
        known = await self._ledger.find_marker(source_id)
        if known is not None:
            return Result(Outcome.duplicate)

        async def settled() -> tuple[Result, str | None] | None:
            return (Result(Outcome.duplicate), None) if await self.seen(source_id) else None

        result, uid = await self._ledger.run(
            lambda txn: self._revoke_txn(txn, source_id, payment_key, revocation, sensitive), settled
        )
        if uid is not None and result.outcome in (Outcome.revoked, Outcome.restored):
            await self._invalidate(uid)
        if uid is not None and result.outcome is Outcome.revoked and valid_uid(uid):
            await self._velocity.exceeded("refund", uid, None, source_id)
        return result

    async def _revoke_txn(
        self,
        txn: LedgerTxn,
        source_id: str,
        payment_key: str,
        revocation: Revocation,
        sensitive: Mapping[str, Any] | None,
    ) -> tuple[Result, str | None]:
        now = self._clock()
        if (await txn.marker(source_id)) is not None:
            return Result(Outcome.duplicate), None
        payment = await txn.payment(payment_key)
        marker = Marker(source_id, "", kind=revocation.kind.value)
        if payment is None or payment.state in (PaymentState.awaiting, PaymentState.revoke_pending):
            pending = payment or PaymentRecord(payment_key, PaymentState.revoke_pending)
            pending.state = PaymentState.revoke_pending
            _note(pending, revocation)
            txn.put_payment(pending)
            marker.outcome, marker.uid = Outcome.pending.value, pending.uid
            txn.put_marker(marker)
            return Result(Outcome.pending), pending.uid
        uid = payment.uid or ""
        marker.uid = uid
        had_revocations = bool(payment.revocations)
        if not _note(payment, revocation):
            marker.outcome = Outcome.duplicate.value
            txn.put_marker(marker)
            return Result(Outcome.duplicate), uid
        uid_ok = valid_uid(uid)
        chain = uid if uid_ok else UNMATCHED_CHAIN
        chains = _Chains(txn, self._cipher, now)
        await chains.load(chain)
        wallet = await txn.wallet(uid) if uid_ok else Wallet(uid, exists=False)
        item = await txn.review(payment.review_id) if payment.review_id else None
        record = AuditRecord(
            kind="revoke_noted",
            source="purchase",
            source_id=source_id,
            reason=_describe(payment)
            if revocation.kind is not RevocationKind.refund_reversed
            else "refund reversed",
            sensitive=dict(sensitive) if sensitive else None,
        )
        outcome = Outcome.recorded
        if payment.state in (PaymentState.granted, PaymentState.revoked):
            coins, items = _settle(wallet, payment)
            if coins < 0 or any(n < 0 for n in items.values()):
                record, outcome = _with(record, kind="revoke", coins=coins, items=items), Outcome.revoked
            elif coins > 0 or items:
                record, outcome = (
                    _with(record, kind="revoke_reversed", coins=coins, items=items),
                    Outcome.restored,
                )
        elif payment.state is PaymentState.held and item is not None and item.status is ReviewStatus.pending:
            if payment.revocations and _takes_everything(payment):
                item.status, item.decided_at, item.note = (
                    ReviewStatus.void,
                    now,
                    f"payment {_describe(payment)}",
                )
                txn.put_review(item)
                payment.state = PaymentState.void
                record, outcome = _with(record, kind="hold_void", review_id=item.id), Outcome.revoked
            else:
                # Approving the item later applies the revocations then in force (a partial refund's share).
                record = _with(record, review_id=item.id)
        if wallet.exists:
            wallet.refunds += int(bool(payment.revocations)) - int(had_revocations)
            wallet.refunds = max(wallet.refunds, 0)
        if revocation.kind in payment.revocations:
            _flag(wallet, revocation.kind.value)
        txn.put_payment(payment)
        if wallet.exists:
            txn.put_wallet(wallet)
        chains.append(chain, _balances(record, wallet))
        marker.outcome = outcome.value
        txn.put_marker(marker)
        return Result(outcome), uid

    # --- informational events and entitlements --------------------------------------------------------

    async def record(self, source_id: str, kind: str, uid: str | None = None) -> Result:
        """An accepted event that changes nothing: the marker records it (and dedupes it)."""

        async def work(txn: LedgerTxn) -> Result:
            if (await txn.marker(source_id)) is not None:
                return Result(Outcome.duplicate)
            txn.put_marker(Marker(source_id, Outcome.recorded.value, kind=kind, uid=uid))
            return Result(Outcome.recorded)

        async with self._single_flight(source_id):
            return await self._ledger.run(work, lambda: self.seen(source_id))

    async def change_entitlements(
        self,
        source_id: str,
        kind: str,
        uids: list[str],
        edit: Callable[[dict[str, Wallet]], dict[str, str]],
    ) -> Result:
        """Once per ``source_id``: ``edit`` changes the existing players' wallets (uid -> Wallet) and
        returns uid -> audit reason for each wallet it changed."""
        valid = list(dict.fromkeys(uid for uid in uids if valid_uid(uid)))

        async def work(txn: LedgerTxn) -> Result:
            now = self._clock()
            if (await txn.marker(source_id)) is not None:
                return Result(Outcome.duplicate)
            chains = _Chains(txn, self._cipher, now)
            await chains.load(*valid)
            wallets = {uid: await txn.wallet(uid) for uid in valid}
            changed = edit({uid: w for uid, w in wallets.items() if w.exists})
            for uid, reason in changed.items():
                wallet = wallets[uid]
                txn.put_wallet(wallet)
                record = AuditRecord(kind=kind, source="purchase", source_id=source_id, reason=reason)
                chains.append(uid, _balances(record, wallet))
            joined = ",".join(valid)[:1500]
            txn.put_marker(Marker(source_id, Outcome.entitlements.value, kind=kind, uid=joined))
            return Result(Outcome.entitlements)

        async with self._single_flight(source_id):
            result = await self._ledger.run(work, lambda: self.seen(source_id))
        for uid in valid:
            await self._invalidate(uid)
        return result

    # --- admin actions outside the economy --------------------------------------------------------------

    async def admin_action(
        self,
        admin_uid: str,
        change: Callable[[Any], Awaitable[T]],
        describe: Callable[[T], AuditRecord],
    ) -> T:
        """Run ``change`` (another repository's reads and writes, handed the transaction) and append
        ``describe(its result)`` to the admin's chain in the same transaction: the change is never
        unaudited, and a refused change (``change`` raises) leaves no entry."""
        admin = admin_chain(admin_uid)

        async def work(txn: LedgerTxn) -> T:
            chains = _Chains(txn, self._cipher, self._clock())
            await chains.load(admin)
            result = await change(txn.transaction)
            chains.append(admin, _with(describe(result), actor=admin))
            return result

        return await self._ledger.run(work)

    # --- review queue ---------------------------------------------------------------------------------

    async def review_queue(self, status: ReviewStatus, limit: int, cursor: str | None) -> ReviewPage:
        return await self._ledger.review_items(status, limit, cursor)

    async def approve(self, item_id: str, admin_uid: str, note: str) -> ReviewItem:
        return await self._decide(item_id, admin_uid, note, approve=True)

    async def reject(self, item_id: str, admin_uid: str, note: str) -> ReviewItem:
        return await self._decide(item_id, admin_uid, note, approve=False)

    async def _decide(self, item_id: str, admin_uid: str, note: str, *, approve: bool) -> ReviewItem:
        async def work(txn: LedgerTxn) -> tuple[ReviewItem, Receipt | None]:
            now = self._clock()
            item = await txn.review(item_id)
            if item is None:
                raise ServiceError(Failure.NOT_FOUND, "review_item_not_found", "no such review item")
            if item.status is not ReviewStatus.pending:
                raise ServiceError(
                    Failure.CONFLICT, "already_decided", f"the item is {item.status.value} already"
                )
            uid_ok = valid_uid(item.uid)
            admin = admin_chain(admin_uid)
            chain = item.uid if uid_ok else UNMATCHED_CHAIN
            chains = _Chains(txn, self._cipher, now)
            await chains.load(chain, admin)
            wallet = await txn.wallet(item.uid) if uid_ok else Wallet(item.uid, exists=False)
            payment = await txn.payment(item.payment_key) if item.payment_key else None
            marker = await txn.marker(item.source_id) or Marker(item.source_id, "", uid=item.uid)
            actor = f"admin:{admin_uid}"
            receipt: Receipt | None = None
            if approve:
                if not wallet.exists:
                    raise ServiceError(
                        Failure.CONFLICT, "user_missing", "the player does not exist; reject the item"
                    )
                _credit(wallet, item.coins, item.items)
                if item.payment_key:
                    wallet.purchases += 1
                    wallet.spent_usd_cents += item.price_usd_cents
                if item.entitlement:
                    _grant_entitlement(wallet, item.entitlement)
                txn.put_wallet(wallet)
                granted = AuditRecord(
                    kind="grant",
                    source=item.source,
                    source_id=item.source_id,
                    actor=actor,
                    coins=item.coins,
                    items=item.items,
                    reason=f"approved: {note}".strip(),
                    review_id=item.id,
                )
                chains.append(chain, _balances(granted, wallet))
                if payment is not None:
                    payment.state = PaymentState.granted
                    if payment.revocations:  # partially refunded while held: its share goes back now
                        self._take_back(chains, chain, wallet, payment, item.source_id, "refunded while held")
                        txn.put_wallet(wallet)
                    txn.put_payment(payment)
                    receipt = _approved_receipt(item, payment)
                marker.outcome = Outcome.granted.value
            else:
                rejected = AuditRecord(
                    kind="hold_rejected",
                    source=item.source,
                    source_id=item.source_id,
                    actor=actor,
                    reason=f"rejected: {note}".strip(),
                    review_id=item.id,
                )
                chains.append(chain, rejected)
                if payment is not None:
                    payment.state = PaymentState.rejected
                    txn.put_payment(payment)
                marker.outcome = "rejected"
            txn.put_marker(marker)
            item.status = ReviewStatus.approved if approve else ReviewStatus.rejected
            item.decided_by, item.decided_at, item.note = admin_uid, now, note
            txn.put_review(item)
            action = AuditRecord(
                kind="review_approve" if approve else "review_reject",
                source=item.source,
                source_id=item.source_id,
                actor=actor,
                coins=item.coins if approve else 0,
                items=item.items if approve else {},
                reason=f"{item.uid}: {note}".strip(),
                review_id=item.id,
            )
            chains.append(admin, action)
            return item, receipt

        decided, receipt = await self._ledger.run(work)
        if approve:
            await self._invalidate(decided.uid)
        if receipt is not None and self._receipts is not None:
            # After the commit (only the approval that committed gets here; a decided item raised 409).
            # The sender never raises: the approval stands whatever the push does.
            await self._receipts.purchase_granted(decided.uid, receipt)
        return decided

    # --- reads ----------------------------------------------------------------------------------------

    async def transactions(self, uid: str, limit: int, cursor: str | None) -> EntryPage:
        """The player's own audit entries, newest first, redacted (nothing sealed, no hashes)."""
        page = await self._ledger.entries(uid, limit, cursor)
        return EntryPage([redact(entry) for entry in page.entries], page.next_cursor)

    async def _invalidate(self, uid: str) -> None:
        if valid_uid(uid):
            await self._cache.delete(UserService.inventory_key(uid))


def _velocity_kind(source: GrantSource) -> str | None:
    if source is GrantSource.PURCHASE:
        return "purchase"
    if source in (GrantSource.EVENT_REWARD, GrantSource.LEADERBOARD_REWARD):
        return "claim"
    return None


def _with(record: AuditRecord, **changes: Any) -> AuditRecord:
    values = {name: getattr(record, name) for name in record.__dataclass_fields__}
    values.update(changes)
    return AuditRecord(**values)


def _balances(record: AuditRecord, wallet: Wallet) -> AuditRecord:
    if not wallet.exists:
        return record
    return _with(record, balance_coins=wallet.coins, debt_coins=wallet.debt_coins)


def _grant_entitlement(wallet: Wallet, entitlement: Mapping[str, Any]) -> None:
    ent = dict(entitlement)
    wallet.entitlements[str(ent.pop("id"))] = ent


def _payment_from(
    purchase: Purchase, request: GrantRequest, state: PaymentState, earlier: PaymentRecord | None = None
) -> PaymentRecord:
    """The payment record of a purchase; ``earlier`` holds revocations that arrived before it."""
    record = PaymentRecord(
        key=purchase.payment_key,
        state=state,
        uid=request.uid,
        product_id=purchase.product_id,
        coins=request.coins,
        items=dict(request.items),
        entitlement=str(purchase.entitlement["id"]) if purchase.entitlement else None,
        source_id=request.source_id,
        amount_minor=purchase.amount_minor,
    )
    if earlier is not None:
        record.revocations = list(earlier.revocations)
        record.refunded_minor = earlier.refunded_minor
        record.reversals_pending = earlier.reversals_pending
        record.amount_minor = earlier.amount_minor or purchase.amount_minor
    return record


def _approved_receipt(item: ReviewItem, payment: PaymentRecord) -> Receipt | None:
    """The receipt of a held purchase just approved: what the item grants; the product from its payment
    record; the transaction id from its payment key (``revenuecat:{transaction_id}``,
    ``stripe:{payment_intent}``, ``stripe:charge:{checkout session id}``)."""
    product_id = payment.product_id or (item.entitlement or {}).get("product_id")
    if not product_id:
        return None
    provider, _, transaction_id = payment.key.partition(":")
    if provider == "stripe":
        transaction_id = transaction_id.removeprefix("charge:")
    entitlement = str(item.entitlement["id"]) if item.entitlement else None
    return Receipt(str(product_id), transaction_id or payment.key, item.coins, dict(item.items), entitlement)


def _describe(payment: PaymentRecord) -> str:
    """The revocations in force, for the audit entry: ``refund 30/99``, ``refund,chargeback``."""
    parts = []
    for revocation in payment.revocations:
        share = refund_share(payment)
        if revocation == RevocationKind.refund and share < 1:
            parts.append(f"partial refund {payment.refunded_minor}/{payment.amount_minor}")
        else:
            parts.append(revocation)
    return ",".join(parts) or "none in force"
