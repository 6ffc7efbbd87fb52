"""The ledger in Firestore: one transaction per grant, revocation or review decision.

Documents (all server-only; infra/stacks/firestore.rules denies clients):

- ``/users/{uid}``: ``inventory {coins, items}`` and ``economy {debt, flags, entitlements, purchases,
  refunds, spent_usd_cents}``;
- ``/transactions/{chain}:{seq}``: the audit entries, only ever created (``create`` fails on an existing
  id, so an entry cannot be overwritten), never updated or deleted by the app;
- ``/audit_chains/{chain}``: each chain's head (last ``seq``, ``hash``, ``at``, ``signature``), signed on
  each attempt of the transaction that writes it, just before the commit (no unsigned head is written);
- ``/processed_sources/{sha256(source_id)}``: the processed-source markers;
- ``/payments/{hmac(key)}``: one record per store payment (its state across events), under the keyed hash
  of its key (``FieldCipher.index``) and without the key: the store transaction id is never stored in
  clear. Records written before issue 18 sit at ``sha256(key)`` with the key in clear; a read falls back to
  them and the next write moves the record to its keyed id (docs/payments.md#the-audit-log);
- ``/review_queue/{id}``: held grants.

Writes are buffered during the work function and handed to the transaction at its end (Firestore
transactions read everything before they write), so the work may read and write in any order.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from google.cloud import firestore
from google.cloud.firestore_v1.async_transaction import AsyncTransaction

from app.core.crypto import FieldCipher, Sealed
from app.core.metrics import firestore_timer
from app.core.signing import HeadSigner, Signature
from app.domain.audit import ChainHead, head_message
from app.domain.ledger import (
    EntryPage,
    LedgerTxn,
    Marker,
    PaymentRecord,
    PaymentState,
    ReviewItem,
    ReviewPage,
    ReviewStatus,
    Wallet,
)
from app.repositories.errors import UnknownCursorError
from app.repositories.transactions import run_transaction
from app.repositories.users import COLLECTION as USERS

T = TypeVar("T")

TRANSACTIONS = "transactions"
CHAINS = "audit_chains"
MARKERS = "processed_sources"
PAYMENTS = "payments"
REVIEW = "review_queue"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _wallet(uid: str, data: Mapping[str, Any] | None) -> Wallet:
    if data is None:
        return Wallet(uid, exists=False)
    inventory = data.get("inventory") or {}
    economy = data.get("economy") or {}
    debt = economy.get("debt") or {}
    country = data.get("country")
    return Wallet(
        uid=uid,
        exists=True,
        coins=int(inventory.get("coins", 0)),
        items={str(k): int(v) for k, v in (inventory.get("items") or {}).items()},
        debt_coins=int(debt.get("coins", 0)),
        debt_items={str(k): int(v) for k, v in (debt.get("items") or {}).items()},
        flags=[str(f) for f in economy.get("flags") or []],
        entitlements={str(k): dict(v) for k, v in (economy.get("entitlements") or {}).items()},
        country=country if isinstance(country, str) else None,
        purchases=int(economy.get("purchases", 0)),
        refunds=int(economy.get("refunds", 0)),
        spent_usd_cents=int(economy.get("spent_usd_cents", 0)),
    )


def _payment(key: str, data: Mapping[str, Any]) -> PaymentRecord:
    legacy_revoked = data["state"] == PaymentState.revoked.value and "revoked_coins" not in data
    return PaymentRecord(
        key=key,
        state=PaymentState(data["state"]),
        uid=data.get("uid"),
        product_id=data.get("product_id"),
        coins=int(data.get("coins", 0)),
        items={str(k): int(v) for k, v in (data.get("items") or {}).items()},
        entitlement=data.get("entitlement"),
        revocations=[str(r) for r in data.get("revocations") or []],
        review_id=data.get("review_id"),
        source_id=data.get("source_id"),
        amount_minor=int(data.get("amount_minor", 0)),
        refunded_minor=int(data.get("refunded_minor", 0)),
        # Records written before revocations were tracked: a revoked payment had everything taken back.
        revoked_coins=int(data.get("revoked_coins", data.get("coins", 0) if legacy_revoked else 0)),
        revoked_items={
            str(k): int(v)
            for k, v in (
                data.get("revoked_items", data.get("items") if legacy_revoked else None) or {}
            ).items()
        },
        reversals_pending=int(data.get("reversals_pending", 0)),
    )


def _review_binding(item_id: str) -> str:
    """The GCM associated data of a review item's sealed payment key: it opens on that item only."""
    return f"review_queue/{item_id}"


