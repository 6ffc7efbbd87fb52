"""Terminal output shared by every `pog` command."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """A user mistake: one red line on stderr, no traceback, exit 1 (``raise fail(...)``)."""
    # soft_wrap: one line whatever the terminal width (rich wraps at 80 columns when not a terminal).
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)
