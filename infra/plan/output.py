"""Terminal output shared by the infra commands of `pog`."""

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
    """A spinner on stderr while slow work (a plan, a check) runs; nothing when ``shows_progress`` says no."""
    if not shows_progress(quiet):
        yield
        return
    with err.status(f"{message}…"):
        yield
