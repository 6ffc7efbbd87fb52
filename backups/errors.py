"""The one exception type `pog backup` turns into a one-line error (exit 1, no traceback)."""

from __future__ import annotations


class BackupError(Exception):
    """A user mistake or a refused operation; the message is the whole explanation."""
