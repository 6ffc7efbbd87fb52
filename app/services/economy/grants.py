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
  from the order the events came in (``revocation_share``).

A fraud hit (velocity, unusual pattern, receipt mismatch, unknown player) holds the grant: a review item
is written instead of the wallet change, and approving it applies the grant once (``holds``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from app.domain.audit import AuditRecord, admin_chain, redact
from app.domain.fraud import unusual_patterns
from app.domain.ledger import (
    EntryPage,
    LedgerTxn,
    Marker,
    PaymentRecord,
    PaymentState,
    ReviewItem,
    ReviewStatus,
    Wallet,
)
from app.services.economy.audit_trail import Chains, changed, with_balances
from app.services.economy.holds import ReviewDecisions
from app.services.economy.purchases import Purchase, payment_from
from app.services.economy.requests import (
    PORT_OUTCOME,
    UNMATCHED_CHAIN,
    Outcome,
    Result,
    check_request,
    review_id_for,
    valid_uid,
    velocity_key,
    velocity_kind,
)
from app.services.economy.revocation_share import takes_everything
from app.services.economy.revocations import Revocations
from app.services.economy.wallet import credit, flag, grant_entitlement
from app.services.grant_port import GrantOutcome, GrantRequest

log = logging.getLogger("app.grants")

T = TypeVar("T")


@dataclass(slots=True)
class _Delivery:
    """One grant inside its ledger transaction: what it read, and where its audit entries go."""

    txn: LedgerTxn
    request: GrantRequest
    purchase: Purchase | None
    now: datetime
    chain: str
    chains: Chains
    wallet: Wallet
    marker: Marker
    #: The grant's audit entry; the other entries of the delivery are variations of it.
    base: AuditRecord

    def done(self, outcome: Outcome) -> None:
        self.marker.outcome = outcome.value
        self.txn.put_marker(self.marker)


class GrantService(ReviewDecisions, Revocations):
    # --- the Granter port ---------------------------------------------------------------------------

    async def grant(self, request: GrantRequest) -> GrantOutcome:
        """Rewards and admin grants (purchases go through ``purchase``)."""
        result = await self.apply(request)
        return PORT_OUTCOME.get(result.outcome, GrantOutcome.DUPLICATE)

    async def apply(
        self, request: GrantRequest, purchase: Purchase | None = None, ip: str | None = None
    ) -> Result:
        check_request(request)
        async with self._single_flight(request.source_id):
            return await self._apply(request, purchase, ip)

    async def purchase(self, request: GrantRequest, purchase: Purchase) -> Result:
        return await self.apply(request, purchase)

    async def _apply(self, request: GrantRequest, purchase: Purchase | None, ip: str | None) -> Result:
        known = await self._ledger.find_marker(request.source_id)
        if known is not None:
            return Result(Outcome.duplicate, known.review_id)
        reasons: list[str] = []
        if purchase is not None:
            reasons.extend(purchase.review_reasons)
            ip = purchase.ip or ip
        kind = velocity_kind(request.source)
        if kind and valid_uid(request.uid):
            # Counted once per store payment, not per webhook event (requests.velocity_key); without Redis
            # a purchase is counted in the ledger or held, never granted blind (ledger_velocity.py).
            key = velocity_key(request, purchase.payment_key if purchase is not None else None)
            reasons.extend(await self._velocity.exceeded(kind, request.uid, ip, key))
        result = await self._ledger.run(
            lambda txn: self._apply_txn(txn, request, purchase, reasons), lambda: self.seen(request.source_id)
        )
        if result.outcome in (Outcome.granted, Outcome.revoked):
            await self._invalidate(request.uid)
        self._emit_outcome(request, purchase, result)
        if result.outcome is Outcome.held:
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

    def _emit_outcome(self, request: GrantRequest, purchase: Purchase | None, result: Result) -> None:
        """After the commit; the event id follows the source id, so a retried webhook makes the same."""
        product_id = purchase.product_id if purchase is not None else None
        if result.outcome is Outcome.granted:
            items = sum(request.items.values())
            params = {"reason": request.source.value, "product_id": product_id, "coins": request.coins}
            self._emit("grant", request.uid, {**params, "items": items}, f"grant:{request.source_id}")
        elif result.outcome is Outcome.held:
            params = {"reason": ",".join(result.reasons)[:64] or "review", "product_id": product_id}
            self._emit("purchase_held", request.uid, params, f"purchase_held:{request.source_id}")

    async def _apply_txn(
        self, txn: LedgerTxn, request: GrantRequest, purchase: Purchase | None, pre_reasons: list[str]
    ) -> Result:
        now = self._clock()
        if (await txn.marker(request.source_id)) is not None:
            return Result(Outcome.duplicate)
        uid_ok = valid_uid(request.uid)
        chain = request.uid if uid_ok else UNMATCHED_CHAIN
        chains = Chains(txn, self._cipher, now)
        await chains.load(chain)
        wallet = await txn.wallet(request.uid) if uid_ok else Wallet(request.uid, exists=False)
        payment = await txn.payment(purchase.payment_key) if purchase is not None else None
        marker = Marker(request.source_id, "", kind=request.source.value, uid=request.uid)
        base = AuditRecord(
            kind="grant",
            source=request.source.value,
            source_id=request.source_id,
            coins=request.coins,
            items=request.items,
            reason=request.reason,
            sensitive=dict(purchase.sensitive) if purchase is not None else None,
        )
        d = _Delivery(txn, request, purchase, now, chain, chains, wallet, marker, base)
        if payment is not None and payment.state in (PaymentState.granted, PaymentState.held):
            d.done(Outcome.duplicate)  # another event of the same payment got here first
            return Result(Outcome.duplicate, payment.review_id)
        # A refund, dispute or reversal that overtook its purchase: its facts carry over to the payment.
        earlier = payment if payment is not None and payment.state is PaymentState.revoke_pending else None
        if earlier is not None and purchase is not None and _revoked_before_delivery(d, purchase, earlier):
            return Result(Outcome.revoked)
        reasons = list(pre_reasons)
        if not wallet.exists:
            reasons.append("unknown_user")
        if purchase is not None and wallet.exists:
            reasons.extend(unusual_patterns(wallet, purchase.facts, self._thresholds))
        if reasons:
            return _hold(d, reasons, earlier)
        return self._grant_now(d, earlier)

    def _grant_now(self, d: _Delivery, earlier: PaymentRecord | None) -> Result:
        wallet, purchase = d.wallet, d.purchase
        credit(wallet, d.request.coins, d.request.items)
        granted = None
        if purchase is not None:
            wallet.purchases += 1
            wallet.spent_usd_cents += purchase.facts.price_usd_cents
            if purchase.entitlement:
                grant_entitlement(wallet, purchase.entitlement)
            granted = payment_from(purchase, d.request, PaymentState.granted, earlier)
        d.chains.append(d.chain, with_balances(d.base, wallet))
        if granted is not None:
            if granted.revocations:  # a partial refund that overtook the purchase: take its share now
                wallet.refunds += 1
                self._take_back(
                    d.chains, d.chain, wallet, granted, d.base.source_id, "refunded before delivery"
                )
            d.txn.put_payment(granted)
        d.txn.put_wallet(wallet)
        d.done(Outcome.granted)
        return Result(Outcome.granted)

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
            chains = Chains(txn, self._cipher, now)
            await chains.load(*valid)
            wallets = {uid: await txn.wallet(uid) for uid in valid}
            changed_wallets = edit({uid: w for uid, w in wallets.items() if w.exists})
            for uid, reason in changed_wallets.items():
                wallet = wallets[uid]
                txn.put_wallet(wallet)
                record = AuditRecord(kind=kind, source="purchase", source_id=source_id, reason=reason)
                chains.append(uid, with_balances(record, wallet))
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
            chains = Chains(txn, self._cipher, self._clock())
            await chains.load(admin)
            result = await change(txn.transaction)
            chains.append(admin, changed(describe(result), actor=admin))
            return result

        return await self._ledger.run(work)

    # --- reads ----------------------------------------------------------------------------------------

    async def transactions(self, uid: str, limit: int, cursor: str | None) -> EntryPage:
        """The player's own audit entries, newest first, redacted (nothing sealed, no hashes)."""
        page = await self._ledger.entries(uid, limit, cursor)
        return EntryPage([redact(entry) for entry in page.entries], page.next_cursor)


def _revoked_before_delivery(d: _Delivery, purchase: Purchase, earlier: PaymentRecord) -> bool:
    """Refunded in full or disputed before the purchase arrived: record both, the player keeps nothing (as
    if granted and taken back at once, so a later reversal gives it all back). False: not the case."""
    overtaken = payment_from(purchase, d.request, PaymentState.revoked, earlier)
    if not (overtaken.revocations and takes_everything(overtaken)):
        return False
    wallet = d.wallet
    wallet.purchases += 1
    wallet.refunds += 1
    for revocation in overtaken.revocations:
        flag(wallet, revocation)
    overtaken.revoked_coins, overtaken.revoked_items = overtaken.coins, dict(overtaken.items)
    record = changed(d.base, kind="purchase_revoked", coins=0, items={}, reason="revoked before delivery")
    d.chains.append(d.chain, with_balances(record, wallet))
    d.txn.put_payment(overtaken)
    if wallet.exists:
        d.txn.put_wallet(wallet)
    d.done(Outcome.revoked)
    return True


def _hold(d: _Delivery, reasons: list[str], earlier: PaymentRecord | None) -> Result:
    """A fraud hit: a review item instead of the wallet change (approving it applies the grant once)."""
    request, purchase = d.request, d.purchase
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
        created_at=d.now,
        payment_key=purchase.payment_key if purchase is not None else None,
        price_usd_cents=purchase.facts.price_usd_cents if purchase is not None else 0,
        entitlement=dict(purchase.entitlement) if purchase and purchase.entitlement else None,
    )
    d.txn.put_review(item)
    held = changed(d.base, kind="hold", coins=0, items={}, reason=",".join(reasons), review_id=item.id)
    d.chains.append(d.chain, held)
    if purchase is not None:
        record = payment_from(purchase, request, PaymentState.held, earlier)
        record.review_id = item.id
        d.txn.put_payment(record)
    d.marker.review_id = item.id
    d.done(Outcome.held)
    return Result(Outcome.held, item.id, tuple(reasons))
