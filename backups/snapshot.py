"""`pog backup snapshot`: the monthly complete snapshot under one dated prefix.

``PREFIX/YYYY-MM-DD/``: ``pulumi-STACK.json`` (``pulumi stack export``: every resource and its outputs,
secrets encrypted), ``firestore/DATABASE/`` (a managed export of each database) and ``manifest.json``
(what was written, with sizes and checksums). A bucket (``gs://``) on GCP, a local directory on the
emulator.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backups.errors import BackupError
from backups.export import export_database
from backups.targets import Target, check_bucket_uri, check_database_id

PULUMI_TIMEOUT_S = 600
MANIFEST = "manifest.json"
#: Under the stack's export bucket (infra/stacks/backups.py), beside the daily exports; `pog` names it.
SNAPSHOT_FOLDER = "snapshots"


@dataclass(frozen=True)
class SnapshotResult:
    location: str
    manifest: dict[str, Any]


def pulumi_binary() -> str:
    binary = shutil.which("pulumi")
    if binary is None:
        raise BackupError(
            "the Pulumi CLI is not on PATH: install it and `pulumi login` to the state backend, then run"
            " the snapshot again (nothing was written)"
        )
    return binary


def stack_export(stack: str, destination: Path) -> dict[str, Any]:
    """``pulumi stack export`` into ``destination``; returns what the manifest records of it."""
    command = [pulumi_binary(), "stack", "export", "--stack", stack, "--file", str(destination)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PULUMI_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise BackupError(f"pulumi stack export --stack {stack} took over {PULUMI_TIMEOUT_S} s") from None
    if done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
        raise BackupError(f"pulumi stack export --stack {stack} failed: {reason}")
    data = destination.read_bytes()
    try:
        resources = len(json.loads(data)["deployment"].get("resources") or [])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BackupError(f"pulumi stack export --stack {stack} wrote no deployment JSON") from None
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "resources": resources}


def snapshot(
    stack: str,
    destination: str,
    project: str,
    databases: Sequence[str],
    emulator_host: str | None,
    *,
    now: datetime | None = None,
) -> SnapshotResult:
    pulumi_binary()  # fail before anything is written
    databases = [check_database_id(d) for d in dict.fromkeys(databases)]
    when = now or datetime.now(UTC)
    on_gcp = emulator_host is None
    if on_gcp:
        prefix = f"{check_bucket_uri(destination)}/{when:%Y-%m-%d}"
    else:
        if destination.startswith("gs://"):
            raise BackupError(
                f"the emulator snapshots into a local directory, not {destination}: pass --to DIR"
            )
        prefix = str(Path(destination).resolve() / f"{when:%Y-%m-%d}")
        if Path(prefix).exists():
            raise BackupError(f"{prefix} exists already: snapshots never overwrite one another")
    try:
        manifest = _write(stack, prefix, project, databases, emulator_host, when)
    except BaseException:
        # The manifest is written last: a prefix without one is incomplete. Locally, leave nothing.
        if not on_gcp:
            shutil.rmtree(prefix, ignore_errors=True)
        raise
    return SnapshotResult(prefix, manifest)


def _write(
    stack: str,
    prefix: str,
    project: str,
    databases: Sequence[str],
    emulator_host: str | None,
    when: datetime,
) -> dict[str, Any]:
    on_gcp = emulator_host is None
    pulumi_name = f"pulumi-{stack}.json"
    with tempfile.TemporaryDirectory(prefix="pog-snapshot-") as scratch:
        state_file = Path(scratch) / pulumi_name
        state = stack_export(stack, state_file)
        firestore = []
        for database in databases:
            target = Target(project, database, emulator_host)
            slug = database.strip("()")
            if on_gcp:
                result = export_database(target, f"{prefix}/firestore", name=slug, wait=True)
            else:
                result = export_database(target, str(Path(prefix) / "firestore"), name=slug)
            firestore.append(
                {"database": database, "location": result.location, "operation": result.operation}
            )
        manifest: dict[str, Any] = {
            "created_at": when.isoformat(timespec="seconds"),
            "stack": stack,
            "project": project,
            "prefix": prefix,
            "pulumi_stack_export": {"file": pulumi_name, **state},
            "firestore_exports": firestore,
        }
        manifest_file = Path(scratch) / MANIFEST
        manifest_file.write_text(json.dumps(manifest, indent=2) + "\n")
        if on_gcp:
            _upload(prefix, [state_file, manifest_file], project)
        else:
            for path in (state_file, manifest_file):
                shutil.copyfile(path, Path(prefix) / path.name)
    return manifest


def _upload(prefix: str, files: Sequence[Path], project: str) -> None:
    from google.api_core import exceptions as gexc
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import storage  # type: ignore[attr-defined]

    from backups.google_errors import credentials_error

    bucket_name, _, path = prefix.removeprefix("gs://").partition("/")
    try:
        bucket = storage.Client(project=project).bucket(bucket_name)
        for file in files:
            bucket.blob(f"{path}/{file.name}").upload_from_filename(str(file))
    except DefaultCredentialsError:
        raise credentials_error() from None
    except gexc.GoogleAPICallError as exc:
        raise BackupError(f"cannot write to {prefix}: {exc.message}") from None
