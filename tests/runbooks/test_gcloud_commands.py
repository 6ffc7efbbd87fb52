"""Every `gcloud ...` command the runbooks name exists in the installed Google Cloud CLI, with its flags.

Each distinct command path (the leading words, before the first flag or value) is asked once,
`gcloud <path> --help`, in parallel. The help page names the canonical command (a trailing positional
word such as `latest` is accepted by the command and ignored by `--help`), says whether it is a group,
and lists every flag the command takes, the gcloud-wide ones included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runbooks.commands import Command, all_commands
from tests.runbooks.gcloud import INSTALL_HINT, HelpPage, ask_all, find_gcloud

COMMANDS = all_commands("gcloud")
PATHS = sorted({tuple(c.words()) for c in COMMANDS})
PRERELEASE = ("alpha", "beta")


def problems(commands: list[Command], pages: dict[tuple[str, ...], HelpPage]) -> list[str]:
    """Every missing command, command group used as a command, missing flag and needless alpha/beta."""
    paths = sorted({tuple(c.words()) for c in commands})

    def where(path: tuple[str, ...]) -> str:
        return ", ".join(sorted({c.source for c in commands if tuple(c.words()) == path}))

    found: list[str] = []
    for prerelease in PRERELEASE:
        if any(p[:1] == (prerelease,) for p in paths) and not pages[(prerelease,)].ok:
            found.append(f"`gcloud {prerelease}` is not installed: `gcloud components install {prerelease}`")
    for path in paths:
        page, name = pages[path], " ".join(("gcloud", *path))
        if not page.ok:
            found.append(f"`{name}` (in {where(path)}) does not exist: {page.text.strip()[:300]}")
            continue
        if page.is_group:
            found.append(f"`{name}` (in {where(path)}) is a command group: name the command")
        if path[:1] in {("alpha",), ("beta",)} and pages[path[1:]].ok:
            found.append(f"`{name}` (in {where(path)}) is GA now: drop {path[0]}")
    flags: dict[tuple[tuple[str, ...], str], set[str]] = {}
    for command in commands:
        for flag in command.flags():
            flags.setdefault((tuple(command.words()), flag), set()).add(command.source)
    for (path, flag), sources in sorted(flags.items()):
        page = pages[path]
        if page.ok and not page.is_group and not page.has_flag(flag):
            found.append(f"`{page.command}` has no flag {flag} (in {', '.join(sorted(sources))})")
    return found


def pages_needed(commands: list[Command]) -> set[tuple[str, ...]]:
    """Each command path, and for each alpha/beta one its GA spelling and the alpha/beta group."""
    paths = {tuple(c.words()) for c in commands}
    prerelease = {path for path in paths if path[:1] in {("alpha",), ("beta",)}}
    return {*paths, *(p[1:] for p in prerelease), *(p[:1] for p in prerelease)}


def test_runbooks_name_gcloud_commands() -> None:
    assert len(PATHS) >= 20, "the runbooks should give exact gcloud commands"


def test_gcloud_commands_and_flags_exist(tmp_path: Path) -> None:
    """One test, so that parallel workers do not each start gcloud once per command path."""
    gcloud = find_gcloud()
    if gcloud is None:
        pytest.fail(INSTALL_HINT)
    pages = ask_all(gcloud, pages_needed(COMMANDS), tmp_path)
    # The reading of real help pages, on a command the runbooks use.
    export = pages[("firestore", "export")]
    assert export.command == "gcloud firestore export"
    for flag in ("--snapshot-time", "--collection-ids", "--project"):
        assert export.has_flag(flag), flag
    for flag in ("--snapshot", "--point-in-time"):
        assert not export.has_flag(flag), flag
    found = problems(COMMANDS, pages)
    assert not found, f"{len(found)} gcloud command(s) in the runbooks would fail:\n" + "\n".join(found)


def test_help_page_reading() -> None:
    text = (
        "NAME\n    gcloud secrets versions access - access a secret version's data\n\nSYNOPSIS\n"
        "    gcloud secrets versions access VERSION [--secret=SECRET] [--[no-]out-file]\n"
        "GCLOUD WIDE FLAGS\n    These flags are available to all commands: --project, --format.\n"
    )
    page = HelpPage(("secrets", "versions", "access", "latest"), 0, text)
    assert page.ok
    assert page.command == "gcloud secrets versions access"
    assert not page.is_group
    for flag in ("--secret", "--project", "--no-out-file", "--out-file"):
        assert page.has_flag(flag), flag
    for flag in ("--secrets", "--sec", "--no-secret"):
        assert not page.has_flag(flag), flag
    assert not HelpPage(("x",), 2, "ERROR: (gcloud) Invalid choice: 'x'.").ok


def _page(words: tuple[str, ...], ok: bool = True, body: str = "") -> HelpPage:
    name = " ".join(("gcloud", *words))
    return HelpPage(words, 0 if ok else 2, f"NAME\n    {name} - x\n{body}" if ok else "ERROR: invalid choice")


def test_problems_are_reported() -> None:
    commands = [
        Command("a.md:1", "gcloud", ("run", "services", "describe", "--region=x", "--regoin", "y")),
        Command("a.md:2", "gcloud", ("run", "servces", "list")),
        Command("a.md:3", "gcloud", ("firestore", "--project", "p")),
        Command("a.md:4", "gcloud", ("alpha", "run", "services", "describe")),
    ]
    pages = {
        ("run", "services", "describe"): _page(("run", "services", "describe"), body="--region --project"),
        ("run", "servces", "list"): _page((), ok=False),
        ("firestore",): _page(("firestore",), body="\nCOMMAND is one of the following:\n"),
        ("alpha", "run", "services", "describe"): _page(("alpha", "run", "services", "describe")),
        ("servces", "list"): _page((), ok=False),
        ("alpha",): _page(("alpha",)),
    }
    assert pages_needed(commands) <= set(pages)
    assert problems(commands, pages) == [
        "`gcloud alpha run services describe` (in a.md:4) is GA now: drop alpha",
        "`gcloud firestore` (in a.md:3) is a command group: name the command",
        "`gcloud run servces list` (in a.md:2) does not exist: ERROR: invalid choice",
        "`gcloud run services describe` has no flag --regoin (in a.md:1)",
    ]
