"""How `pog` ends: every mistake it can name is one ``error:`` line on stderr, never a usage box or a
traceback.

Click shows a usage mistake as a framed usage block; typer's ``standalone_mode=False`` hands the
exception over instead, and it is printed here as one line with the command's ``--help`` to read. A
missing Google credential or an unreachable Redis or Firestore that a command did not handle itself is
named by ``app.ops.cli_errors.explain``. Anything else is a bug: its traceback stays.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from app.ops.cli_errors import explain

err = Console(stderr=True)


def _error_line(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False, soft_wrap=True)


def run(app: typer.Typer) -> int:
    """Run ``app`` on ``sys.argv`` and return its exit code."""
    try:
        result = app(standalone_mode=False)
    except typer.TyperException as exc:  # typer's usage errors (a missing argument, an unknown option)
        # Typer tells this one apart by name too: it has printed the help while raising it.
        if type(exc).__name__ == "NoArgsIsHelpError":
            return exc.exit_code
        context = getattr(exc, "ctx", None)
        hint = f"; see `{context.command_path} --help`" if context is not None else ""
        _error_line(f"{exc.format_message().rstrip('.')}{hint}")
        return exc.exit_code
    except typer.Abort:
        _error_line("aborted")
        return 1
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        _error_line(message)
        return 1
    return result if isinstance(result, int) else 0
