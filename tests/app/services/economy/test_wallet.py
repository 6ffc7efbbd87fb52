"""The wallet's arithmetic under any order of grants and revocations: what is owed is never also held,
nothing sits at zero, the debt flag marks exactly the wallets in debt, and the balance is the net sum."""

from __future__ import annotations

from collections import Counter

import hypothesis
import pytest
from hypothesis import strategies as st

from app.domain.ledger import Wallet
from app.services.economy.wallet import credit as _credit
from app.services.economy.wallet import debit as _debit

pytestmark = pytest.mark.unit

ITEMS = ("booster_magnet", "booster_shield", "skin_gold")

moves = st.lists(
    st.tuples(
        st.booleans(),  # True: a grant (credit); False: a revocation (debit)
        st.integers(0, 500),
        st.dictionaries(st.sampled_from(ITEMS), st.integers(1, 5), max_size=len(ITEMS)),
    ),
    min_size=1,
    max_size=30,
)


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(moves=moves)
def test_any_order_of_grants_and_revocations_keeps_the_wallet_consistent(
    moves: list[tuple[bool, int, dict[str, int]]],
) -> None:
    wallet = Wallet(uid="alice", exists=True)
    net_coins = 0
    net_items: Counter[str] = Counter()
    assert moves  # min_size=1: every example checks the wallet after at least one move
    for credit, coins, items in moves:
        (_credit if credit else _debit)(wallet, coins, items)
        sign = 1 if credit else -1
        net_coins += sign * coins
        for item, count in items.items():
            net_items[item] += sign * count

        assert wallet.coins - wallet.debt_coins == net_coins
        assert min(wallet.coins, wallet.debt_coins) == 0
        for item in ITEMS:
            held, owed = wallet.items.get(item, 0), wallet.debt_items.get(item, 0)
            assert held - owed == net_items[item]
            assert min(held, owed) == 0
        assert 0 not in wallet.items.values()
        assert 0 not in wallet.debt_items.values()
        in_debt = bool(wallet.debt_coins or wallet.debt_items)
        assert ("debt" in wallet.flags) == in_debt
        assert wallet.flags.count("debt") <= 1
