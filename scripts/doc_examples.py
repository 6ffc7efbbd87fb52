"""Keep the example outputs in the docs equal to what the commands print.

A block in README.md or docs/*.md written as

    <!-- example: pog diff prod@1 prod@2 -->
    ```text
    ...output...
    ```
    <!-- /example -->

holds the output (stdout) of that command, run with the venv's ``pog`` as a script would (no
terminal, ``NO_COLOR=1``, ``COLUMNS=100``). By default the blocks that differ are listed (exit 1);
``--write`` refreshes them. Only ``pog`` commands run: a doc cannot make this script run anything else.

usage: scripts/doc_examples.py [--write] [MARKDOWN ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
POG = Path(sys.executable).parent / "pog"
ENVIRONMENT = {"NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"}
# Exit codes an example may end with: pog diff answers 2 when there are changes (like terraform plan).
EXPECTED_EXIT_CODES = (0, 2)
TIMEOUT_SECONDS = 900

_START = re.compile(r"^<!-- example: (?P<command>.*?) -->[ \t]*$", re.MULTILINE)
_BLOCK = re.compile(
    r"<!-- example: (?P<command>.*?) -->[ \t]*\n"
    r"(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)\n"
    r"(?P<body>.*?)"
    r"^(?P=fence)[ \t]*\n"
    r"<!-- /example -->",
    re.MULTILINE | re.DOTALL,
)

Runner = Callable[[str], str]


class ExampleError(Exception):
    """A malformed block or a command that cannot run: one line naming the file and the fix."""


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    command: str
    info: str
    body: str
    start: int  # span of the whole block in the file's text
    end: int

    @property
    def where(self) -> str:
        return f"{_relative(self.path)}:{self.line}"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def find_examples(path: Path, text: str) -> list[Example]:
    """Every example block of one markdown file, in order; a start marker without its block is an error."""
    examples = [
        Example(
            path=path,
            line=text.count("\n", 0, match.start()) + 1,
            command=match["command"].strip(),
            info=match["info"],
            body=match["body"],
            start=match.start(),
            end=match.end(),
        )
        for match in _BLOCK.finditer(text)
    ]
    starts = [text.count("\n", 0, m.start()) + 1 for m in _START.finditer(text)]
    malformed = sorted(set(starts) - {example.line for example in examples})
    if malformed:
        raise ExampleError(
            f"{_relative(path)}:{malformed[0]}: an example marker must be followed by a fenced block"
            " (```text) and then <!-- /example -->"
        )
    return examples


def _argv(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ExampleError(f"cannot read the command {command!r}: {exc}") from None
    if not words or words[0] != "pog":
        raise ExampleError(f"only pog commands run in examples; got {command!r}")
    return [str(POG), *words[1:]]


def normalize(output: str) -> str:
    """What the docs show: no trailing spaces, no checkout paths."""
    output = output.replace(str(REPO_ROOT) + os.sep, "").replace(str(REPO_ROOT), ".")
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def run_command(command: str) -> str:
    """The command's report as a script sees it (no terminal).

    Only stdout: progress and status lines go to stderr, and may hold timings that vary per run.
    """
    try:
        result = subprocess.run(
            _argv(command),
            cwd=REPO_ROOT,
            env={**os.environ, **ENVIRONMENT},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ExampleError(f"`{command}` took over {TIMEOUT_SECONDS} s") from None
    if result.returncode not in EXPECTED_EXIT_CODES:
        last = (result.stderr + result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ExampleError(f"`{command}` exited with {result.returncode}: {last[0]}")
    return normalize(result.stdout)


def _fence(output: str) -> str:
    """A backtick fence longer than any backtick run in the output, so the block stays closed."""
    longest = max((len(run) for run in re.findall(r"`+", output)), default=0)
    return "`" * max(3, longest + 1)


def render_block(example: Example, output: str) -> str:
    fence = _fence(output)
    return (
        f"<!-- example: {example.command} -->\n{fence}{example.info or 'text'}\n{output}{fence}\n"
        "<!-- /example -->"
    )


def refresh(text: str, examples: Iterable[Example], outputs: dict[str, str]) -> str:
    """``text`` with each example's block holding its command's output."""
    out, position = [], 0
    for example in sorted(examples, key=lambda e: e.start):
        out += [text[position : example.start], render_block(example, outputs[example.command])]
        position = example.end
    return "".join([*out, text[position:]])


@dataclass(frozen=True)
class Result:
    examples: list[Example]
    stale: list[Example]


def check(paths: Iterable[Path], *, write: bool = False, run: Runner | None = None) -> Result:
    """Run each example's command once and compare (or, with ``write``, refresh) its block."""
    run = run or run_command
    found: list[Example] = []
    stale: list[Example] = []
    outputs: dict[str, str] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        examples = find_examples(path, text)
        for example in examples:
            if example.command not in outputs:
                outputs[example.command] = run(example.command)
        changed = [e for e in examples if render_block(e, outputs[e.command]) != text[e.start : e.end]]
        found += examples
        stale += changed
        if write and changed:
            path.write_text(refresh(text, examples, outputs), encoding="utf-8")
    return Result(found, stale)


def default_paths(root: Path = REPO_ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="refresh the blocks that differ")
    parser.add_argument("paths", nargs="*", type=Path, help="markdown files (default: README.md, docs/)")
    args = parser.parse_args(argv)
    try:
        result = check(args.paths or default_paths(), write=args.write)
    except (ExampleError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for example in result.stale:
        verb = "refreshed" if args.write else "differs from the command's output"
        print(f"{example.where}: `{example.command}` {verb}")
    if result.stale and not args.write:
        print("run scripts/doc_examples.py --write to refresh them", file=sys.stderr)
        return 1
    print(f"{len(result.examples)} example(s), {len(result.stale)} {'refreshed' if args.write else 'stale'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
