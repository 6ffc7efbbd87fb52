"""`pog backup ...`: export, restore, verify, drill and snapshot, as on-call runs them.

Against GCP by default (application default credentials); against the Firestore emulator when
FIRESTORE_EMULATOR_HOST is set. Firestore and Google client modules load inside the commands, so that
`pog plan` does not pay for them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from backups.errors import BackupError
from backups.targets import DEFAULT_PROJECT, Target, check_database_id, emulator_from_env, resolve
from terminal import console, fail, working

#: A stack's GCP project and default snapshot location (gs://BUCKET/PREFIX), read from its stack file.
#: `pog` passes it in: backups knows Firestore, not how the stacks are configured.
StackDefaults = Callable[[str], tuple[str, str]]

Project = Annotated[
    str | None,
    typer.Option(
        help="GCP project (default: $POG_FIREBASE_PROJECT_ID; on the emulator any id, e.g. demo-pot-of-gold)",
        show_default=False,
    ),
]
Collections = Annotated[
    list[str] | None,
    typer.Option(
        "--collection", "-c", help="Only this top-level collection (repeatable)", show_default=False
    ),
]
Wait = Annotated[bool, typer.Option(help="GCP: wait until the long-running operation is done")]


def _drill_source(seed: int | None, database: str, project: str | None) -> Target | None:
    """The emulator database to drill: None with ``--seed`` (the drill seeds a fresh one)."""
    check_database_id(database)
    if seed is not None:
        return None
    host = emulator_from_env()
    if host is None:
        raise BackupError(
            "no emulator to drill: set FIRESTORE_EMULATOR_HOST to a running one, or pass --seed N"
        )
    return Target(project or DEFAULT_PROJECT, database, host)


@contextmanager
def _user_errors(doing: str) -> Iterator[None]:
    """A spinner while ``doing`` runs; a ``BackupError`` becomes one ``error:`` line."""
    try:
        with working(doing):
            yield
    except BackupError as exc:
        raise fail(escape(str(exc))) from None


def export_command(
    to: Annotated[
        str,
        typer.Option("--to", help="GCP: gs://BUCKET/PREFIX; emulator: a local directory", show_default=False),
    ],
    database: Annotated[str, typer.Option("--database", "-d", help="Database id")] = "(default)",
    collection: Collections = None,
    project: Project = None,
    wait: Wait = False,
) -> None:
    """Managed export of a database, or of chosen collections, into a new dated folder."""
    from backups.export import export_database

    with _user_errors("exporting"):
        target = resolve(project, database)
        result = export_database(target, to, collection or (), wait=wait)
    console.print(f"exported {target.describe()} to {result.location}", highlight=False, soft_wrap=True)
    if result.operation:
        console.print(
            f"operation {result.operation} ({'done' if wait else 'running'}; "
            f"gcloud firestore operations describe {result.operation})",
            highlight=False,
            soft_wrap=True,
        )


def restore_command(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="GCP: an export gs://BUCKET/PREFIX or a backup projects/P/locations/L/backups/ID;"
            " emulator: an export folder",
            show_default=False,
        ),
    ],
    database: Annotated[
        str,
        typer.Option(
            "--database",
            "-d",
            help="The NEW database to restore into (must be empty or absent)",
            show_default=False,
        ),
    ],
    collection: Collections = None,
    project: Project = None,
    wait: Wait = False,
) -> None:
    """Restore an export or a backup into a new database; restoring over data is refused."""
    from backups.restore import restore

    with _user_errors("restoring"):
        target = resolve(project, database)
        result = restore(target, source, collection or (), wait=wait)
    console.print(f"restored {result.source} into {target.describe()}", highlight=False, soft_wrap=True)
    if result.operation:
        console.print(f"operation {result.operation} ({'done' if wait else 'running'})", highlight=False)
    console.print(
        f"next: pog backup verify --source SOURCE_DB --copy {target.database}",
        highlight=False,
        soft_wrap=True,
    )


def verify_command(
    copy: Annotated[str, typer.Option("--copy", help="The restored database id", show_default=False)],
    source: Annotated[str, typer.Option("--source", help="The source database id")] = "(default)",
    source_emulator: Annotated[
        str | None,
        typer.Option(
            help="Emulator HOST:PORT of the source (default: $FIRESTORE_EMULATOR_HOST)", show_default=False
        ),
    ] = None,
    copy_emulator: Annotated[
        str | None,
        typer.Option(
            help="Emulator HOST:PORT of the copy (default: $FIRESTORE_EMULATOR_HOST)", show_default=False
        ),
    ] = None,
    collection: Collections = None,
    project: Project = None,
) -> None:
    """Document counts and checksums per collection (subcollections included): exit 1 on any difference."""
    from backups.verify import render, verify

    with _user_errors("comparing the databases"):
        a = resolve(project, source, source_emulator)
        b = resolve(project, copy, copy_emulator)
        if a == b:
            raise BackupError(f"--source and --copy are the same database ({a.describe()})")
        report = verify(a, b, collection or ())
        if not report.source.documents:
            raise BackupError(f"{a.describe()} has no documents to compare (wrong --source or --project?)")
    console.print(render(report))
    if not report.identical:
        raise fail(escape(f"{b.database} differs from {a.database}: {report.summary()}"))
    console.print(
        f"identical: {report.source.documents} documents in {len(report.source.collections)} collections",
        highlight=False,
    )


def _drill_table(figures: dict[str, object]) -> Table:
    table = Table(title="Restore drill on the Firestore emulator")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for step in ("seed", "export", "restore", "verify"):
        value = figures[f"{step}_s"]
        if value is not None:
            label = f"{step} (not in the total)" if step == "seed" else step
            table.add_row(label, f"{value:.2f}")
    table.add_row("[bold]total (measured RTO)[/]", f"[bold]{figures['total_s']:.2f}[/]")
    table.add_row("RTO target", f"{figures['rto_target_s']:.0f}")
    return table


def drill_command(
    seed: Annotated[
        int | None,
        typer.Option(
            help="Drill a fresh emulator seeded with N documents instead of $FIRESTORE_EMULATOR_HOST"
        ),
    ] = None,
    database: Annotated[str, typer.Option("--database", "-d", help="Database id")] = "(default)",
    project: Project = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON here")] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep the export and emulator logs here (default: a temporary directory)"),
    ] = None,
) -> None:
    """Export, restore into a fresh emulator, verify, and time each step: the measured RTO."""
    from backups.drill import run_drill
    from backups.verify import render

    with _user_errors("drilling a restore"):
        source = _drill_source(seed, database, project)
        if workdir is not None and workdir.exists() and any(workdir.iterdir()):
            raise BackupError(f"--workdir {workdir} is not empty: give a new or empty directory")
        work = workdir or Path(tempfile.mkdtemp(prefix="pog-drill-"))
        try:
            work.mkdir(parents=True, exist_ok=True)
            figures, report = run_drill(
                work,
                source=source,
                seed_documents=seed,
                project=project or "demo-pog-drill",
                database=database,
            )
        finally:
            if workdir is None:
                shutil.rmtree(work, ignore_errors=True)
    data = figures.as_dict()
    if workdir is None:
        data["export_path"] = None  # the temporary directory is gone
    console.print(render(report))
    console.print(_drill_table(data))
    console.print(
        f"{figures.documents} documents restored and verified in {figures.total_s:.1f} s"
        f" ({figures.total_s / figures.rto_target_s:.2%} of the 1 h RTO)",
        highlight=False,
    )
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(data, indent=2) + "\n")
        except OSError as exc:
            raise fail(f"cannot write the figures to {json_path}: {exc.strerror}") from None
        console.print(f"figures written to {json_path}")
    if not report.identical:
        raise fail(escape(f"the restored copy differs: {report.summary()}"))


SnapshotStack = Annotated[
    str, typer.Option("--stack", help="Stack to snapshot: dev or prod", show_default=False)
]
SnapshotTo = Annotated[
    str | None,
    typer.Option(
        "--to",
        help="GCP: gs://BUCKET/PREFIX (default: the stack's gs://pog-ENV-firestore-exports/snapshots);"
        " emulator: a local directory (required)",
        show_default=False,
    ),
]
SnapshotDatabases = Annotated[
    list[str] | None,
    typer.Option("--database", "-d", help="Database to export (repeatable; default: (default))"),
]
SnapshotProject = Annotated[
    str | None,
    typer.Option(help="GCP project (default: the stack's pot-of-gold:gcpProject)", show_default=False),
]


def _snapshot_command(stack_defaults: StackDefaults) -> Callable[..., None]:
    def snapshot_command(
        stack: SnapshotStack,
        to: SnapshotTo = None,
        database: SnapshotDatabases = None,
        project: SnapshotProject = None,
    ) -> None:
        """Monthly complete snapshot: `pulumi stack export` plus Firestore exports under one dated prefix."""
        from backups.snapshot import snapshot

        with _user_errors(f"snapshotting {stack}"):
            stack_project, stack_bucket = stack_defaults(stack)
            host = emulator_from_env()
            if host is not None and to is None:
                raise BackupError("on the emulator, pass --to DIR (a local directory)")
            target = resolve(project or (DEFAULT_PROJECT if host else stack_project), "(default)")
            result = snapshot(stack, to or stack_bucket, target.project, database or ["(default)"], host)
        console.print(f"snapshot of {stack} written to {result.location}", highlight=False, soft_wrap=True)
        console.print(json.dumps(result.manifest, indent=2), highlight=False, soft_wrap=True)

    return snapshot_command


def backup_app(stack_defaults: StackDefaults) -> typer.Typer:
    """The `pog backup` group; ``stack_defaults`` answers `snapshot`'s questions about a stack."""
    app = typer.Typer(
        name="backup",
        help="Firestore exports, restores into new databases, verification and timed restore drills.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    app.command("export")(export_command)
    app.command("restore")(restore_command)
    app.command("verify")(verify_command)
    app.command("drill")(drill_command)
    app.command("snapshot")(_snapshot_command(stack_defaults))
    return app