def review_item(data: Mapping[str, Any], cipher: FieldCipher) -> ReviewItem:
    """A held grant; its payment key is sealed with the data key (older items kept it in clear)."""
    payment_key = data.get("payment_key")
    if data.get("payment_key_sealed") is not None:
        sealed = Sealed.from_doc(data["payment_key_sealed"])
        payment_key = cipher.open(sealed, _review_binding(str(data["id"])))["payment_key"]
    return ReviewItem(
        id=str(data["id"]),
        status=ReviewStatus(data["status"]),
        uid=str(data["uid"]),
        reasons=[str(r) for r in data.get("reasons") or []],
        source=str(data["source"]),
        source_id=str(data["source_id"]),
        coins=int(data.get("coins", 0)),
        items={str(k): int(v) for k, v in (data.get("items") or {}).items()},
        reason=str(data.get("reason", "")),
        created_at=data["created_at"],
        payment_key=payment_key,
        price_usd_cents=int(data.get("price_usd_cents", 0)),
        entitlement=data.get("entitlement"),
        decided_by=data.get("decided_by"),
        decided_at=data.get("decided_at"),
        note=str(data.get("note", "")),
    )


_Op = tuple[Literal["create", "set", "update", "delete"], dict[str, Any]]


def head_doc(head: ChainHead) -> dict[str, Any]:
    signature = head.signature.to_doc() if head.signature is not None else None
    return {"seq": head.seq, "hash": head.hash, "at": head.at, "signature": signature}


def head_of(data: Mapping[str, Any]) -> ChainHead:
    signature = Signature.from_doc(data.get("signature"))
    return ChainHead(int(data.get("seq", 0)), str(data.get("hash")), data.get("at"), signature)


