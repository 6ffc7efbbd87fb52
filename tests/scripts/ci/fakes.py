"""A stand-in for scripts.ci.github.run: records every command and answers from a script of results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scripts.ci.github import Result

Answer = Result | Callable[[list[str]], Result]


@dataclass
class FakeRunner:
    """``answers``: (argv prefix, Result or a function of argv) pairs, the first match wins; anything
    else succeeds with no output. ``calls``: every argv with its capture/merge flags, in order."""

    answers: Sequence[tuple[list[str], Answer]] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    flags: list[tuple[bool, bool]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], *, capture: bool = True, merge: bool = False) -> Result:
        command = list(argv)
        self.calls.append(command)
        self.flags.append((capture, merge))
        for prefix, answer in self.answers:
            if command[: len(prefix)] == prefix:
                return answer(command) if callable(answer) else answer
        return Result(0)

    def called(self, *prefix: str) -> list[list[str]]:
        return [c for c in self.calls if c[: len(prefix)] == list(prefix)]
