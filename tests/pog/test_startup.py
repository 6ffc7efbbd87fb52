"""What `pog` loads before a command runs, and the progress it shows."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console

import terminal as output


@pytest.mark.unit
def test_importing_the_cli_loads_no_google_client() -> None:
    # The Python-version notice filter is set in main(), after the imports: they must not emit it.
    clients = "('google.api_core', 'google.auth', 'google.cloud')"
    code = f"import sys, pog.cli; print(sorted(m for m in sys.modules if m.startswith({clients})))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """``terminal.err`` as a terminal that writes into a buffer."""
    buffer = io.StringIO()
    monkeypatch.setattr(output, "err", Console(file=buffer, force_terminal=True, width=80))
    monkeypatch.delenv("CI", raising=False)
    return buffer


@pytest.mark.unit
def test_a_terminal_shows_a_spinner(terminal: io.StringIO) -> None:
    assert output.shows_progress()
    with output.working("planning dev"):
        pass
    assert "planning dev…" in terminal.getvalue()


@pytest.mark.unit
def test_ci_and_json_output_stay_quiet(terminal: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not output.shows_progress(quiet=True)
    with output.working("planning dev", quiet=True):
        pass
    monkeypatch.setenv("CI", "true")
    assert not output.shows_progress()
    with output.working("planning dev"):
        pass
    assert terminal.getvalue() == ""


@pytest.mark.unit
def test_a_pipe_stays_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "err", Console(file=io.StringIO()))
    monkeypatch.delenv("CI", raising=False)
    assert not output.shows_progress()
