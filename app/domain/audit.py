"""The audit log's rules: per-chain hash chaining, verification, redaction (no SDK here).

Every entry of ``/transactions`` belongs to one chain: a player's (``uid``) or an admin's
(``admin:{uid}``). Entry ``n`` of a chain has id ``{chain}:{n:010d}``, ``seq`` ``n`` and ``prev_hash`` =
the hash of entry ``n - 1`` (``GENESIS`` for the first); its ``hash`` is SHA-256 over the canonical JSON
of every other field, the encrypted ``sealed`` value included. The chain's head (last seq and hash) is
written in the same transaction as the entry, so deleting the newest entry is caught too.

A chain in Firestore alone proves nothing against someone who can write Firestore (they rewrite an entry
and the head consistently), so each head is signed (``head_message``, app/core/signing.py) with a key
Firestore writers do not hold, and the signed heads are copied every 15 minutes to a write-once bucket
(the anchors, ``anchor_body``): a rewrite without the signing key fails the signature, a rollback to an
older signed head is older than an anchor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from app.core.crypto import FieldCipher
from app.core.signing import Signature

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def admin_chain(admin_uid: str) -> str:
    return f"admin:{admin_uid}"


def entry_id(chain: str, seq: int) -> str:
    return f"{chain}:{seq:010d}"


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _ONE_US


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return _micros(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def entry_hash(entry: Mapping[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(orjson.dumps(_canonical(body), option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainHead:
    seq: int = 0
    hash: str = GENESIS
    at: datetime | None = None
    #: Over ``head_message``; None on a head read for appending (it is signed again when written).
    signature: Signature | None = None


def head_message(chain: str, head: ChainHead) -> bytes:
    """What a head's signature covers: the chain, its last seq and hash, and when."""
    at = _micros(head.at) if head.at is not None else None
    body = {"v": 1, "chain": chain, "seq": head.seq, "hash": head.hash, "at": at}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class AnchoredHead:
    seq: int
    hash: str


def anchor_body(heads: Mapping[str, ChainHead], since: datetime | None, until: datetime) -> dict[str, Any]:
    """One anchor: the heads changed in ``[since, until]`` (all of them when ``since`` is None)."""
    return {
        "v": 1,
        "since": _micros(since) if since is not None else None,
        "until": _micros(until),
        "heads": {chain: {"seq": h.seq, "hash": h.hash} for chain, h in sorted(heads.items())},
    }


