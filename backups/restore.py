"""`pog backup restore`: into a new (empty) database only; restoring over data is refused.

GCP: an export (``gs://...``) is imported with importDocuments into an existing, empty database; a
backup (``projects/P/locations/L/backups/ID``) is restored with restoreDatabase, which creates the
database, so that database must not exist. Emulator: a local export is imported into an empty database
of the running emulator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from google.api_core import exceptions as gexc
from google.auth.exceptions import DefaultCredentialsError

from backups import emulator
from backups.documents import is_empty
from backups.errors import BackupError
from backups.export import EXPORT_TIMEOUT_S, check_collection_ids
from backups.google_errors import api_errors, credentials_error
from backups.targets import Target, check_bucket_uri

BACKUP_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/backups/[^/]+")


@dataclass(frozen=True)
class RestoreResult:
    target: Target
    source: str
    operation: str | None = None


def not_empty(target: Target) -> BackupError:
    return BackupError(
        f"refused: {target.describe()} is not empty; restore only into a new, empty database"
        " (pick a new --database id)"
    )


def restore(
    target: Target, source: str, collections: Sequence[str] = (), *, wait: bool = False
) -> RestoreResult:
    collections = check_collection_ids(collections)
    if target.emulator is not None:
        if collections:
            raise BackupError("the emulator imports whole exports only: drop --collection (it works on GCP)")
        return _restore_emulator(target, source)
    if BACKUP_NAME.fullmatch(source):
        if collections:
            raise BackupError("a backup restores a whole database: --collection applies to exports only")
        return _restore_backup(target, source, wait)
    if source.startswith("gs://"):
        return _import_export(target, check_bucket_uri(source), collections, wait)
    raise BackupError(
        f"bad restore source {source!r}: on GCP give an export (gs://BUCKET/PREFIX) or a backup"
        " (projects/P/locations/L/backups/ID); local exports need FIRESTORE_EMULATOR_HOST"
    )


def _restore_emulator(target: Target, source: str) -> RestoreResult:
    if source.startswith(("gs://", "projects/")):
        raise BackupError(
            f"the emulator restores local exports only, not {source} (unset FIRESTORE_EMULATOR_HOST for GCP)"
        )
    metadata_file = emulator.find_metadata(Path(source))
    recorded = emulator.exported_database(metadata_file)
    if recorded is not None and recorded != target.database:
        raise BackupError(
            f"this export is of database {recorded!r}: the emulator imports it only into a database with"
            f" that id; restore into a fresh emulator with --database {recorded}"
        )
    if not is_empty(target):
        raise not_empty(target)
    emulator.import_into(target, metadata_file)
    if is_empty(target):
        raise BackupError(
            f"nothing was imported into {target.describe()}: the emulator loads an export only into the"
            " database it was taken from (pass that id as --database), or the export is empty"
        )
    return RestoreResult(target, str(metadata_file))


def _restore_backup(target: Target, backup: str, wait: bool) -> RestoreResult:
    from google.cloud.firestore_admin_v1.types import RestoreDatabaseRequest

    from backups.clients import admin_client

    try:
        admin = admin_client()
        try:
            admin.get_database(name=target.name)
        except gexc.NotFound:
            pass
        else:
            raise BackupError(
                f"refused: {target.describe()} exists already; a backup restores into a new database id"
            )
        request = RestoreDatabaseRequest(
            parent=f"projects/{target.project}", database_id=target.database, backup=backup
        )
        operation = admin.restore_database(request=request)
        if wait:
            operation.result(timeout=EXPORT_TIMEOUT_S)  # type: ignore[no-untyped-call]
    except DefaultCredentialsError:
        raise credentials_error() from None
    except gexc.GoogleAPICallError as exc:
        raise api_errors(target, exc) from None
    return RestoreResult(target, backup, operation.operation.name)


def _import_export(target: Target, uri: str, collections: tuple[str, ...], wait: bool) -> RestoreResult:
    from google.cloud.firestore_admin_v1 import ImportDocumentsRequest

    from backups.clients import admin_client

    try:
        empty = is_empty(target)
    except BackupError as exc:
        if "unknown database" not in str(exc):
            raise
        raise BackupError(
            f"{exc}; an export is imported into a new database you create first:"
            f" gcloud firestore databases create --database={target.database} --location=LOCATION"
        ) from None
    if not empty:
        raise not_empty(target)
    try:
        request = ImportDocumentsRequest(
            name=target.name, collection_ids=list(collections), input_uri_prefix=uri
        )
        operation = admin_client().import_documents(request=request)
        if wait:
            operation.result(timeout=EXPORT_TIMEOUT_S)  # type: ignore[no-untyped-call]
    except DefaultCredentialsError:
        raise credentials_error() from None
    except gexc.GoogleAPICallError as exc:
        raise api_errors(target, exc) from None
    return RestoreResult(target, uri, operation.operation.name)
