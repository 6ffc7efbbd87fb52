"""Grants held for review and the admins' decisions: approving applies the grant once (and the
revocations that arrived while it was held), rejecting records why; both go on the admin's audit chain.
An approved held purchase sends its receipt once the approval has committed; any other decision sends the
player a ``review_decided`` message then."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.audit import AuditRecord, admin_chain
from app.domain.ledger import (
    LedgerTxn,
    Marker,
    PaymentRecord,
    PaymentState,
    ReviewItem,
    ReviewPage,
    ReviewStatus,
    Wallet,
)
from app.domain.notifications import Receipt, ReviewDecision
from app.services.economy.audit_trail import Chains, with_balances
from app.services.economy.purchases import approved_receipt
from app.services.economy.requests import UNMATCHED_CHAIN, Outcome, valid_uid
from app.services.economy.shared import EconomyBase
from app.services.economy.wallet import credit, grant_entitlement
from app.services.errors import Failure, ServiceError


@dataclass(slots=True)
class _Decision:
    """One admin's decision on one held item, inside its ledger transaction."""

    txn: LedgerTxn
    item: ReviewItem
    chain: str
    chains: Chains
    wallet: Wallet
    payment: PaymentRecord | None
    marker: Marker
    actor: str
    note: str


class ReviewDecisions(EconomyBase):
    async def review_queue(self, status: ReviewStatus, limit: int, cursor: str | None) -> ReviewPage:
        return await self._ledger.review_items(status, limit, cursor)

    async def approve(self, item_id: str, admin_uid: str, note: str) -> ReviewItem:
        return await self._decide(item_id, admin_uid, note, approve=True)

    async def reject(self, item_id: str, admin_uid: str, note: str) -> ReviewItem:
        return await self._decide(item_id, admin_uid, note, approve=False)

    async def _decide(self, item_id: str, admin_uid: str, note: str, *, approve: bool) -> ReviewItem:
        async def work(txn: LedgerTxn) -> tuple[ReviewItem, Receipt | None]:
            return await self._decide_txn(txn, item_id, admin_uid, note, approve=approve)

        decided, receipt = await self._ledger.run(work)
        params = {"decision": decided.status.value, "product_id": None}
        self._emit("review_decided", decided.uid, params, f"review_decided:{decided.id}")
        if approve:
            await self._invalidate(decided.uid)
        if receipt is not None and self._receipts is not None:
            # After the commit (only the approval that committed gets here; a decided item raised 409).
            # The sender never raises: the approval stands whatever the push does.
            await self._receipts.purchase_granted(decided.uid, receipt)
        elif self._decisions is not None and valid_uid(decided.uid):
            # Any other decision: one message, after the commit too (the receipt above says it all).
            decision = ReviewDecision(decided.id, approve, decided.source)
            await self._decisions.review_decided(decided.uid, decision)
        return decided

    async def _decide_txn(
        self, txn: LedgerTxn, item_id: str, admin_uid: str, note: str, *, approve: bool
    ) -> tuple[ReviewItem, Receipt | None]:
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
        chains = Chains(txn, self._cipher, now)
        await chains.load(chain, admin)
        wallet = await txn.wallet(item.uid) if uid_ok else Wallet(item.uid, exists=False)
        payment = await txn.payment(item.payment_key) if item.payment_key else None
        marker = await txn.marker(item.source_id) or Marker(item.source_id, "", uid=item.uid)
        decision = _Decision(txn, item, chain, chains, wallet, payment, marker, f"admin:{admin_uid}", note)
        receipt = None
        if approve:
            receipt = self._approve(decision)
        else:
            _reject(decision)
        txn.put_marker(marker)
        item.status = ReviewStatus.approved if approve else ReviewStatus.rejected
        item.decided_by, item.decided_at, item.note = admin_uid, now, note
        txn.put_review(item)
        chains.append(admin, _admin_record(decision, approve=approve))
        return item, receipt

    def _approve(self, d: _Decision) -> Receipt | None:
        item, wallet, payment = d.item, d.wallet, d.payment
        if not wallet.exists:
            raise ServiceError(Failure.CONFLICT, "user_missing", "the player does not exist; reject the item")
        credit(wallet, item.coins, item.items)
        if item.payment_key:
            wallet.purchases += 1
            wallet.spent_usd_cents += item.price_usd_cents
        if item.entitlement:
            grant_entitlement(wallet, item.entitlement)
        d.txn.put_wallet(wallet)
        granted = AuditRecord(
            kind="grant",
            source=item.source,
            source_id=item.source_id,
            actor=d.actor,
            coins=item.coins,
            items=item.items,
            reason=f"approved: {d.note}".strip(),
            review_id=item.id,
        )
        d.chains.append(d.chain, with_balances(granted, wallet))
        receipt = None
        if payment is not None:
            payment.state = PaymentState.granted
            if payment.revocations:  # partially refunded while held: its share goes back now
                self._take_back(d.chains, d.chain, wallet, payment, item.source_id, "refunded while held")
                d.txn.put_wallet(wallet)
            d.txn.put_payment(payment)
            receipt = approved_receipt(item, payment)
        d.marker.outcome = Outcome.granted.value
        return receipt


def _reject(d: _Decision) -> None:
    item = d.item
    rejected = AuditRecord(
        kind="hold_rejected",
        source=item.source,
        source_id=item.source_id,
        actor=d.actor,
        reason=f"rejected: {d.note}".strip(),
        review_id=item.id,
    )
    d.chains.append(d.chain, rejected)
    if d.payment is not None:
        d.payment.state = PaymentState.rejected
        d.txn.put_payment(d.payment)
    d.marker.outcome = "rejected"


def _admin_record(d: _Decision, *, approve: bool) -> AuditRecord:
    """The decision itself, on the admin's chain."""
    item = d.item
    return AuditRecord(
        kind="review_approve" if approve else "review_reject",
        source=item.source,
        source_id=item.source_id,
        actor=d.actor,
        coins=item.coins if approve else 0,
        items=item.items if approve else {},
        reason=f"{item.uid}: {d.note}".strip(),
        review_id=item.id,
    )
