"""``pog leaderboards``: on-call commands for the boards (settings from the app's ``POG_*`` environment).

- ``pog leaderboards rebuild [--period P]``: recompute the current (and not yet archived previous) periods'
  boards from Firestore into Redis, e.g. after a failover to an empty replica. The API also does it by
  itself when it finds the boards lost; a Redis lock keeps two rebuilds from running at once.
- ``pog leaderboards rewards [--dry-run]``: the reset job (daily, a few minutes after 00:00 UTC): archive
  every finished period, grant the top ranks of its global board and of each country board their rewards
  exactly once (the reward config, ``REWARD_TIERS``, decides which boards pay), checkpoint monthly and
  all-time.

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
    from app.services.grant_port import Granter

leaderboards_app = typer.Typer(
    help="Leaderboards: rebuild from Firestore, archive and reward finished periods.",
    no_args_is_help=True,
)


async def _with_jobs(action: str, periods: list[Period] | None, dry_run: bool) -> dict[str, Any]:
    from app.composition import Parts
    from app.core.config import get_settings
    from app.domain.leaderboards import PERIODS

    async with Parts(get_settings()) as parts:
        jobs = parts.leaderboards.jobs
        if action == "rebuild":
            report = await jobs.rebuild(periods or PERIODS)
            if report is None:
                raise typer.BadParameter("another rebuild is running (Redis lock {lb}:rebuilding); try later")
            return report
        granter: Granter | None = None
        if not dry_run:
            # The economy's grant service: one ledger transaction per grant, deduplicated on ``source_id``.
            await parts.load_keys()
            granter = parts.grants
        return await jobs.reset(granter)


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
