"""The root of `pog`: every command of infra, backups and the game's operations under one name."""

from __future__ import annotations

import gc
import os
import sys

import typer

from app.ops.admin_cli import admin_app
from app.ops.audit_cli import audit_app
from app.ops.events_cli import events_app
from app.ops.friends_cli import friends_app
from app.ops.leaderboards_cli import leaderboards_app
from app.ops.realtime_cli import realtime_app
from app.ops.smoke_cli import smoke
from backups.cli import backup_app
from infra.cost.cli import cost, diff
from infra.plan.cli import DIFF_SETTINGS, plan
from infra.policy.check import check
from infra.promote.command import promote
from pog.errors import run
from pog.notices import quiet_google_notices
from pog.stacks import snapshot_defaults

app = typer.Typer(
    name="pog",
    help="Offline plan of the Pot of Gold Pulumi program (no Pulumi CLI, no credentials needed).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(plan)
app.command(context_settings=DIFF_SETTINGS)(diff)
app.command()(promote)
app.command()(check)
app.command()(cost)
app.add_typer(backup_app(snapshot_defaults), name="backup")
app.add_typer(audit_app, name="audit")
app.add_typer(leaderboards_app, name="leaderboards")
app.add_typer(events_app, name="events")
app.add_typer(friends_app, name="friends")
app.add_typer(realtime_app, name="realtime")
app.command()(smoke)
app.add_typer(admin_app, name="admin")


@app.callback()
def callback() -> None:
    """Offline plan, diff, check and promotion for the Pot of Gold stacks."""


def main() -> None:
    """Console entry point: `pog`.

    A plan allocates hundreds of thousands of short-lived objects inside the provider SDKs, and the
    interpreter then spends over a second tearing those modules down at exit. The cyclic collector is
    off while the command runs, and the process ends without the teardown once output is flushed.
    """
    gc.disable()
    quiet_google_notices()
    try:
        code = run(app)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
