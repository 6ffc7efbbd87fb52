"""Terminal output shared by the commands of `pog` (infra's and backups'): one ``error:`` line, spinners.

A package of its own, importing nothing of ours, so infra and backups share it without importing each
other (the import contracts in pyproject.toml).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """A user mistake: one red line on stderr, no traceback, exit 1 (``raise fail(...)``)."""
    # soft_wrap: one line whatever the terminal width (rich wraps at 80 columns when not a terminal).
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def shows_progress(quiet: bool = False) -> bool:
    """A spinner helps a person at a terminal; in CI, in a pipe or beside machine output it is noise."""
    return not quiet and err.is_terminal and not err.is_dumb_terminal and not os.environ.get("CI")


@contextmanager
def working(message: str, *, quiet: bool = False) -> Iterator[None]:
    """A spinner on stderr while slow work (a plan, an export) runs, when ``shows_progress`` says so."""
    if not shows_progress(quiet):
        yield
        return
    with err.status(f"{message}…"):
        yield
