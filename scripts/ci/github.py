"""What a step hands back to GitHub Actions (outputs, the job summary, error annotations), and the one
way the steps run a command, which the tests replace."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class Runner(Protocol):
    def __call__(self, argv: Sequence[str], *, capture: bool = True, merge: bool = False) -> Result: ...


def run(argv: Sequence[str], *, capture: bool = True, merge: bool = False) -> Result:
    """One command as a list of words (never a shell line), no standard input, whatever its exit code.

    ``capture``: keep its output (else it goes to the log as it comes); ``merge``: stderr into stdout.
    """
    if not capture:
        done = subprocess.run(list(argv), stdin=subprocess.DEVNULL, check=False)
        return Result(done.returncode)
    captured = subprocess.run(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
        text=True,
        check=False,
    )
    return Result(captured.returncode, captured.stdout, captured.stderr or "")


class StepError(Exception):
    """A failure the step reports as one ``::error::`` annotation (its message), then exits 1."""


def _append(variable: str, text: str, env: Mapping[str, str]) -> bool:
    path = env.get(variable)
    if not path:
        return False
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(text)
    return True


def set_output(name: str, value: str, env: Mapping[str, str] = os.environ) -> None:
    """A step output (``steps.<id>.outputs.<name>``); printed instead outside GitHub Actions."""
    if "\n" in value:
        raise ValueError(f"output {name}: one line only, got {value!r}")
    if not _append("GITHUB_OUTPUT", f"{name}={value}\n", env):
        print(f"{name}={value}")


def add_summary(markdown: str, env: Mapping[str, str] = os.environ) -> None:
    """Markdown appended to the job summary; nothing outside GitHub Actions."""
    _append("GITHUB_STEP_SUMMARY", markdown, env)


def error(message: str) -> None:
    """An error annotation on the run (a plain line in a terminal)."""
    print(f"::error::{message}", file=sys.stderr, flush=True)
