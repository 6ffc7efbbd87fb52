"""``pog audit verify [--uid UID]``: check the audit log's hash chains in Firestore; ``pog audit anchor``.

Reads every entry of ``/transactions`` (or one player's) and the chain heads in ``/audit_chains``,
recomputes each entry's hash, and checks the sequence numbers, the links, the heads and each head's
signature (app/core/signing.py: a rewrite by someone who can write Firestore but not sign fails it). With
``POG_AUDIT_ANCHOR_BUCKET`` set it also checks every anchor: its signature, that each anchored
(chain, seq, hash) is still the chain's entry at seq, and that no head is older than an anchored seq (a
rollback to an older signed head). Any problem is printed with the document's path; the exit code is 1
when anything was tampered with, 0 otherwise.
Firestore is the one of the settings (``POG_FIREBASE_PROJECT_ID``, ``FIRESTORE_EMULATOR_HOST``).
``--decrypt`` also opens every sealed field with the data key of the settings (KMS-unwrapped in prod):
the check after rotating or re-wrapping the key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.ops.cli_errors import one_error_line

if TYPE_CHECKING:
    from app.core.config import Settings
    from app.core.crypto import FieldCipher
    from app.core.signing import Signature, SignatureChecker
    from app.domain.audit import ChainHead
    from app.repositories.audit_anchors import AnchorStore

    Chains = dict[str, list[dict[str, Any]]]
    Heads = dict[str, ChainHead]

audit_app = typer.Typer(name="audit", help="The audit log of grants and payments.", no_args_is_help=True)


@audit_app.callback()
def audit() -> None:
    """The audit log of grants and payments (/transactions)."""


def _settings(project: str | None) -> Settings:
    from app.core.config import read_settings

    settings = read_settings()
    if project:
        settings = settings.model_copy(update={"firebase_project_id": project})
    return settings


async def _read(
    settings: Settings, uid: str | None, decrypt: bool
) -> tuple[Chains, Heads, FieldCipher | None]:
    from app.composition import Parts

    async with Parts(settings) as parts:
        chains = await parts.audit_reader.chains(uid)
        heads = await parts.audit_reader.heads(uid)
        return chains, heads, parts.cipher if decrypt else None


def _verify(
    uid: str | None, project: str | None, decrypt: bool, anchors: bool
) -> tuple[int, int, int, list[str]]:
    import asyncio

    from app.core.crypto import CryptoError, Sealed
    from app.core.signing import SignatureChecker
    from app.domain.audit import head_message, verify_chain
    from app.repositories.audit import head_path

    settings = _settings(project)
    chains, heads, cipher = asyncio.run(_read(settings, uid, decrypt))
    checker = SignatureChecker(settings)
    problems: list[str] = []
    names = sorted(set(chains) | set(heads))
    entries = 0
    for chain in names:
        found = chains.get(chain, [])
        entries += len(found)
        for problem in verify_chain(chain, found, heads.get(chain), head_path(chain)):
            problems.append(f"{problem.path}: {problem.message}")
        head = heads.get(chain)
        if head is not None:
            why = checker.problem(head.signature, head_message(chain, head))
            if why is not None:
                problems.append(f"{head_path(chain)}: head signature: {why}")
        for entry in found:
            if cipher is None or not entry.get("sealed"):
                continue
            try:
                cipher.open(Sealed.from_doc(entry["sealed"]), str(entry.get("id")))
            except CryptoError as exc:
                problems.append(f"transactions/{entry['_doc_id']}: {exc}")
    checked = 0
    if anchors:
        checked, found_problems = _verify_anchors(settings, checker, chains, heads, uid)
        problems.extend(found_problems)
    return len(names), entries, checked, problems


def _verify_anchors(
    settings: Settings, checker: SignatureChecker, chains: Chains, heads: Heads, uid: str | None
) -> tuple[int, list[str]]:
    """Every anchor: its signature, and each anchored (chain, seq, hash) against the chain today."""
    from app.domain.audit import anchor_message, anchored_heads, verify_anchor
    from app.repositories.audit import head_path

    store = _anchor_store(settings)
    problems: list[str] = []
    count = 0
    for name, data in store.all():
        count += 1
        where = f"gs://{store.bucket}/{name}"
        envelope = _parse_anchor(data)
        if envelope is None:
            problems.append(f"{where}: not an anchor (malformed JSON)")
            continue
        body, signature = envelope
        why = checker.problem(signature, anchor_message(body))
        if why is not None:
            problems.append(f"{where}: anchor signature: {why}")
            continue
        for chain, anchored in anchored_heads(body).items():
            if uid is not None and chain != uid:
                continue
            found = verify_anchor(
                chain, anchored, chains.get(chain, []), heads.get(chain), name, head_path(chain)
            )
            problems.extend(f"{p.path}: {p.message}" for p in found)
    return count, problems


def _parse_anchor(data: bytes) -> tuple[dict[str, Any], Signature | None] | None:
    import orjson

    from app.core.signing import Signature

    try:
        envelope = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), dict):
        return None
    return envelope["body"], Signature.from_doc(envelope.get("signature"))


def _anchor_store(settings: Settings) -> AnchorStore:
    from app.ops.cli_errors import UnreachableError
    from app.repositories.audit_anchors import AnchorStore

    if not settings.audit_anchor_bucket:
        raise UnreachableError(
            "POG_AUDIT_ANCHOR_BUCKET is unset: name the audit anchors bucket (pog-<env>-audit-anchors),"
            " or pass --no-anchors"
        )
    return AnchorStore(settings.audit_anchor_bucket)


#: Heads written this long before the last anchor's end are anchored again: a transaction stamps its head
#: before it commits, so a head may appear in Firestore a little after its ``at``.
ANCHOR_OVERLAP = timedelta(minutes=5)


def _anchor(project: str | None, now: datetime) -> tuple[str, int]:
    import asyncio

    import orjson

    from app.composition import Parts
    from app.domain.audit import anchor_body, anchor_message
    from app.repositories.audit_anchors import anchor_name

    settings = _settings(project)
    store = _anchor_store(settings)
    latest = store.latest(now)
    since = None
    if latest is not None:
        envelope = _parse_anchor(latest[1])
        until = envelope[0].get("until") if envelope is not None else None
        if isinstance(until, int):
            since = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=until) - ANCHOR_OVERLAP

    async def read() -> tuple[Heads, Any]:
        async with Parts(settings) as parts:
            return await parts.audit_reader.heads_since(since), parts.signer

    heads, signer = asyncio.run(read())
    body = anchor_body(heads, since, now)
    signed = {"body": body, "signature": signer.sign(anchor_message(body)).to_doc()}
    name = anchor_name(now)
    store.create(name, orjson.dumps(signed, option=orjson.OPT_SORT_KEYS))
    return f"gs://{store.bucket}/{name}", len(heads)


@audit_app.command()
def verify(
    uid: Annotated[str | None, typer.Option(help="Verify only this player's chain.")] = None,
    project: Annotated[str | None, typer.Option(help="Firestore project (default: the settings').")] = None,
    decrypt: Annotated[
        bool, typer.Option(help="Also open every sealed field with the data keys (after a key rotation).")
    ] = False,
    anchors: Annotated[
        bool,
        typer.Option(help="Check the anchors of POG_AUDIT_ANCHOR_BUCKET (default: when it is set)."),
    ] = True,
) -> None:
    """Verify the hash chains of /transactions, the heads' signatures and the anchors; exit 1 and name
    the entry when one was tampered with."""
    import os

    with one_error_line():
        check_anchors = anchors and bool(os.environ.get("POG_AUDIT_ANCHOR_BUCKET"))
        chains, entries, checked, problems = _verify(uid, project, decrypt, check_anchors)
    for line in problems:
        typer.echo(f"TAMPERED {line}", err=True)
    anchored = f", {checked} anchor(s)" if check_anchors else " (no anchor bucket set: anchors not checked)"
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {chains} chain(s), {entries} entries{anchored}", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {chains} chain(s), {entries} entries verified{anchored}")


@audit_app.command()
def anchor(
    project: Annotated[str | None, typer.Option(help="Firestore project (default: the settings').")] = None,
) -> None:
    """Write the chain heads changed since the last anchor to the anchors bucket, signed, once (the
    scheduled job ``audit-anchor``, every 15 minutes)."""
    from app.repositories.audit_anchors import AnchorExistsError

    with one_error_line():
        try:
            where, count = _anchor(project, datetime.now(UTC))
        except AnchorExistsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"anchored {count} chain head(s) in {where}")
