"""``python -m app.ops``: the ops commands of ``pog`` that need only the app, as the image runs them.

The app image has no infra code (Pulumi), so its Cloud Run jobs (infra/stacks/compute/jobs.py) run these
instead of ``pog``: ``python -m app.ops leaderboards rebuild``, ``python -m app.ops events announce``.
The sub-commands are the same objects ``pog`` adds (pog/cli.py), with the same options.
"""

from __future__ import annotations

import warnings

import typer

from app.ops.admin_cli import admin_app
from app.ops.audit_cli import audit_app
from app.ops.events_cli import events_app
from app.ops.friends_cli import friends_app
from app.ops.leaderboards_cli import leaderboards_app
from app.ops.realtime_cli import realtime_app
from app.ops.smoke_cli import smoke

app = typer.Typer(name="pog", help="Ops commands of the game API (a subset of pog).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(leaderboards_app, name="leaderboards")
app.add_typer(events_app, name="events")
app.add_typer(friends_app, name="friends")
app.add_typer(realtime_app, name="realtime")
app.command()(smoke)
app.add_typer(admin_app, name="admin")

if __name__ == "__main__":
    # google.api_core warns on import that this Python leaves Google's support window: the maintainers'
    # reminder to upgrade the image, noise in a job's log (pog/notices.py filters the same).
    warnings.filterwarnings(
        "ignore", message="You are using a (non-supported )?Python version", category=FutureWarning
    )
    app(prog_name="pog")
