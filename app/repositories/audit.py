"""Reads of the audit log for verification (``pog audit verify``) and the anchors (``pog audit anchor``):
whole chains in any order, the signed heads, the heads changed since a time."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from google.cloud import firestore

from app.domain.audit import ChainHead
from app.repositories.ledger import CHAINS, TRANSACTIONS, head_of


class AuditReader:
    def __init__(self, client: firestore.AsyncClient) -> None:
        self._db = client

    async def chains(self, uid: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """chain -> its entries (each with ``_doc_id``, the document's own id), one chain or all."""
        query: Any = self._db.collection(TRANSACTIONS)
        if uid is not None:
            query = query.where(filter=firestore.FieldFilter("uid", "==", uid))
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        async for doc in query.stream():
            data = doc.to_dict() or {}
            data["_doc_id"] = doc.id
            found[str(data.get("uid"))].append(data)
        return dict(found)

    async def heads(self, uid: str | None = None) -> dict[str, ChainHead]:
        if uid is not None:
            snaps = [await self._db.collection(CHAINS).document(uid).get()]
        else:
            snaps = [snap async for snap in self._db.collection(CHAINS).stream()]
        heads: dict[str, ChainHead] = {}
        for snap in snaps:
            data = snap.to_dict() if snap.exists else None
            if data is not None:
                heads[snap.id] = head_of(data)
        return heads

    async def heads_since(self, since: datetime | None) -> dict[str, ChainHead]:
        """The heads written at or after ``since`` (every head when None)."""
        if since is None:
            return await self.heads()
        query = self._db.collection(CHAINS).where(filter=firestore.FieldFilter("at", ">=", since))
        return {snap.id: head_of(snap.to_dict() or {}) async for snap in query.stream()}


def head_path(chain: str) -> str:
    return f"{CHAINS}/{chain}"
