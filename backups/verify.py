"""Compare a source database with a restored copy: counts and checksums per collection, by full path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.table import Table

from backups.checksum import combine, document_digest
from backups.documents import iter_documents, relative_path
from backups.targets import Target

#: Differing document paths named per kind in the one-line error.
PATHS_SHOWN = 3


@dataclass
class Inventory:
    """Every document of a database: collection path -> {document path: digest}."""

    target: Target
    collections: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        return sum(len(docs) for docs in self.collections.values())


def take_inventory(target: Target, only: Iterable[str] = ()) -> Inventory:
    """``only``: top-level collections to include (with everything under them); empty: all."""
    wanted = set(only)
    inventory = Inventory(target)
    for document in iter_documents(target):
        path = relative_path(target, document.name)
        if wanted and path.split("/", 1)[0] not in wanted:
            continue
        collection = path.rsplit("/", 1)[0]
        inventory.collections.setdefault(collection, {})[path] = document_digest(path, document.fields)
    return inventory


KINDS = (("changed", "changed"), ("missing", "missing from the copy"), ("extra", "only in the copy"))


def _first(items: list[str]) -> str:
    more = f" and {len(items) - PATHS_SHOWN} more" if len(items) > PATHS_SHOWN else ""
    return ", ".join(items[:PATHS_SHOWN]) + more


@dataclass(frozen=True)
class CollectionDiff:
    collection: str
    changed: tuple[str, ...]
    missing: tuple[str, ...]  # in the source, not in the copy
    extra: tuple[str, ...]  # in the copy, not in the source


@dataclass
class VerifyReport:
    source: Inventory
    copy: Inventory
    differences: list[CollectionDiff]

    @property
    def identical(self) -> bool:
        return not self.differences

    def paths(self, kind: str) -> list[str]:
        return sorted(p for d in self.differences for p in getattr(d, kind))

    def summary(self) -> str:
        """One line: the differing collections and a few document paths of each kind of difference."""
        names = [d.collection for d in self.differences]
        parts = [f"{len(names)} collection(s) differ ({_first(names)})"]
        for kind, label in KINDS:
            paths = self.paths(kind)
            if paths:
                parts.append(f"{len(paths)} {label}: {_first(paths)}")
        return "; ".join(parts)


def compare(source: Inventory, copy: Inventory) -> VerifyReport:
    differences = []
    for collection in sorted(source.collections.keys() | copy.collections.keys()):
        a = source.collections.get(collection, {})
        b = copy.collections.get(collection, {})
        changed = tuple(sorted(p for p in a.keys() & b.keys() if a[p] != b[p]))
        missing = tuple(sorted(a.keys() - b.keys()))
        extra = tuple(sorted(b.keys() - a.keys()))
        if changed or missing or extra:
            differences.append(CollectionDiff(collection, changed, missing, extra))
    return VerifyReport(source, copy, differences)


def verify(source: Target, copy: Target, only: Iterable[str] = ()) -> VerifyReport:
    only = tuple(only)
    return compare(take_inventory(source, only), take_inventory(copy, only))


def collection_group(collection: str) -> str:
    """``users/u1/games`` -> ``users/*/games``: the table rolls subcollections up by their shape."""
    parts = collection.split("/")
    return "/".join("*" if i % 2 else part for i, part in enumerate(parts))


def _rollup(inventory: Inventory) -> dict[str, tuple[int, int, str]]:
    """Collection shape -> (collections, documents, checksum)."""
    grouped: dict[str, dict[str, str]] = {}
    counts: dict[str, int] = {}
    for collection, docs in inventory.collections.items():
        group = collection_group(collection)
        grouped.setdefault(group, {}).update(docs)
        counts[group] = counts.get(group, 0) + 1
    return {g: (counts[g], len(docs), combine(docs)) for g, docs in grouped.items()}


def render(report: VerifyReport) -> Table:
    """Per collection, subcollections rolled up by shape: documents and checksums on both sides."""
    source, copy = _rollup(report.source), _rollup(report.copy)
    differing = {collection_group(d.collection) for d in report.differences}
    table = Table(title="Source vs restored copy (checksums: SHA-256, first 8 hex digits)")
    table.add_column("collection", no_wrap=True)
    table.add_column("docs", justify="right")
    table.add_column("copy", justify="right")
    table.add_column("checksum")
    table.add_column("copy sum")
    table.add_column("status")
    for group in sorted(source.keys() | copy.keys()):
        _, s_docs, s_sum = source.get(group, (0, 0, "-"))
        _, c_docs, c_sum = copy.get(group, (0, 0, "-"))
        status = "[red]DIFFERS[/]" if group in differing else "[green]ok[/]"
        table.add_row(group, str(s_docs), str(c_docs), s_sum[:8], c_sum[:8], status)
    total = "[green]ok[/]" if report.identical else f"[red]{len(report.differences)} differ[/]"
    table.add_row("[bold]total[/]", str(report.source.documents), str(report.copy.documents), "", "", total)
    return table
