"""What a payment's refunds and disputes take back (the economy team's rule), as pure functions: the
share never exceeds what was granted, a dispute or a full refund takes everything, a partial refund the
refunded share of the coins rounded up and no items, whatever order the events come in."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.ledger import PaymentRecord, PaymentState
from app.services.economy.revocation_share import (
    Revocation,
    RevocationKind,
    note,
    refund_share,
    revocation_share,
)

pytestmark = pytest.mark.unit

ITEMS = ("booster_magnet", "booster_shield", "skin_gold")

coins = st.integers(0, 100_000)
items = st.dictionaries(st.sampled_from(ITEMS), st.integers(1, 5), max_size=len(ITEMS))
amounts = st.integers(1, 100_000)  # minor units of a known payment amount


def payment(
    coins: int = 100,
    items: dict[str, int] | None = None,
    revocations: tuple[str, ...] = (),
    amount_minor: int = 0,
    refunded_minor: int = 0,
) -> PaymentRecord:
    return PaymentRecord(
        key="stripe:pi_1",
        state=PaymentState.granted,
        uid="alice",
        coins=coins,
        items=dict(items or {}),
        revocations=list(revocations),
        amount_minor=amount_minor,
        refunded_minor=refunded_minor,
    )


def within_grant(taken: tuple[int, dict[str, int]], granted: PaymentRecord) -> bool:
    taken_coins, taken_items = taken
    return 0 <= taken_coins <= granted.coins and all(
        0 <= n <= granted.items.get(item, 0) for item, n in taken_items.items()
    )


def test_nothing_is_taken_without_a_revocation() -> None:
    granted = payment(99, {"skin_gold": 1})
    assert refund_share(granted) == 0
    assert revocation_share(granted) == (0, {})


def test_a_dispute_takes_everything_even_beside_a_partial_refund() -> None:
    disputed = payment(99, {"skin_gold": 1}, ("refund", "chargeback"), amount_minor=999, refunded_minor=1)
    assert revocation_share(disputed) == (99, {"skin_gold": 1})


def test_a_refund_of_unknown_amount_is_a_full_refund() -> None:
    refunded = payment(99, {"skin_gold": 1}, ("refund",))
    assert refund_share(refunded) == 1
    assert revocation_share(refunded) == (99, {"skin_gold": 1})


def test_a_partial_refund_takes_the_share_of_the_coins_rounded_up_and_no_items() -> None:
    # 49 of 99 cents: ceil(100 x 49/99) = 50 coins go back
    # (tests/app/api/routes/test_webhooks_partial_refunds.py).
    partial = payment(100, {"skin_gold": 1}, ("refund",), amount_minor=99, refunded_minor=49)
    assert refund_share(partial) == Fraction(49, 99)
    assert revocation_share(partial) == (50, {})


@given(
    coins=coins,
    items=items,
    revocations=st.lists(st.sampled_from([RevocationKind.refund, RevocationKind.chargeback]), unique=True),
    amount=st.integers(0, 100_000),
    refunded=st.integers(0, 200_000),
)
def test_the_share_never_exceeds_what_was_granted(
    coins: int, items: dict[str, int], revocations: list[str], amount: int, refunded: int
) -> None:
    granted = payment(coins, items, tuple(revocations), amount, refunded)
    share = refund_share(granted)
    assert 0 <= share <= 1
    taken = revocation_share(granted)
    assert within_grant(taken, granted)
    everything = RevocationKind.chargeback in revocations or share == 1
    assert (taken == (coins, items)) if everything else (taken == (math.ceil(coins * share), {}))


@given(coins=coins, amount=amounts, refunded=st.lists(st.integers(0, 100_000), min_size=2, max_size=2))
def test_a_larger_refund_never_takes_less(coins: int, amount: int, refunded: list[int]) -> None:
    small, large = sorted(r + 1 for r in refunded)
    taken_small, _ = revocation_share(payment(coins, None, ("refund",), amount, small))
    taken_large, _ = revocation_share(payment(coins, None, ("refund",), amount, large))
    assert taken_small <= taken_large <= coins


@st.composite
def revocation_events(draw: st.DrawFn) -> tuple[int, list[Revocation]]:
    """A payment amount, and refunds (each with its amount, as RevenueCat sends them) and disputes of it."""
    amount = draw(amounts)
    refund = st.builds(
        Revocation,
        kind=st.just(RevocationKind.refund),
        refunded_minor=st.integers(1, amount),
        amount_minor=st.just(amount),
    )
    dispute = st.just(Revocation(RevocationKind.chargeback))
    return amount, draw(st.lists(st.one_of(refund, dispute), min_size=1, max_size=6))


@given(coins=coins, items=items, events=revocation_events(), order=st.randoms(use_true_random=False))
def test_any_order_of_refunds_and_disputes_takes_the_same_within_the_grant(
    coins: int, items: dict[str, int], events: tuple[int, list[Revocation]], order: object
) -> None:
    amount, revocations = events
    shuffled = list(revocations)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    results = []
    for sequence in (revocations, shuffled):
        granted = payment(coins, items, amount_minor=amount)
        for revocation in sequence:
            note(granted, revocation)
        results.append(revocation_share(granted))
        assert within_grant(results[-1], granted)
    assert results[0] == results[1]
