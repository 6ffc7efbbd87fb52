"""Terminal output of the `pog backup` commands."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """One red ``error:`` line on stderr and exit 1 (``raise fail(...)``), never a traceback."""
    # soft_wrap: one line whatever the terminal width (rich wraps at 80 columns when not a terminal).
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def shows_progress() -> bool:
    """A spinner helps a person at a terminal; in CI or in a pipe it is noise."""
    return err.is_terminal and not err.is_dumb_terminal and not os.environ.get("CI")


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner on stderr while slow work (an export, a drill) runs, when ``shows_progress``."""
    if not shows_progress():
        yield
        return
    with err.status(f"{message}…"):
        yield
