"""``pog realtime``: the Realtime Database shards' rules and the friendship mirror (docs/realtime.md).

- ``pog realtime rules [--check]``: puts ``app/realtime/database.rules.json`` on every shard where it
  differs (``PUT /.settings/rules.json``); one line per shard, ``changed`` or ``unchanged``. ``--check``
  writes nothing and exits 1 when a shard's rules differ (``drift``). The deploy runs it right after
  ``pulumi up``; the hourly job corrects drift within the hour.
- ``pog realtime sync``: applies the mirror records a failed or interrupted apply left in the Firestore
  outbox (a bounded batch per run; the job runs every minute). Exits 1 when some could not be applied.
- ``pog realtime resync``: rebuilds ``/friends`` and ``/hidden`` on every shard from Firestore's users,
  after the shard count changed or a restore.

Settings come from the app's ``POG_*`` environment (``POG_REALTIME_DATABASE_URLS`` names the shards). A
failure prints one ``error:`` line and exits 1. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from app.ops.cli_errors import one_error_line

if TYPE_CHECKING:
    from app.composition import Parts
    from app.core.config import Settings
    from app.services.realtime import ResyncReport, ShardRules, SyncReport

T = TypeVar("T")

RULES_FILE = Path(__file__).resolve().parent.parent / "realtime" / "database.rules.json"
#: Outbox records one ``realtime sync`` run applies unless told (it runs every minute).
SYNC_BATCH = 500

realtime_app = typer.Typer(
    help="The Realtime Database: rules on every shard, the friendship mirror.", no_args_is_help=True
)


@realtime_app.callback()
def realtime() -> None:
    """The Realtime Database shards (POG_REALTIME_DATABASE_URLS)."""


class RealtimeCommandError(Exception):
    """What the operator must fix, in one line."""


@contextmanager
def _one_line() -> Iterator[None]:
    """``one_error_line`` for Google and the settings, plus the shards' own failures."""
    from app.repositories.errors import RealtimeUnavailableError
    from app.services.realtime import MirrorUnsettledError

    with one_error_line():
        try:
            yield
        except (RealtimeUnavailableError, MirrorUnsettledError, RealtimeCommandError) as exc:
            typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
            raise typer.Exit(1) from None


async def _with_parts(settings: Settings, work: Callable[[Parts], Awaitable[T]]) -> T:
    from app.composition import Parts

    if not settings.realtime_database_urls:
        raise RealtimeCommandError(
            "POG_REALTIME_DATABASE_URLS is empty: set it to the stack's Realtime Database URLs, shard 0 first"
        )
    async with Parts(settings) as parts:
        return await work(parts)


def _settings() -> Settings:
    from app.core.config import get_settings

    return get_settings()


async def deploy_rules(settings: Settings, text: str, *, check: bool) -> list[ShardRules]:
    """One run of ``realtime rules`` with its own clients (closed before returning)."""

    async def run(parts: Parts) -> list[ShardRules]:
        assert parts.realtime_rules is not None
        return await parts.realtime_rules.deploy(text, check=check)

    return await _with_parts(settings, run)


async def sync_outbox(settings: Settings, limit: int) -> SyncReport:
    """One run of ``realtime sync``."""

    async def run(parts: Parts) -> SyncReport:
        assert parts.mirror is not None
        return await parts.mirror.sync_pending(limit)

    return await _with_parts(settings, run)


async def resync_mirror(settings: Settings) -> ResyncReport:
    """One run of ``realtime resync``."""

    async def run(parts: Parts) -> ResyncReport:
        assert parts.mirror is not None
        return await parts.mirror.resync()

    return await _with_parts(settings, run)


def read_rules(path: Path = RULES_FILE) -> str:
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except (OSError, ValueError) as exc:
        raise RealtimeCommandError(f"cannot read the rules {path}: {exc}") from exc
    return text


@realtime_app.command()
def rules(
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if a shard's rules differ.")
    ] = False,
) -> None:
    """Deploy app/realtime/database.rules.json to every shard where it differs."""
    with _one_line():
        report = asyncio.run(deploy_rules(_settings(), read_rules(), check=check))
    for shard in report:
        typer.echo(f"shard {shard.shard} {shard.url}: {shard.status}")
    drifted = [shard.shard for shard in report if shard.status == "drift"]
    if drifted:
        typer.echo(
            f"error: the rules of shard(s) {', '.join(map(str, drifted))} differ from {RULES_FILE.name}:"
            " run `pog realtime rules` to deploy them",
            err=True,
        )
        raise typer.Exit(1)


@realtime_app.command()
def sync(
    limit: Annotated[int, typer.Option(min=1, max=5000, help="Records to apply in this run.")] = SYNC_BATCH,
) -> None:
    """Apply the friendship-mirror records left in the Firestore outbox (oldest first)."""
    with _one_line():
        report = asdict(asyncio.run(sync_outbox(_settings(), limit)))
    typer.echo(json.dumps(report, indent=2, sort_keys=True))
    if report["failed"]:
        typer.echo(
            f"error: {report['failed']} outbox record(s) could not be applied (logged as"
            " realtime_mirror_failed); they stay for the next run",
            err=True,
        )
        raise typer.Exit(1)


@realtime_app.command()
def resync() -> None:
    """Rebuild /friends and /hidden on every shard from Firestore (after a shard-count change or a
    restore)."""
    with _one_line():
        report = asdict(asyncio.run(resync_mirror(_settings())))
    typer.echo(json.dumps(report, indent=2, sort_keys=True))
