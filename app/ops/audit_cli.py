"""``pog audit verify [--uid UID]``: check the audit log's hash chains in Firestore.

Reads every entry of ``/transactions`` (or one player's) and the chain heads in ``/audit_chains``,
recomputes each entry's hash, and checks the sequence numbers, the links and the heads. Any problem is
printed with the document's path; the exit code is 1 when anything was tampered with, 0 otherwise.
Firestore is the one of the settings (``POG_FIREBASE_PROJECT_ID``, ``FIRESTORE_EMULATOR_HOST``).
``--decrypt`` also opens every sealed field with the data key of the settings (KMS-unwrapped in prod):
the check after rotating or re-wrapping the key.
"""

from __future__ import annotations

from typing import Annotated

import typer

from app.ops.cli_errors import one_error_line

audit_app = typer.Typer(name="audit", help="The audit log of grants and payments.", no_args_is_help=True)


@audit_app.callback()
def audit() -> None:
    """The audit log of grants and payments (/transactions)."""


async def _verify(uid: str | None, project: str | None, decrypt: bool) -> tuple[int, int, list[str]]:
    # Imported here: `pog` starts without loading the Firestore client unless this command runs.
    from app.composition import Parts
    from app.core.config import Settings
    from app.core.crypto import CryptoError, Sealed
    from app.domain.audit import verify_chain
    from app.repositories.audit import head_path

    settings = Settings()
    if project:
        settings = settings.model_copy(update={"firebase_project_id": project})
    async with Parts(settings) as parts:
        chains = await parts.audit_reader.chains(uid)
        heads = await parts.audit_reader.heads(uid)
        cipher = parts.cipher if decrypt else None
    problems: list[str] = []
    names = sorted(set(chains) | set(heads))
    entries = 0
    for chain in names:
        found = chains.get(chain, [])
        entries += len(found)
        for problem in verify_chain(chain, found, heads.get(chain), head_path(chain)):
            problems.append(f"{problem.path}: {problem.message}")
        for entry in found:
            if cipher is None or not entry.get("sealed"):
                continue
            try:
                cipher.open(Sealed.from_doc(entry["sealed"]), str(entry.get("id")))
            except CryptoError as exc:
                problems.append(f"transactions/{entry['_doc_id']}: {exc}")
    return len(names), entries, problems


@audit_app.command()
def verify(
    uid: Annotated[str | None, typer.Option(help="Verify only this player's chain.")] = None,
    project: Annotated[str | None, typer.Option(help="Firestore project (default: the settings').")] = None,
    decrypt: Annotated[
        bool, typer.Option(help="Also open every sealed field with the data key (after a key rotation).")
    ] = False,
) -> None:
    """Verify the hash chains of /transactions; exit 1 and name the entry when one was tampered with."""
    import asyncio

    with one_error_line():
        chains, entries, problems = asyncio.run(_verify(uid, project, decrypt))
    for line in problems:
        typer.echo(f"TAMPERED {line}", err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {chains} chain(s), {entries} entries", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {chains} chain(s), {entries} entries verified")
