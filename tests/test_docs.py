"""The docs a newcomer reads point at things that exist.

Every relative link of every Markdown file of the repository resolves (to a file, and to a heading when
it names one), every repository path written in a code span exists, and docs/game-api.md names every
route of the app's OpenAPI document and no route the app does not serve.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.routing import Match

if TYPE_CHECKING:
    from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
#: Not ours, generated, or fake repositories the tests build on (tests/**/fixtures).
SKIPPED_DIRS = frozenset(
    {".git", ".venv", "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache", "fixtures"}
)
#: A code span naming one of these (`app/main.py`, `infra/stacks/`) is a path of ours.
OUR_DIRS = (
    "app",
    "infra",
    "backups",
    "pog",
    "contract",
    "docs",
    "runbooks",
    "monitoring",
    "bench",
    "tests",
    "scripts",
    ".github",
    ".ci",
)
OUR_ROOT_FILES = re.compile(
    r"^(README\.md|Makefile|Dockerfile|pyproject\.toml|Pulumi(\.\w+)?\.yaml|requirements[\w.-]*\.(lock|in)"
    r"|\.pre-commit-config\.yaml)$"
)

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
_PLACEHOLDER = re.compile(r"[<>{}$…\s]|\.\.\.")
_ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/[^\s?]*)")


def markdown_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.md")
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts[:-1])
    )


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def prose(text: str) -> str:
    """The text outside fenced code blocks (commands, outputs, Mermaid)."""
    return _FENCE.sub("", text)


def code_spans(text: str) -> list[str]:
    return [match.group(2).strip() for match in _CODE_SPAN.finditer(prose(text))]


def links(text: str) -> list[str]:
    return _LINK.findall(_CODE_SPAN.sub("", prose(text)))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    text = path.read_text()
    seen: dict[str, int] = {}
    found = set(_HTML_ANCHOR.findall(text))
    for heading in _HEADING.findall(prose(text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def is_our_path(span: str) -> bool:
    if _PLACEHOLDER.search(span) or "://" in span:
        return False
    if OUR_ROOT_FILES.match(span):
        return True
    first = span.split("/", 1)[0]
    return "/" in span and first in OUR_DIRS


def path_exists(span: str) -> bool:
    """`infra/stacks/`, `tests/x.py::test_y`, `infra/plan/cli.py:main`, `monitoring/dashboards/*.json`,
    `docs/architecture.md#the-http-contract` (the heading too)."""
    span, _, anchor = span.partition("#")
    path = re.sub(r"(::\S+|:[\w.-]+)$", "", span).rstrip("/")
    if any(char in path for char in "*?["):
        return any(ROOT.glob(path))
    if anchor and path.endswith(".md"):
        return (ROOT / path).is_file() and anchor in anchors(ROOT / path)
    return (ROOT / path).exists()


def broken_links(path: Path) -> Iterator[str]:
    for target in links(path.read_text()):
        if re.match(r"^[a-zA-Z][\w+.-]*:", target):
            continue  # https:, mailto:
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            yield f"link ({target}): no such file"
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            yield f"link ({target}): no heading #{anchor} in {_rel(linked)}"


def missing_paths(path: Path) -> Iterator[str]:
    for span in code_spans(path.read_text()):
        if is_our_path(span) and not path_exists(span):
            yield f"`{span}`"


def relative_links() -> list[tuple[Path, str]]:
    return [
        (path, target)
        for path in markdown_files()
        for target in links(path.read_text())
        if not re.match(r"^[a-zA-Z][\w+.-]*:", target)
    ]


def test_the_checks_find_what_they_check() -> None:
    files = {_rel(path) for path in markdown_files()}
    assert {"README.md", "docs/architecture.md", "docs/game-api.md", "runbooks/README.md"} <= files
    assert not any(name.startswith((".venv/", "node_modules/")) for name in files)
    assert len(relative_links()) >= 50, "the link check found almost no relative links"
    named = [span for path in markdown_files() for span in code_spans(path.read_text()) if is_our_path(span)]
    assert len(named) >= 100, "the path check found almost no repository paths in code spans"
    readme_links = {target for path, target in relative_links() if path == ROOT / "README.md"}
    assert any(target.startswith("docs/") for target in readme_links), "the README links no guide"


@pytest.mark.parametrize("path", markdown_files(), ids=_rel)
def test_every_relative_link_resolves(path: Path) -> None:
    assert list(broken_links(path)) == [], f"{_rel(path)} links what does not exist"


@pytest.mark.parametrize("path", markdown_files(), ids=_rel)
def test_every_repository_path_in_code_exists(path: Path) -> None:
    assert list(missing_paths(path)) == [], f"{_rel(path)} names paths that do not exist"


def test_the_checks_report_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n")
    page = tmp_path / "page.md"
    page.write_text(
        "\n".join(
            [
                "# Title",
                "## A `code` heading, with punctuation!",
                "[ok](#title) [ok](#a-code-heading-with-punctuation) [bad](#nowhere) [ok](other.md)",
                "[ok](other.md#other-page) [bad](missing.md) [web](https://example.com) [bad](other.md#no)",
                "`app/main.py` `infra/nowhere.py` `monitoring/dashboards/*.json` `runbooks/<id>.md`",
                "`pog plan` `docs/architecture.md#the-layers` `docs/architecture.md#nowhere`",
                "```sh",
                "[not a link](missing-in-code.md) `infra/in-a-block.py`",
                "```",
            ]
        )
    )
    assert anchors(page) == {"title", "a-code-heading-with-punctuation"}
    assert list(broken_links(page)) == [
        "link (#nowhere): no heading #nowhere in " + str(page),
        "link (missing.md): no such file",
        "link (other.md#no): no heading #no in " + str(tmp_path / "other.md"),
    ]
    assert list(missing_paths(page)) == ["`infra/nowhere.py`", "`docs/architecture.md#nowhere`"]


_CITATION = re.compile(r"\b(docs/[\w/-]+\.md)(?:#([\w-]+))?")
_CITING_FILES = ("*.py", "*.md", "*.yaml", "*.yml", "*.toml", "Makefile", "Dockerfile")


def citing_files() -> list[Path]:
    return sorted(
        path
        for pattern in _CITING_FILES
        for path in ROOT.rglob(pattern)
        if path.is_file()
        and path != Path(__file__).resolve()
        and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts[:-1])
        and path.relative_to(ROOT).parts[0] != "tools"
    )


def test_code_and_config_cite_docs_that_exist() -> None:
    """`docs/architecture.md#the-http-contract` in a comment names a page and a heading of it."""
    cited, broken = 0, []
    for path in citing_files():
        for doc, anchor in _CITATION.findall(path.read_text(errors="replace")):
            cited += 1
            target = ROOT / doc
            if not target.is_file() or (anchor and anchor not in anchors(target)):
                broken.append(f"{_rel(path)}: {doc}{'#' + anchor if anchor else ''}")
    assert cited >= 5, "found almost no citations of docs/ to check"
    assert broken == []


def test_nothing_cites_the_design_file_outside_the_repository() -> None:
    """The original design (DESIGN.md) is not in the repository: cite docs/architecture.md instead."""
    citing = [_rel(path) for path in citing_files() if "DESIGN.md" in path.read_text(errors="replace")]
    assert citing == []


# --- docs/game-api.md against the app ----------------------------------------------------------------


@cache
def _app() -> FastAPI:
    from app.main import create_app

    return create_app()


def _documented_routes() -> frozenset[tuple[str, str]]:
    """(method, path) of every operation of the app's OpenAPI document."""
    paths = _app().openapi()["paths"]
    return frozenset((method.upper(), path) for path, operations in paths.items() for method in operations)


def _served(method: str, path: str) -> bool:
    """Whether the app routes this request (for routes outside the schema: /metrics, /docs)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in _app().router.routes)


def _named_routes() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "game-api.md").read_text()
    return {(match.group(1), match.group(2)) for span in code_spans(text) if (match := _ROUTE.match(span))}


def test_the_game_api_guide_names_every_documented_route() -> None:
    documented = _documented_routes()
    assert len(documented) >= 30
    missing = sorted(documented - _named_routes())
    assert missing == [], "docs/game-api.md does not name these routes of /openapi.json"


def test_every_route_the_game_api_guide_names_exists() -> None:
    named = _named_routes()
    assert len(named) >= 30
    # A path with parameters must be the schema's, parameter names included; a literal one may be a
    # route outside the schema.
    unknown = sorted(
        (method, path)
        for method, path in named - _documented_routes()
        if "{" in path or not _served(method, path)
    )
    assert unknown == [], "docs/game-api.md names routes the app does not serve"
