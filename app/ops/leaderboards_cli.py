"""``pog leaderboards``: on-call commands for the boards (settings from the app's ``POG_*`` environment).

- ``pog leaderboards rebuild [--period P]``: recompute the current (and not yet archived previous) periods'
  boards from Firestore into Redis, e.g. after a failover to an empty replica. The API also does it by
  itself when it finds the boards lost; a Redis lock keeps two rebuilds from running at once.
- ``pog leaderboards rewards [--dry-run]``: the reset job (daily, a few minutes after 00:00 UTC): archive
  every finished period, grant the top ranks of its global board and of each country board their rewards
  exactly once (the reward config, ``REWARD_TIERS``, decides which boards pay), checkpoint monthly and
  all-time. It first submits the scores a Redis outage left pending (as ``reconcile`` does), so that an
  outage across midnight does not leave them out of the archived period (``--dry-run`` skips that).
- ``pog leaderboards reconcile``: submit the finished games whose leaderboard submit failed during a Redis
  outage (``board_pending`` in /games, every games database) and clear their marks; every 5 minutes in
  every region, and the API runs it by itself when Redis returns; it also applies the cache invalidations
  Redis refused (``app/repositories/cache.py``). Prints ``{"submitted", "left", "stopped", "cache_swept"}``;
  unreachable boards are no failure (the run leaves the games marked for the next one).

Heavy imports happen inside the commands, so ``pog`` itself starts as fast as before.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.ops.cli_errors import one_error_line

if TYPE_CHECKING:
    from app.domain.leaderboards import Period

leaderboards_app = typer.Typer(
    help="Leaderboards: rebuild from Firestore, archive and reward finished periods, submit pending scores.",
    no_args_is_help=True,
)


async def _with_jobs(action: str, periods: list[Period] | None, dry_run: bool) -> dict[str, Any]:
    from app.composition import Parts
    from app.core.config import get_settings
    from app.domain.leaderboards import PERIODS

    async with Parts(get_settings()) as parts:
        if action == "reconcile":
            reconciled: dict[str, Any] = (await parts.reconciler.run()).as_dict()
            # The same run applies the cache invalidations Redis refused (the API instances sweep too).
            return reconciled | {"cache_swept": await parts.cache.sweep()}
        jobs = parts.leaderboards.jobs
        if action == "rebuild":
            report = await jobs.rebuild(periods or PERIODS)
            if report is None:
                raise typer.BadParameter("another rebuild is running (Redis lock {lb}:rebuilding); try later")
            return report
        if dry_run:
            return await jobs.reset(None)
        # Scores a Redis outage left pending belong on the boards before a finished period is archived.
        reconciled = (await parts.reconciler.run()).as_dict()
        # The economy's grant service: one ledger transaction per grant, deduplicated on ``source_id``.
        await parts.load_keys()
        return await jobs.reset(parts.grants) | {"reconciled_first": reconciled}


def _print(report: dict[str, Any]) -> None:
    typer.echo(json.dumps(report, indent=2, sort_keys=True, default=str))


@leaderboards_app.command()
def rebuild(
    period: Annotated[
        list[str] | None, typer.Option("--period", help="daily, weekly, monthly or all_time (repeatable)")
    ] = None,
) -> None:
    """Rebuild the boards from Firestore's finished games (and checkpoints) into Redis."""
    from app.domain.leaderboards import Period

    try:
        periods = [Period(p) for p in period or []]
    except ValueError:
        raise typer.BadParameter(f"--period must be one of {', '.join(p.value for p in Period)}") from None
    with one_error_line():
        report = asyncio.run(_with_jobs("rebuild", periods, dry_run=False))
    _print(report)


@leaderboards_app.command()
def rewards(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="archive and checkpoint, grant nothing")] = False,
) -> None:
    """Archive finished periods, grant their rewards exactly once, checkpoint monthly and all-time."""
    with one_error_line():
        report = asyncio.run(_with_jobs("rewards", None, dry_run))
    _print(report)


@leaderboards_app.command()
def reconcile() -> None:
    """Submit the finished games a Redis outage left off the boards (board_pending); clear their marks."""
    with one_error_line():
        report = asyncio.run(_with_jobs("reconcile", None, dry_run=False))
    _print(report)