def anchor_message(body: Mapping[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def anchored_heads(body: Mapping[str, Any]) -> dict[str, AnchoredHead]:
    heads = body.get("heads")
    if not isinstance(heads, Mapping):
        return {}
    return {str(c): AnchoredHead(int(h["seq"]), str(h["hash"])) for c, h in heads.items()}


def verify_anchor(
    chain: str,
    anchored: AnchoredHead,
    entries: Iterable[Mapping[str, Any]],
    head: ChainHead | None,
    anchor: str,
    head_path: str,
) -> list[ChainProblem]:
    """An anchored (seq, hash) must still be the chain's entry at seq, and the head not be older."""
    problems: list[ChainProblem] = []
    current = head.seq if head is not None else 0
    if current < anchored.seq:
        message = f"head at seq {current} is older than seq {anchored.seq} anchored in {anchor} (rolled back)"
        problems.append(ChainProblem(chain, head_path, message))
    at_seq = [e for e in entries if e.get("_doc_id", e.get("id")) == entry_id(chain, anchored.seq)]
    if not at_seq:
        if current >= anchored.seq:
            message = f"entry {anchored.seq} anchored in {anchor} is missing"
            problems.append(ChainProblem(chain, f"transactions/{entry_id(chain, anchored.seq)}", message))
    elif at_seq[0].get("hash") != anchored.hash:
        message = f"hash differs from the one anchored in {anchor} (rewritten)"
        problems.append(ChainProblem(chain, f"transactions/{entry_id(chain, anchored.seq)}", message))
    return problems


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What happened, before it is chained: the caller fills these, the chain adds seq and hashes."""

    kind: str
    source: str = ""
    source_id: str = ""
    actor: str = "system"
    coins: int = 0
    items: Mapping[str, int] = field(default_factory=dict)
    balance_coins: int | None = None
    debt_coins: int | None = None
    reason: str = ""
    #: Encrypted into ``sealed``: store transaction ids, payment details.
    sensitive: Mapping[str, Any] | None = None
    review_id: str | None = None


def chain_entry(
    chain: str, head: ChainHead, record: AuditRecord, now: datetime, cipher: FieldCipher
) -> dict[str, Any]:
    """The next entry of ``chain`` after ``head`` (a dict as stored, ``hash`` included)."""
    seq = head.seq + 1
    ident = entry_id(chain, seq)
    # Strictly increasing per chain, whatever the instance clocks do: the list endpoint pages on it.
    at = now if head.at is None or now > head.at else head.at + _ONE_US
    sealed = cipher.seal(dict(record.sensitive), ident).to_doc() if record.sensitive else None
    entry: dict[str, Any] = {
        "id": ident,
        "uid": chain,
        "seq": seq,
        "prev_hash": head.hash,
        "created_at": at,
        "kind": record.kind,
        "source": record.source,
        "source_id": record.source_id,
        "actor": record.actor,
        "coins": record.coins,
        "items": dict(record.items),
        "balance_coins": record.balance_coins,
        "debt_coins": record.debt_coins,
        "reason": record.reason,
        "review_id": record.review_id,
        "sealed": sealed,
    }
    entry["hash"] = entry_hash(entry)
    return entry


def head_after(entry: Mapping[str, Any]) -> ChainHead:
    return ChainHead(seq=int(entry["seq"]), hash=str(entry["hash"]), at=entry["created_at"])


@dataclass(frozen=True, slots=True)
class ChainProblem:
    chain: str
    #: ``transactions/{id}``, or the head document's path when the head disagrees with the entries.
    path: str
    message: str


def verify_chain(
    chain: str, entries: Iterable[Mapping[str, Any]], head: ChainHead | None, head_path: str
) -> list[ChainProblem]:
    """Every problem of one chain; ``entries`` in any order (they are sorted by ``seq``)."""
    problems: list[ChainProblem] = []
    # Ordered by document id ({chain}:{seq:010d}, fixed at creation), not by the stored seq a tamperer
    # could change.
    ordered = sorted(entries, key=lambda e: str(e.get("_doc_id") or entry_id(chain, int(e.get("seq") or 0))))
    previous = GENESIS
    expected_seq = 1
    for entry in ordered:
        path = f"transactions/{entry.get('_doc_id', entry.get('id'))}"
        seq = entry.get("seq")
        if entry.get("_doc_id") not in (None, entry.get("id")):
            problems.append(ChainProblem(chain, path, "the document id differs from the entry's id"))
        if entry.get("uid") != chain:
            problems.append(ChainProblem(chain, path, f"belongs to chain {entry.get('uid')!r}"))
        if seq != expected_seq:
            problems.append(ChainProblem(chain, path, f"seq {seq} where {expected_seq} was expected"))
        if entry.get("prev_hash") != previous:
            problems.append(ChainProblem(chain, path, "prev_hash does not match the previous entry"))
        stored = {k: v for k, v in entry.items() if k != "_doc_id"}
        if entry_hash(stored) != entry.get("hash"):
            problems.append(ChainProblem(chain, path, "hash does not match the entry's content (tampered)"))
        previous = str(entry.get("hash"))
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
    last_seq = expected_seq - 1
    if head is None:
        if ordered:
            problems.append(ChainProblem(chain, head_path, "entries exist but the chain head is missing"))
    elif head.seq != last_seq or head.hash != previous:
        problems.append(
            ChainProblem(
                chain,
                head_path,
                f"head says seq {head.seq} but the entries end at {last_seq} (entries deleted or altered)",
            )
        )
    return problems


#: Fields a player sees of their own entries: nothing sealed, no ids of other systems, no hashes.
REDACTED_FIELDS = ("id", "seq", "created_at", "kind", "source", "coins", "items", "balance_coins", "reason")


def redact(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {name: entry.get(name) for name in REDACTED_FIELDS}
