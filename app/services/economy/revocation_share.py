"""What a payment's revocations take back, from the facts on its payment record (the economy team's rule).

The same whatever order the events come in: a dispute or a full refund takes the whole grant; a partial
refund takes the refunded share of the coins, rounded up, and no items; a refund reversal removes the
refund, and what it took is given back (debt paid off first), once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from app.domain.ledger import PaymentRecord, PaymentState, Wallet
from app.services.economy.wallet import credit, debit


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


def takes_everything(payment: PaymentRecord) -> bool:
    return revocation_share(payment) == (payment.coins, dict(payment.items))


def note(payment: PaymentRecord, revocation: Revocation) -> bool:
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


def settle(wallet: Wallet, payment: PaymentRecord) -> tuple[int, dict[str, int]]:
    """Bring what the player holds of a granted payment to what its revocations leave: take the rest of
    the share (never below zero: debt), or give back what a reversal released (debt paid first).
    Returns the change: negative taken, positive given back."""
    coins, items = revocation_share(payment)
    take_coins = coins - payment.revoked_coins
    names = sorted(set(items) | set(payment.revoked_items))
    take_items = {n: items.get(n, 0) - payment.revoked_items.get(n, 0) for n in names}
    debit(wallet, max(take_coins, 0), {n: c for n, c in take_items.items() if c > 0})
    credit(wallet, max(-take_coins, 0), {n: -c for n, c in take_items.items() if c < 0})
    payment.revoked_coins, payment.revoked_items = coins, items
    if payment.entitlement and takes_everything(payment):
        wallet.entitlements.pop(payment.entitlement, None)
    payment.state = PaymentState.revoked if takes_everything(payment) else PaymentState.granted
    return -take_coins, {n: -c for n, c in take_items.items() if c}


def describe(payment: PaymentRecord) -> str:
    """The revocations in force, for the audit entry: ``refund 30/99``, ``refund,chargeback``."""
    parts = []
    for revocation in payment.revocations:
        share = refund_share(payment)
        if revocation == RevocationKind.refund and share < 1:
            parts.append(f"partial refund {payment.refunded_minor}/{payment.amount_minor}")
        else:
            parts.append(revocation)
    return ",".join(parts) or "none in force"
