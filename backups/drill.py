"""`pog backup drill`: export a source, restore it into a fresh emulator, verify; time every step.

The sum of export, restore (a new emulator started and the export imported) and verify is the restore
time measured on the emulator, reported against the 1 h RTO target.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from backups import emulator
from backups.errors import BackupError
from backups.export import export_database, export_name
from backups.restore import restore
from backups.seed import seed
from backups.targets import Target
from backups.verify import VerifyReport, verify

RTO_TARGET_S = 3600.0


@dataclass(frozen=True)
class DrillFigures:
    documents: int
    collections: int
    seed_s: float | None
    export_s: float
    restore_s: float
    verify_s: float
    total_s: float
    rto_target_s: float
    within_rto: bool
    identical: bool
    export_path: str
    measured_at: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@contextmanager
def _timed(figures: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    figures[step] = round(time.perf_counter() - start, 3)


def run_drill(
    workdir: Path,
    *,
    source: Target | None = None,
    seed_documents: int | None = None,
    project: str = "demo-pog-drill",
    database: str = "(default)",
) -> tuple[DrillFigures, VerifyReport]:
    """``source``: a database on a running emulator; or ``seed_documents``: seed a fresh one first."""
    if (source is None) == (seed_documents is None):
        raise BackupError("give a source emulator (FIRESTORE_EMULATOR_HOST) or --seed N, not both")
    times: dict[str, float] = {}
    with ExitStack() as stack:
        if source is None:
            host = stack.enter_context(emulator.fresh_emulator(workdir))
            source = Target(project, database, host)
            with _timed(times, "seed"):
                seed(source, seed_documents or 0)
        with _timed(times, "export"):
            exported = export_database(source, str(workdir / "exports"), name=export_name(source))
        with _timed(times, "restore"):
            host = stack.enter_context(emulator.fresh_emulator(workdir))
            copy = Target(source.project, source.database, host)
            restore(copy, exported.location)
        with _timed(times, "verify"):
            report = verify(source, copy)
    total = round(times["export"] + times["restore"] + times["verify"], 3)
    figures = DrillFigures(
        documents=report.source.documents,
        collections=len(report.source.collections),
        seed_s=times.get("seed"),
        export_s=times["export"],
        restore_s=times["restore"],
        verify_s=times["verify"],
        total_s=total,
        rto_target_s=RTO_TARGET_S,
        within_rto=total <= RTO_TARGET_S,
        identical=report.identical,
        export_path=exported.location,
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return figures, report
