"""What the Google clients raise, as the one-line ``BackupError`` the commands print."""

from __future__ import annotations

from google.api_core import exceptions as gexc

from backups.errors import BackupError
from backups.targets import Target


def credentials_error() -> BackupError:
    return BackupError(
        "no Google credentials: run `gcloud auth application-default login` (or use workload identity),"
        " or set FIRESTORE_EMULATOR_HOST to work against the emulator"
    )


def api_errors(target: Target, exc: gexc.GoogleAPICallError) -> BackupError:
    if isinstance(exc, gexc.NotFound):
        return BackupError(f"unknown database: {target.describe()} does not exist ({exc.message})")
    if isinstance(exc, gexc.PermissionDenied | gexc.Unauthenticated):
        return BackupError(f"not allowed on {target.describe()}: {exc.message}")
    return BackupError(f"Firestore refused the request on {target.describe()}: {exc.message}")
