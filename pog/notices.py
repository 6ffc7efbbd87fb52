"""Library notices an operator cannot act on, kept out of the one line a command prints."""

from __future__ import annotations

import warnings


def quiet_google_notices() -> None:
    """google.api_core warns on import that this Python leaves Google's support window (3.11 in 2027).

    It is the maintainers' reminder to upgrade the image, not the operator's: without the filter every
    ops command prints it before its output. app/ops/__main__.py filters the same for the app image.
    """
    warnings.filterwarnings(
        "ignore", message="You are using a (non-supported )?Python version", category=FutureWarning
    )
