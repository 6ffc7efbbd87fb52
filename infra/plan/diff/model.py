"""What a diff found: per resource an action and its property changes, plus the stack outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from infra.plan.diff.values import format_value, is_unset
from infra.plan.engine import SECRET_MARK


class Action(StrEnum):
    ADD = "add"
    CHANGE = "change"
    REPLACE = "replace"
    DESTROY = "destroy"


@dataclass(frozen=True)
class PropertyChange:
    """One differing value; ``path`` is ``(parent)``/``(provider)``/``(protect)`` for resource options."""

    path: str
    old: Any
    new: Any
    secret: bool = False
    replace_reason: str | None = None

    @property
    def old_text(self) -> str:
        return SECRET_MARK if self.secret else format_value(self.old)

    @property
    def new_text(self) -> str:
        return SECRET_MARK if self.secret else format_value(self.new)

    @property
    def symbol(self) -> str:
        return "+" if is_unset(self.old) else "-" if is_unset(self.new) else "~"

    @property
    def kind(self) -> str:
        """``added``, ``removed`` or ``changed``: what happened to the value at ``path``."""
        return {"+": "added", "-": "removed", "~": "changed"}[self.symbol]

    @property
    def note(self) -> str:
        notes = []
        both_set = not (is_unset(self.old) or is_unset(self.new))
        if self.secret and both_set and (self.old == SECRET_MARK) != (self.new == SECRET_MARK):
            notes.append("no longer secret" if self.old == SECRET_MARK else "now secret")
        if self.replace_reason:
            notes.append(f"forces replacement: {self.replace_reason}")
        return "; ".join(notes)


@dataclass(frozen=True)
class ResourceDiff:
    type: str
    name: str
    action: Action
    changes: tuple[PropertyChange, ...] = ()
    protected: bool = False
    data_loss: str | None = None  # why destroying/replacing this loses data, when it does

    @property
    def key(self) -> str:
        return f"{self.type}::{self.name}"


class Appendix(Protocol):
    """A section a higher layer adds to the report of a diff (infra.cost's monthly cost).

    infra.plan may not import those layers, so the renderers only know this shape: rich markup lines for
    the terminal, Markdown lines for a pull request, and a JSON value under ``key``.
    """

    @property
    def key(self) -> str: ...

    def text_lines(self) -> list[str]: ...

    def markdown_lines(self) -> list[str]: ...

    def to_dict(self) -> dict[str, Any]: ...


#: Builds an appendix from the two inventories a diff compared (after ``align_stacks``).
AppendixBuilder = Callable[[dict[str, Any], dict[str, Any]], Appendix]


@dataclass(frozen=True)
class Diff:
    a: str
    b: str
    resources: tuple[ResourceDiff, ...]
    outputs: tuple[PropertyChange, ...] = ()
    a_detail: str = ""
    b_detail: str = ""
    appendices: tuple[Appendix, ...] = ()

    @property
    def counts(self) -> dict[Action, int]:
        counts = dict.fromkeys(Action, 0)
        for resource in self.resources:
            counts[resource.action] += 1
        return counts

    @property
    def has_changes(self) -> bool:
        return bool(self.resources or self.outputs)

    @property
    def data_loss(self) -> list[ResourceDiff]:
        return [r for r in self.resources if r.data_loss]

    def of(self, action: Action) -> list[ResourceDiff]:
        return [r for r in self.resources if r.action is action]

    @property
    def summary(self) -> str:
        c = self.counts
        return (
            f"{c[Action.ADD]} to add, {c[Action.CHANGE]} to change, "
            f"{c[Action.REPLACE]} to replace, {c[Action.DESTROY]} to destroy"
        )
