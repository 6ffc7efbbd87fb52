"""The shell commands the runbooks name: fenced code blocks parsed into simple commands.

A runbook's code block is read the way a shell would split it, closely enough to find every `pog` and
`gcloud` invocation: line continuations joined, comments dropped, `$(...)` substitutions read as
commands of their own, and `&&`, `||`, `;`, `|` and the `for ... do ... done` keywords separating
commands. Leading `VAR=value` assignments, `export` and the `.venv/bin/` path are skipped.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"

SHELL_LANGUAGES = frozenset({"", "sh", "bash", "shell", "console"})
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^[ \t]*```[ \t]*$", re.M | re.S
)
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_OPERATORS = frozenset({"&&", "||", ";", "|", "&", ";;", "(", ")", "|&"})
_KEYWORDS = frozenset({"do", "then", "else", "elif", "done", "fi", "time", "!", "{", "}"})
#: Words a command path is made of; anything else (a variable, a quoted filter, a URL) is an argument.
PATH_WORD = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Command:
    """One simple command of a runbook: the program (`pog`, `gcloud`, ...) and its arguments."""

    source: str  # "runbooks/alerts/x.md:12"
    program: str
    args: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join((self.program, *self.args))

    def words(self) -> list[str]:
        """The leading arguments that look like (sub)command names, before the first flag or value."""
        words: list[str] = []
        for arg in self.args:
            if not PATH_WORD.match(arg):
                break
            words.append(arg)
        return words

    def flags(self) -> list[str]:
        """Long flags without their values: `--format=json` -> `--format`."""
        return [arg.split("=", 1)[0] for arg in self.args if arg.startswith("--") and len(arg) > 2]


def runbook_files() -> list[Path]:
    return sorted(RUNBOOKS.rglob("*.md"))


def code_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line number of the fence, language, dedented body) of every fenced block."""
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        blocks.append((line, match["lang"], textwrap.dedent(match["body"])))
    return blocks


def _logical_lines(body: str) -> list[tuple[int, str]]:
    """Join `\\` continuations; (offset of the first physical line, joined text)."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for offset, raw in enumerate(body.splitlines()):
        if not pending:
            start = offset
        if raw.rstrip().endswith("\\"):
            pending.append(raw.rstrip()[:-1])
            continue
        pending.append(raw)
        lines.append((start, " ".join(pending)))
        pending = []
    if pending:
        lines.append((start, " ".join(pending)))
    return lines


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def _simple_commands(tokens: list[str]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in _OPERATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _strip_prefix(words: list[str]) -> list[str]:
    """Drop what comes before the program: keywords, assignments, `export`, a `for x in ...` head."""
    while words:
        head = words[0]
        if head == "for" or head == "while" or head == "if" or head == "until":
            return []  # the loop head itself runs nothing we check; its body follows `do`
        if head in _KEYWORDS or _ASSIGNMENT.match(head):
            words = words[1:]
            continue
        if head == "export":
            return []  # `export X=...`: only a `$(...)` inside runs, and that is parsed separately
        break
    return words


def parse_line(line: str) -> list[list[str]]:
    """Every simple command of one logical shell line, substitutions included (innermost first)."""
    inner: list[str] = []
    while True:
        found = _SUBSTITUTION.search(line)
        if found is None:
            break
        inner.append(found[1])
        line = line[: found.start()] + "SUBSTITUTED" + line[found.end() :]
    commands: list[list[str]] = []
    for text in [*inner, line]:
        for words in _simple_commands(_tokens(text)):
            stripped = _strip_prefix(words)
            if stripped:
                commands.append(stripped)
    return commands


def program_name(word: str) -> str:
    """`.venv/bin/pog` -> `pog`; `/usr/bin/gcloud` -> `gcloud`."""
    return word.rsplit("/", 1)[-1]


def commands_in(path: Path, root: Path = ROOT) -> list[Command]:
    text = path.read_text()
    relative = path.relative_to(root)
    found: list[Command] = []
    for fence_line, language, body in code_blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        for offset, line in _logical_lines(body):
            try:
                parsed = parse_line(line)
            except ValueError as exc:  # unbalanced quotes: report it as a command nobody can run
                found.append(
                    Command(f"{relative}:{fence_line + 1 + offset}", "<unparsable>", (line, str(exc)))
                )
                continue
            for words in parsed:
                source = f"{relative}:{fence_line + 1 + offset}"
                found.append(Command(source, program_name(words[0]), tuple(words[1:])))
    return found


def all_commands(program: str | None = None) -> list[Command]:
    commands = [c for path in runbook_files() for c in commands_in(path)]
    return [c for c in commands if program is None or c.program == program]