class _Txn(LedgerTxn):
    def __init__(self, db: firestore.AsyncClient, txn: AsyncTransaction, cipher: FieldCipher) -> None:
        self._db = db
        self._txn = txn
        self._cipher = cipher
        self._writes: dict[str, tuple[firestore.AsyncDocumentReference, _Op]] = {}
        self._heads: dict[str, ChainHead] = {}
        #: payment key -> the document it was read from when that is not its current keyed id (a legacy
        #: ``sha256(key)`` one, or one under a rotated-out key): the next write moves it.
        self._moved_payments: dict[str, str] = {}

    @property
    def transaction(self) -> AsyncTransaction:
        return self._txn

    def _ref(self, collection: str, doc_id: str) -> firestore.AsyncDocumentReference:
        return self._db.collection(collection).document(doc_id)

    async def _read(self, ref: firestore.AsyncDocumentReference) -> dict[str, Any] | None:
        with firestore_timer("get"):
            snap = await ref.get(transaction=self._txn)
        return snap.to_dict() if snap.exists else None

    def _write(self, ref: firestore.AsyncDocumentReference, op: _Op) -> None:
        self._writes[ref.path] = (ref, op)

    async def wallet(self, uid: str) -> Wallet:
        return _wallet(uid, await self._read(self._ref(USERS, uid)))

    async def head(self, chain: str) -> ChainHead:
        data = await self._read(self._ref(CHAINS, chain))
        if data is None:
            return ChainHead()
        return head_of(data)

    async def marker(self, source_id: str) -> Marker | None:
        data = await self._read(self._ref(MARKERS, _digest(source_id)))
        return _marker(data) if data is not None else None

    async def payment(self, key: str) -> PaymentRecord | None:
        current, *older = self._cipher.indexes(key)
        for doc_id in (current, *older, _digest(key)):
            data = await self._read(self._ref(PAYMENTS, doc_id))
            if data is not None:
                if doc_id != current:
                    self._moved_payments[key] = doc_id
                return _payment(key, data)
        return None

    async def review(self, item_id: str) -> ReviewItem | None:
        data = await self._read(self._ref(REVIEW, item_id))
        return review_item(data, self._cipher) if data is not None else None

    def put_wallet(self, wallet: Wallet) -> None:
        fields = {
            "inventory": {"coins": wallet.coins, "items": dict(wallet.items)},
            "economy": {
                "debt": {"coins": wallet.debt_coins, "items": dict(wallet.debt_items)},
                "flags": list(wallet.flags),
                "flagged": bool(wallet.flags),
                "entitlements": dict(wallet.entitlements),
                "purchases": wallet.purchases,
                "refunds": wallet.refunds,
                "spent_usd_cents": wallet.spent_usd_cents,
            },
            "updated_at": datetime.now(UTC),
        }
        self._write(self._ref(USERS, wallet.uid), ("update", fields))

    def append(self, entry: Mapping[str, Any]) -> None:
        self._write(self._ref(TRANSACTIONS, str(entry["id"])), ("create", dict(entry)))

    def put_head(self, chain: str, head: ChainHead) -> None:
        self._heads[chain] = head  # signed by ``sign_heads`` once the work is done: one signature per chain

    async def sign_heads(self, signer: HeadSigner) -> None:
        for chain, head in self._heads.items():
            message = head_message(chain, head)
            # A KMS call blocks on the network: off the event loop. The local signer takes ~0.1 ms.
            if signer.remote:
                signature = await asyncio.to_thread(signer.sign, message)
            else:
                signature = signer.sign(message)
            signed = ChainHead(head.seq, head.hash, head.at, signature)
            self._write(self._ref(CHAINS, chain), ("set", head_doc(signed)))

    def put_marker(self, marker: Marker) -> None:
        data = {
            "source_id": marker.source_id,
            "outcome": marker.outcome,
            "kind": marker.kind,
            "uid": marker.uid,
            "review_id": marker.review_id,
            "at": datetime.now(UTC),
        }
        self._write(self._ref(MARKERS, _digest(marker.source_id)), ("set", data))

    def put_payment(self, record: PaymentRecord) -> None:
        data = {
            "state": record.state.value,
            "uid": record.uid,
            "product_id": record.product_id,
            "coins": record.coins,
            "items": dict(record.items),
            "entitlement": record.entitlement,
            "revocations": list(record.revocations),
            "review_id": record.review_id,
            "source_id": record.source_id,
            "amount_minor": record.amount_minor,
            "refunded_minor": record.refunded_minor,
            "revoked_coins": record.revoked_coins,
            "revoked_items": dict(record.revoked_items),
            "reversals_pending": record.reversals_pending,
            "updated_at": datetime.now(UTC),
        }
        self._write(self._ref(PAYMENTS, self._cipher.index(record.key)), ("set", data))
        moved = self._moved_payments.get(record.key)
        if moved is not None:  # now at its current keyed id: the old copy (maybe the key in clear) goes
            self._write(self._ref(PAYMENTS, moved), ("delete", {}))

    def put_review(self, item: ReviewItem) -> None:
        data = {
            "id": item.id,
            "status": item.status.value,
            "uid": item.uid,
            "reasons": list(item.reasons),
            "source": item.source,
            "source_id": item.source_id,
            "coins": item.coins,
            "items": dict(item.items),
            "reason": item.reason,
            "created_at": item.created_at,
            # The store transaction id is never kept in clear: sealed, bound to this item.
            "payment_key_sealed": (
                self._cipher.seal({"payment_key": item.payment_key}, _review_binding(item.id)).to_doc()
                if item.payment_key
                else None
            ),
            "price_usd_cents": item.price_usd_cents,
            "entitlement": item.entitlement,
            "decided_by": item.decided_by,
            "decided_at": item.decided_at,
            "note": item.note,
        }
        self._write(self._ref(REVIEW, item.id), ("set", data))

    def flush(self) -> None:
        for ref, (kind, data) in self._writes.values():
            if kind == "create":
                self._txn.create(ref, data)
            elif kind == "set":
                self._txn.set(ref, data)
            elif kind == "delete":
                self._txn.delete(ref)
            else:
                self._txn.update(ref, data)


