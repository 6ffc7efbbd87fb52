"""``pog events announce``: push the start of every live event that has started and was not announced.

Run it every minute (Cloud Scheduler -> a Cloud Run job, or cron): each run reads the events that have not
ended from Firestore and announces the due ones; a transaction marks each event announced before its push,
so overlapping runs send each push once. Settings come from the app's ``POG_*`` environment. Prints a JSON
report ``{"due", "sent", "failed"}``; the exit code is 0 unless Firestore or Redis cannot be reached.

Heavy imports happen inside the command, so ``pog`` itself starts as fast as before.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import typer

from app.ops.cli_errors import one_error_line

if TYPE_CHECKING:
    from app.core.config import Settings
    from app.services.live_events_announce import AnnounceReport

events_app = typer.Typer(help="Live events: announce the ones that have started.", no_args_is_help=True)


@events_app.callback()
def events() -> None:
    """Live events (/events)."""


async def announce_due(settings: Settings) -> AnnounceReport:
    """One run of the job with its own clients (closed before returning)."""
    from app.composition import Parts

    async with Parts(settings) as parts:
        return await parts.announcer.announce_due()


@events_app.command()
def announce() -> None:
    """Push the start of each started, not yet announced event to the live-events topic, once."""
    from app.core.config import get_settings

    with one_error_line():
        report = asyncio.run(announce_due(get_settings()))
    typer.echo(json.dumps(asdict(report), indent=2, sort_keys=True))
