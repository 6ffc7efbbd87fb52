"""The audit entries an economy operation appends, inside its ledger transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.core.crypto import FieldCipher
from app.domain.audit import AuditRecord, ChainHead, chain_entry, head_after
from app.domain.ledger import LedgerTxn, Wallet


class Chains:
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


def changed(record: AuditRecord, **changes: Any) -> AuditRecord:
    values = {name: getattr(record, name) for name in record.__dataclass_fields__}
    values.update(changes)
    return AuditRecord(**values)


def with_balances(record: AuditRecord, wallet: Wallet) -> AuditRecord:
    if not wallet.exists:
        return record
    return changed(record, balance_coins=wallet.coins, debt_coins=wallet.debt_coins)
