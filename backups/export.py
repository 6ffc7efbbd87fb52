"""`pog backup export`: a managed export of a database, or of chosen collections.

GCP: the Admin API's exportDocuments to ``gs://BUCKET/PREFIX/NAME`` (a long-running operation).
Emulator: its export endpoint into a local directory (whole databases only: the endpoint has no
collection filter).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from google.api_core import exceptions as gexc
from google.auth.exceptions import DefaultCredentialsError

from backups import emulator
from backups.errors import BackupError
from backups.google_errors import api_errors, credentials_error
from backups.targets import Target, check_bucket_uri

EXPORT_TIMEOUT_S = 3600
_COLLECTION_ID = re.compile(r"[^/]{1,1500}")


@dataclass(frozen=True)
class ExportResult:
    location: str  # gs://... prefix or local folder holding the export
    operation: str | None = None  # the GCP long-running operation, None on the emulator


def export_name(target: Target, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{target.database.strip('()')}-{stamp}"


def check_collection_ids(collections: Sequence[str]) -> tuple[str, ...]:
    for collection in collections:
        if (
            not _COLLECTION_ID.fullmatch(collection)
            or collection in (".", "..")
            or (collection.startswith("__") and collection.endswith("__"))
        ):
            raise BackupError(f"bad collection id {collection!r}: a top-level collection name, without '/'")
    return tuple(dict.fromkeys(collections))


def export_database(
    target: Target,
    destination: str,
    collections: Sequence[str] = (),
    *,
    name: str | None = None,
    wait: bool = False,
) -> ExportResult:
    collections = check_collection_ids(collections)
    name = name or export_name(target)
    if target.emulator is None:
        return _export_gcp(target, check_bucket_uri(destination), collections, name, wait)
    if destination.startswith("gs://"):
        raise BackupError(
            f"the emulator writes exports to a local directory, not {destination}: pass --to DIR"
            " (unset FIRESTORE_EMULATOR_HOST to export from GCP)"
        )
    if collections:
        raise BackupError("the emulator exports whole databases only: drop --collection (it works on GCP)")
    from backups.documents import is_empty

    if is_empty(target):
        raise BackupError(f"nothing to export: {target.describe()} has no documents (wrong --database?)")
    return ExportResult(str(emulator.export(target, Path(destination), name)))


def _export_gcp(
    target: Target, bucket_uri: str, collections: tuple[str, ...], name: str, wait: bool
) -> ExportResult:
    from google.cloud.firestore_admin_v1 import ExportDocumentsRequest

    from backups.clients import admin_client

    prefix = f"{bucket_uri}/{name}"
    request = ExportDocumentsRequest(
        name=target.name, collection_ids=list(collections), output_uri_prefix=prefix
    )
    try:
        operation = admin_client().export_documents(request=request)
        if wait:
            operation.result(timeout=EXPORT_TIMEOUT_S)  # type: ignore[no-untyped-call]
    except DefaultCredentialsError:
        raise credentials_error() from None
    except gexc.GoogleAPICallError as exc:
        raise api_errors(target, exc) from None
    return ExportResult(prefix, operation.operation.name)
