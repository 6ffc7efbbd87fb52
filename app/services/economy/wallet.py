"""Wallet arithmetic: balances never go negative; what is missing becomes debt, and later credits pay
the debt off first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.ledger import Wallet


def credit(wallet: Wallet, coins: int, items: Mapping[str, int]) -> None:
    """Add to the wallet; a debt is paid off first."""
    paid = min(coins, wallet.debt_coins)
    wallet.debt_coins -= paid
    wallet.coins += coins - paid
    for item, count in items.items():
        _add(wallet.items, item, count - _take(wallet.debt_items, item, count))
    if not wallet.debt_coins and not wallet.debt_items and "debt" in wallet.flags:
        wallet.flags.remove("debt")


def debit(wallet: Wallet, coins: int, items: Mapping[str, int]) -> None:
    """Take from the wallet, never below zero: what is missing becomes debt and flags the player."""
    taken = min(coins, wallet.coins)
    wallet.coins -= taken
    wallet.debt_coins += coins - taken
    for item, count in items.items():
        _add(wallet.debt_items, item, count - _take(wallet.items, item, count))
    if wallet.debt_coins or wallet.debt_items:
        flag(wallet, "debt")


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


def flag(wallet: Wallet, name: str) -> None:
    if name not in wallet.flags:
        wallet.flags.append(name)


def grant_entitlement(wallet: Wallet, entitlement: Mapping[str, Any]) -> None:
    ent = dict(entitlement)
    wallet.entitlements[str(ent.pop("id"))] = ent