def _marker(data: Mapping[str, Any]) -> Marker:
    return Marker(
        source_id=str(data["source_id"]),
        outcome=str(data.get("outcome", "")),
        kind=str(data.get("kind", "")),
        uid=data.get("uid"),
        review_id=data.get("review_id"),
    )


class LedgerRepository:
    def __init__(self, client: firestore.AsyncClient, cipher: FieldCipher, signer: HeadSigner) -> None:
        self._db = client
        self._cipher = cipher
        self._signer = signer

    async def run(
        self,
        work: Callable[[LedgerTxn], Awaitable[T]],
        settled: Callable[[], Awaitable[T | None]] | None = None,
    ) -> T:
        """Run ``work`` in one transaction, retried from scratch when Firestore aborts it
        (``run_transaction``). Before each retry ``settled`` may answer instead: e.g. a concurrent
        delivery of the same event has committed, so this one is a duplicate."""

        @firestore.async_transactional
        async def attempt(txn: AsyncTransaction) -> T:
            view = _Txn(self._db, txn, self._cipher)
            result = await work(view)
            await view.sign_heads(self._signer)  # on every attempt: a retried head is a new head
            view.flush()
            return result

        return await run_transaction(self._db, attempt, "ledger_busy", settled=settled)

    async def find_marker(self, source_id: str) -> Marker | None:
        with firestore_timer("get"):
            snap = await self._db.collection(MARKERS).document(_digest(source_id)).get()
        data = snap.to_dict() if snap.exists else None
        return _marker(data) if data is not None else None

    async def _cursor_snapshot(self, collection: str, cursor: str, field: str, expected: str) -> Any:
        """A cursor is the id of the last document of the previous page; it must be one of the caller's."""
        if not cursor or len(cursor) > 300 or "/" in cursor:
            raise UnknownCursorError("cursor_not_found", "the cursor is not one of your pages")
        with firestore_timer("get"):
            snap = await self._db.collection(collection).document(cursor).get()
        if not snap.exists or (snap.to_dict() or {}).get(field) != expected:
            raise UnknownCursorError("cursor_not_found", "the cursor is not one of your pages")
        return snap

    async def entries(self, uid: str, limit: int, cursor: str | None) -> EntryPage:
        query = (
            self._db.collection(TRANSACTIONS)
            .where(filter=firestore.FieldFilter("uid", "==", uid))
            .order_by("created_at", direction=firestore.Query.DESCENDING)
        )
        if cursor is not None:
            query = query.start_after(await self._cursor_snapshot(TRANSACTIONS, cursor, "uid", uid))
        with firestore_timer("query"):
            docs = [doc.to_dict() or {} async for doc in query.limit(limit + 1).stream()]
        more = len(docs) > limit
        docs = docs[:limit]
        return EntryPage(docs, str(docs[-1]["id"]) if more and docs else None)

    async def review_items(self, status: ReviewStatus, limit: int, cursor: str | None) -> ReviewPage:
        query = (
            self._db.collection(REVIEW)
            .where(filter=firestore.FieldFilter("status", "==", status.value))
            .order_by("created_at")
        )
        if cursor is not None:
            query = query.start_after(await self._cursor_snapshot(REVIEW, cursor, "status", status.value))
        with firestore_timer("query"):
            docs = [doc.to_dict() or {} async for doc in query.limit(limit + 1).stream()]
        more = len(docs) > limit
        items = [review_item(d, self._cipher) for d in docs[:limit]]
        return ReviewPage(items, items[-1].id if more and items else None)
