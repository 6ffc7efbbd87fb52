"""RevenueCat's entitlement events as wallet edits: an expiry ends them, a product change moves them to the
new product, a transfer moves them to another player. Each edit returns uid -> the audit reason of every
wallet it changed (``GrantService.change_entitlements`` applies it once per event)."""

from __future__ import annotations

from collections.abc import Callable

from app.domain.ledger import Wallet

Edit = Callable[[dict[str, Wallet]], dict[str, str]]


def expiry(uid: str, ids: list[str]) -> Edit:
    def edit(wallets: dict[str, Wallet]) -> dict[str, str]:
        wallet = wallets.get(uid)
        if wallet is None:
            return {}
        ended = [i for i in ids if wallet.entitlements.pop(i, None) is not None]
        return {uid: f"expired: {','.join(ended)}"} if ended else {}

    return edit


def product_change(uid: str, ids: list[str], new_product: str) -> Edit:
    def edit(wallets: dict[str, Wallet]) -> dict[str, str]:
        wallet = wallets.get(uid)
        if wallet is None:
            return {}
        changed = [i for i in ids if i in wallet.entitlements]
        for ident in changed:
            wallet.entitlements[ident]["product_id"] = new_product
            wallet.entitlements[ident]["store_product_id"] = new_product
        return {uid: f"product changed to {new_product}: {','.join(changed)}"} if changed else {}

    return edit


def transfer(from_uids: list[str], target: str) -> Edit:
    def edit(wallets: dict[str, Wallet]) -> dict[str, str]:
        changed: dict[str, str] = {}
        receiver = wallets.get(target)
        for uid in from_uids:
            giver = wallets.get(uid)
            if giver is None or uid == target or not giver.entitlements:
                continue
            moved = sorted(giver.entitlements)
            if receiver is not None:
                receiver.entitlements.update(giver.entitlements)
                changed[target] = f"transferred in from {uid}: {','.join(moved)}"
            giver.entitlements.clear()
            changed[uid] = f"transferred to {target}: {','.join(moved)}"
        return changed

    return edit
