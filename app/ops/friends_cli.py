"""``pog friends``: the one-off migration of friendships to consent (issue 18).

- ``pog friends migrate``: before issue 18 one player could list anyone in ``friends``. Each such entry is
  kept when the other player listed them back (both asked), and otherwise becomes a pending request that
  the other player may accept or refuse. Run it once after the deploy; a rerun changes nothing.

Heavy imports happen inside the command, so ``pog`` itself starts as fast as before.
"""

from __future__ import annotations

import asyncio
import json

import typer

from app.ops.cli_errors import one_error_line

friends_app = typer.Typer(help="Friendships: the migration to consented friendships.", no_args_is_help=True)


async def _migrate() -> dict[str, int]:
    from app.composition import Parts
    from app.core.config import get_settings

    async with Parts(get_settings()) as parts:
        return await parts.friends.migrate_one_sided()


@friends_app.command()
def migrate() -> None:
    """Keep mutual friends; turn every one-sided ``friends`` entry into a pending request."""
    with one_error_line():
        report = asyncio.run(_migrate())
    typer.echo(json.dumps(report, indent=2, sort_keys=True))
