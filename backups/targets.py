"""Where a database lives: a GCP project, or a Firestore emulator; and the checks on names and URIs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from backups.errors import BackupError

EMULATOR_VARIABLE = "FIRESTORE_EMULATOR_HOST"
DEFAULT_DATABASE = "(default)"
#: The app's default project (app/core/config.py); emulators accept any id, GCP needs the real one.
DEFAULT_PROJECT = "demo-pot-of-gold"

# Firestore's rules for database ids: 4-63 characters, lowercase letters, digits and hyphens, starting
# with a letter and not ending with a hyphen; or "(default)".
_DATABASE_ID = re.compile(r"[a-z][a-z0-9-]{2,61}[a-z0-9]")
# Cloud Storage bucket names: 3-63 characters of lowercase letters, digits, -, _ and dots.
_BUCKET_URI = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,61}[a-z0-9])(/[^\s]*)?")
_HOST = re.compile(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}")


@dataclass(frozen=True)
class Target:
    """One Firestore database: on GCP when ``emulator`` is None, else on the emulator at that host:port."""

    project: str
    database: str
    emulator: str | None = None

    @property
    def name(self) -> str:
        return f"projects/{self.project}/databases/{self.database}"

    @property
    def documents_root(self) -> str:
        return f"{self.name}/documents"

    def describe(self) -> str:
        where = f"the emulator at {self.emulator}" if self.emulator else "GCP"
        return f"database {self.database!r} of project {self.project!r} on {where}"


def check_database_id(database: str) -> str:
    if database == DEFAULT_DATABASE or _DATABASE_ID.fullmatch(database):
        return database
    raise BackupError(
        f"bad database id {database!r}: use (default) or 4-63 lowercase letters, digits and hyphens,"
        " starting with a letter"
    )


def check_emulator_host(host: str) -> str:
    if _HOST.fullmatch(host):
        return host
    raise BackupError(f"bad emulator address {host!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")


def emulator_from_env() -> str | None:
    host = os.environ.get(EMULATOR_VARIABLE) or None
    return check_emulator_host(host) if host else None


def resolve(project: str | None, database: str, emulator: str | None = None) -> Target:
    """A target from command-line values: the emulator named by ``emulator`` or the environment, else GCP."""
    host = check_emulator_host(emulator) if emulator else emulator_from_env()
    project = project or os.environ.get("POG_FIREBASE_PROJECT_ID") or DEFAULT_PROJECT
    if host is None and project.startswith("demo-"):
        raise BackupError(
            f"project {project!r} is an emulator-only demo project: pass --project with the real GCP"
            f" project, or set {EMULATOR_VARIABLE} to work against the Firestore emulator"
        )
    return Target(project, check_database_id(database), host)


def check_bucket_uri(uri: str) -> str:
    """``gs://BUCKET/PREFIX`` with a valid bucket name; the trailing slash is dropped."""
    match = _BUCKET_URI.fullmatch(uri)
    if match is None or ".." in match.group(1):
        raise BackupError(f"bad bucket URI {uri!r}: expected gs://BUCKET/PREFIX (bucket: 3-63 of a-z0-9._-)")
    return uri.rstrip("/")
