"""Refunds, disputes and refund reversals of a payment: each recorded on its payment record, once per
``source_id``, and the player's holdings brought to what the revocations in force leave
(``revocation_share``). One that arrives before its purchase is remembered (``revoke_pending``) and
applied when the purchase arrives; one of a held purchase that takes everything voids the hold."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.domain.audit import AuditRecord
from app.domain.ledger import LedgerTxn, Marker, PaymentRecord, PaymentState, ReviewItem, ReviewStatus, Wallet
from app.services.economy.audit_trail import Chains, changed, with_balances
from app.services.economy.requests import MAX_SOURCE_ID, UNMATCHED_CHAIN, Outcome, Result, valid_uid
from app.services.economy.revocation_share import (
    Revocation,
    RevocationKind,
    describe,
    note,
    settle,
    takes_everything,
)
from app.services.economy.shared import EconomyBase
from app.services.economy.wallet import flag
from app.services.errors import Failure, ServiceError


class Revocations(EconomyBase):
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
        if uid is not None and result.outcome is Outcome.revoked:
            params = {
                "reason": revocation.kind.value,
                "product_id": result.product_id,
                "coins": result.taken_coins,
                "items": result.taken_items,
            }
            self._emit("refund", uid, params, f"refund:{source_id}")
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
            return _remember_pending(
                txn, payment or PaymentRecord(payment_key, PaymentState.revoke_pending), revocation, marker
            )
        uid = payment.uid or ""
        marker.uid = uid
        had_revocations = bool(payment.revocations)
        if not note(payment, revocation):
            marker.outcome = Outcome.duplicate.value
            txn.put_marker(marker)
            return Result(Outcome.duplicate), uid
        uid_ok = valid_uid(uid)
        chain = uid if uid_ok else UNMATCHED_CHAIN
        chains = Chains(txn, self._cipher, now)
        await chains.load(chain)
        wallet = await txn.wallet(uid) if uid_ok else Wallet(uid, exists=False)
        item = await txn.review(payment.review_id) if payment.review_id else None
        record = AuditRecord(
            kind="revoke_noted",
            source="purchase",
            source_id=source_id,
            reason=describe(payment)
            if revocation.kind is not RevocationKind.refund_reversed
            else "refund reversed",
            sensitive=dict(sensitive) if sensitive else None,
        )
        outcome = Outcome.recorded
        if payment.state in (PaymentState.granted, PaymentState.revoked):
            record, outcome = _settle_granted(wallet, payment, record)
        elif payment.state is PaymentState.held and item is not None and item.status is ReviewStatus.pending:
            record, outcome = _revoke_held(txn, item, payment, record, now)
        if wallet.exists:
            wallet.refunds += int(bool(payment.revocations)) - int(had_revocations)
            wallet.refunds = max(wallet.refunds, 0)
        if revocation.kind in payment.revocations:
            flag(wallet, revocation.kind.value)
        txn.put_payment(payment)
        if wallet.exists:
            txn.put_wallet(wallet)
        chains.append(chain, with_balances(record, wallet))
        marker.outcome = outcome.value
        txn.put_marker(marker)
        if outcome is Outcome.revoked:
            taken_items = -sum(n for n in record.items.values() if n < 0)
            taken = Result(
                outcome,
                taken_coins=max(-record.coins, 0),
                taken_items=taken_items,
                product_id=payment.product_id,
            )
            return taken, uid
        return Result(outcome), uid


def _remember_pending(
    txn: LedgerTxn, pending: PaymentRecord, revocation: Revocation, marker: Marker
) -> tuple[Result, str | None]:
    """A revocation of a payment not granted yet: kept on its record, applied when the purchase arrives."""
    pending.state = PaymentState.revoke_pending
    note(pending, revocation)
    txn.put_payment(pending)
    marker.outcome, marker.uid = Outcome.pending.value, pending.uid
    txn.put_marker(marker)
    return Result(Outcome.pending), pending.uid


def _settle_granted(
    wallet: Wallet, payment: PaymentRecord, record: AuditRecord
) -> tuple[AuditRecord, Outcome]:
    """A granted payment: take the share now in force, or give back what a reversal released."""
    coins, items = settle(wallet, payment)
    if coins < 0 or any(n < 0 for n in items.values()):
        return changed(record, kind="revoke", coins=coins, items=items), Outcome.revoked
    if coins > 0 or items:
        return changed(record, kind="revoke_reversed", coins=coins, items=items), Outcome.restored
    return record, Outcome.recorded


def _revoke_held(
    txn: LedgerTxn, item: ReviewItem, payment: PaymentRecord, record: AuditRecord, now: datetime
) -> tuple[AuditRecord, Outcome]:
    """A payment held for review: void the hold when the revocations take everything."""
    if payment.revocations and takes_everything(payment):
        item.status, item.decided_at, item.note = ReviewStatus.void, now, f"payment {describe(payment)}"
        txn.put_review(item)
        payment.state = PaymentState.void
        return changed(record, kind="hold_void", review_id=item.id), Outcome.revoked
    # Approving the item later applies the revocations then in force (a partial refund's share).
    return changed(record, review_id=item.id), Outcome.recorded
