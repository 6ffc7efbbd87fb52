"""runbooks/: the procedures issue 7 asks for, the index that links every file, links that resolve.

The four sections of every alert runbook are checked by tests/infra/monitoring/test_definitions.py (and by
the loader, which refuses an alert whose runbook lacks them); not repeated here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.runbooks.commands import ROOT, RUNBOOKS, code_blocks, commands_in, runbook_files

pytestmark = pytest.mark.unit

PROCEDURES = RUNBOOKS / "procedures"
#: Issue 7, "runbooks/": the procedures an on-call engineer must find in the index.
REQUIRED_PROCEDURES = (
    "region-failover",
    "restore-pitr",
    "restore-from-export",
    "redis-loss",
    "payment-outage",
    "key-rotation",
    "phase-promotion",
    "incident-communication",
)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
# A repository path written in a code span: a relative path to a file with one of these extensions.
_PATH = re.compile(r"^[\w.-]+(/[\w.-]+)*\.(md|py|yaml|yml|json|toml)$")
_HEADING = re.compile(r"^#{2,3} (.+)$", re.M)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("name", REQUIRED_PROCEDURES)
def test_required_procedure_exists_with_commands(name: str) -> None:
    path = PROCEDURES / f"{name}.md"
    assert path.is_file(), f"issue 7 asks for the procedure runbooks/procedures/{name}.md"
    commands = commands_in(path)
    assert commands, f"{_relative(path)} names no command in a ```sh block"


@pytest.mark.parametrize("path", sorted(PROCEDURES.glob("*.md")), ids=lambda p: p.stem)
def test_procedure_has_when_commands_verification_and_rollback(path: Path) -> None:
    text = path.read_text()
    intro = text.split("\n## ", 1)[0]
    assert re.search(r"^When: ", intro, re.M), (
        f"{_relative(path)}: start with `When: ...` (before the first section)"
    )
    assert any(lang in {"sh", "bash"} for _, lang, _ in code_blocks(text)), (
        f"{_relative(path)}: no ```sh block"
    )
    headings = [h.lower() for h in _HEADING.findall(text)]
    assert any("verif" in h for h in headings), (
        f"{_relative(path)}: needs a section on how to verify it worked"
    )
    assert any(re.search(r"roll(ing)? ?back|failback", h) for h in headings), (
        f"{_relative(path)}: needs a section on rolling back"
    )


def test_index_links_every_runbook_and_procedure() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    linked = {target.split("#", 1)[0] for target in _LINK.findall(index)}
    runbooks = [path for path in runbook_files() if path.name != "README.md"]
    assert len(runbooks) >= 20
    for path in runbooks:
        assert str(path.relative_to(RUNBOOKS)) in linked, (
            f"runbooks/README.md does not link {_relative(path)}"
        )


def _unresolved_links(path: Path) -> list[str]:
    text = path.read_text()
    problems = []
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor of this page
        if not (path.parent / target.split("#", 1)[0]).exists():
            problems.append(f"link ({target})")
    # File names in code spans: relative to the runbook, to runbooks/alerts and procedures (runbooks
    # name each other by file name), or to the repository root.
    for span in _CODE_SPAN.findall(text):
        if not _PATH.match(span):
            continue
        bases = (path.parent, RUNBOOKS / "alerts", RUNBOOKS / "procedures", ROOT)
        if not any((base / span).exists() for base in bases):
            problems.append(f"`{span}`")
    return problems


@pytest.mark.parametrize("path", runbook_files(), ids=lambda p: _relative(p))
def test_every_link_and_file_name_resolves(path: Path) -> None:
    assert _unresolved_links(path) == [], f"{_relative(path)} names files that do not exist"


def test_link_check_reports_a_missing_file(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("See [x](missing.md), [ok](page.md), `infra/nowhere.py`, [web](https://example.com).\n")
    assert _unresolved_links(page) == ["link (missing.md)", "`infra/nowhere.py`"]


_REGION = re.compile(r"^[a-z]+-[a-z]+\d$")
# Region lists a runbook loops over or exports: `for r in a b c; do`, `REGIONS="a b c"`, `FAILED=a`.
_REGION_LISTS = re.compile(r"\bfor \w+ in ([a-z0-9 -]+); do|\b(?:REGIONS|FAILED)=\"?([a-z0-9 -]+)")


def api_regions() -> set[str]:
    regions: set[str] = set()
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        config = yaml.safe_load(stack_file.read_text())["config"]
        regions.add(config["pot-of-gold:region"])
        regions.update(config.get("pot-of-gold:failoverRegions", []))
    return regions


@pytest.mark.parametrize("path", runbook_files(), ids=lambda p: _relative(p))
def test_region_lists_name_the_api_regions(path: Path) -> None:
    known = api_regions()
    assert known == {"us-central1", "us-east4", "europe-west4"}
    for _, _, body in code_blocks(path.read_text()):
        for match in _REGION_LISTS.finditer(body):
            named = {w for w in " ".join(g for g in match.groups() if g).split() if _REGION.match(w)}
            assert named <= known, (
                f"{_relative(path)}: {sorted(named - known)} are not API regions ({sorted(known)})"
            )


def test_a_restored_games_database_gets_the_indexes_and_ttl_the_stacks_declare() -> None:
    """restore-from-export.md creates by hand, on a database restored under a new id, what
    infra/stacks/data.py declares on every games database: the same composite indexes and the TTL."""
    from infra.stacks.data import COMPOSITE_INDEXES, GAME_TTL_FIELD, GAMES_COLLECTION

    text = (RUNBOOKS / "procedures" / "restore-from-export.md").read_text(encoding="utf-8")
    created = {
        tuple(
            (field, order.upper())
            for field, order in re.findall(r"--field-config=field-path=([\w.]+),order=(\w+)", line)
        )
        for line in text.splitlines()
        if "indexes composite create" in line and f"--collection-group={GAMES_COLLECTION}" in line
    }
    assert created == {i.fields for i in COMPOSITE_INDEXES if i.collection == GAMES_COLLECTION}
    assert re.search(
        rf"fields ttls update {GAME_TTL_FIELD} .*--collection-group={GAMES_COLLECTION} --enable-ttl", text
    )
