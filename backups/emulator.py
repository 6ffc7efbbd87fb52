"""The Firestore emulator's export and import endpoints, and throw-away emulators for restores and drills.

Checked on emulator 1.19.9: ``POST /emulator/v1/projects/P:export {database, export_directory,
export_name}`` writes ``DIR/NAME/NAME.overall_export_metadata`` plus the data files; ``:import {database,
export_directory: <metadata file>}`` loads it. An export records the id of the database it came from,
and the emulator imports it only into a database with that id (into any other it silently loads
nothing), so a restore on the emulator goes to a fresh emulator, or an empty database of that id.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import Any

from backups.errors import BackupError
from backups.targets import Target

METADATA_SUFFIX = ".overall_export_metadata"
#: What `pog backup export` writes beside an emulator export: where it came from.
MANIFEST = "pog-export.json"


def _post(target: Target, body: dict[str, Any], action: str) -> None:
    url = f"http://{target.emulator}/emulator/v1/projects/{target.project}:{action}"
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with suppress(ValueError, KeyError, TypeError):
            detail = json.loads(detail)["error"]["message"]
        raise BackupError(f"the emulator at {target.emulator} refused the {action}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise BackupError(f"no Firestore emulator answers at {target.emulator}: {exc}") from None


def export(target: Target, directory: Path, name: str) -> Path:
    """Export the whole database into ``directory/name``; returns that folder."""
    directory = directory.resolve()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the export directory {directory}: {exc.strerror}") from None
    if (directory / name).exists():
        raise BackupError(f"{directory / name} exists already: exports never overwrite one another")
    _post(
        target, {"database": target.name, "export_directory": str(directory), "export_name": name}, "export"
    )
    folder = directory / name
    if not (folder / f"{name}{METADATA_SUFFIX}").is_file():
        raise BackupError(f"the emulator reported success but wrote no {name}{METADATA_SUFFIX} in {folder}")
    (folder / MANIFEST).write_text(
        json.dumps({"project": target.project, "database": target.database, "export": name}, indent=2) + "\n"
    )
    return folder


def find_metadata(source: Path) -> Path:
    """The ``*.overall_export_metadata`` file of an export, given it or the export's folder."""
    if source.is_file() and source.name.endswith(METADATA_SUFFIX):
        return source.resolve()
    if not source.is_dir():
        raise BackupError(f"no export at {source}: give an export folder or its *{METADATA_SUFFIX} file")
    found = sorted(source.glob(f"*{METADATA_SUFFIX}"))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise BackupError(f"{what} *{METADATA_SUFFIX} file(s) in {source}: give one export's folder")
    return found[0].resolve()


def exported_database(metadata_file: Path) -> str | None:
    """The source database recorded by `pog backup export`, if this export has its manifest."""
    manifest = metadata_file.parent / MANIFEST
    if not manifest.is_file():
        return None
    try:
        database = json.loads(manifest.read_text())["database"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(database)


def import_into(target: Target, metadata_file: Path) -> None:
    _post(target, {"database": target.name, "export_directory": str(metadata_file)}, "import")


def services() -> ModuleType:
    """``scripts/services.py`` (free ports, readiness, stop), importable from an installed `pog` too."""
    try:
        from scripts import services as module
    except ImportError:
        # `pog` is installed editable from the repository; scripts/ sits beside this package.
        sys.path.append(str(Path(__file__).resolve().parent.parent))
        from scripts import services as module
    return module


@contextmanager
def fresh_emulator(workdir: Path) -> Iterator[str]:
    """A new, empty Firestore emulator on a free port (host:port), stopped on exit."""
    procs = services()
    try:
        service = procs.start_firestore(workdir)
    except RuntimeError as exc:
        raise BackupError(str(exc).splitlines()[0]) from None
    try:
        yield f"127.0.0.1:{service.port}"
    finally:
        service.stop()
