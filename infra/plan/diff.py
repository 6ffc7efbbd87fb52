"""Compare two inventories (``pog plan --json``) the way ``pulumi preview`` would report the change.

Resources are matched by key (type and logical name). A matched resource whose inputs or options
differ is an update, or a replacement when a property in ``replacements.py`` changed (or its parent,
which changes the URN). Destroying or replacing a protected or data-holding resource is a data loss
risk. Values the engine received as secrets are ``[secret]`` in the inventory: two of them compare
equal, and a secret is never printed, not even when only one side is secret.

Rendering is deterministic: everything is sorted by key, so the same inputs give the same output.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from io import StringIO
from typing import Any

from rich.console import Console
from rich.markup import escape

from infra.config import NAME_PREFIX
from infra.plan.engine import SECRET_MARK
from infra.plan.replacements import DATA_HOLDING, ReplacementRule, rules_for

MAX_VALUE_CHARS = 80
NEUTRAL_PREFIX = f"{NAME_PREFIX}-{{env}}"
FOLD_ROWS = 10  # markdown: longer lists of added or destroyed resources go in a <details> block


class _Unset:
    """A property absent on one side (distinct from every JSON value)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
_ANY_INDEX = -1  # a "[]" segment in a replacement path
_RULE_TOKEN = re.compile(r"\[\]|[^.\[\]]+")

Segment = str | int


class Action(StrEnum):
    ADD = "add"
    CHANGE = "change"
    REPLACE = "replace"
    DESTROY = "destroy"


_SYMBOL = {Action.ADD: "+", Action.CHANGE: "~", Action.REPLACE: "-/+", Action.DESTROY: "-"}
_STYLE = {Action.ADD: "green", Action.CHANGE: "yellow", Action.REPLACE: "magenta", Action.DESTROY: "red"}
_TITLE = {
    Action.ADD: "To add",
    Action.CHANGE: "To change",
    Action.REPLACE: "To replace",
    Action.DESTROY: "To destroy",
}
_SECTION_ORDER = (Action.ADD, Action.REPLACE, Action.CHANGE, Action.DESTROY)


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
        return "+" if _is_unset(self.old) else "-" if _is_unset(self.new) else "~"

    @property
    def note(self) -> str:
        notes = []
        both_set = not (_is_unset(self.old) or _is_unset(self.new))
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


@dataclass(frozen=True)
class Diff:
    a: str
    b: str
    resources: tuple[ResourceDiff, ...]
    outputs: tuple[PropertyChange, ...] = ()
    a_detail: str = ""
    b_detail: str = ""

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


# --- comparing values --------------------------------------------------------------------------------


def _is_unset(value: Any) -> bool:
    # Pulumi drops null inputs: absent and null are the same declaration.
    return value is _UNSET or value is None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _scalar_equal(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool) and old == new
    return bool(old == new)


def _walk(old: Any, new: Any, path: tuple[Segment, ...]) -> Iterator[tuple[tuple[Segment, ...], Any, Any]]:
    """Leaf differences between two JSON values: (path, old, new), in a stable order."""
    if _is_unset(old) and _is_unset(new):
        return
    if old == SECRET_MARK or new == SECRET_MARK:
        if old != new:
            yield path, old, new
        return
    if _is_unset(old) or _is_unset(new) or _kind(old) != _kind(new):
        yield path, old, new
    elif isinstance(old, dict):
        for key in sorted(set(old) | set(new)):
            yield from _walk(old.get(key, _UNSET), new.get(key, _UNSET), (*path, key))
    elif isinstance(old, list):
        for index in range(max(len(old), len(new))):
            yield from _walk(
                old[index] if index < len(old) else _UNSET,
                new[index] if index < len(new) else _UNSET,
                (*path, index),
            )
    elif not _scalar_equal(old, new):
        yield path, old, new


def same(old: Any, new: Any) -> bool:
    return next(_walk(old, new, ()), None) is None


def format_path(path: Sequence[Segment]) -> str:
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += "[]" if segment == _ANY_INDEX else f"[{segment}]"
        elif _IDENTIFIER.match(segment):
            out += f".{segment}" if out else segment
        else:
            out += f"[{json.dumps(segment, ensure_ascii=False)}]"
    return out


def format_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A value on one line, JSON-style, shortened to ``limit`` characters."""
    if _is_unset(value):
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- replacement rules -------------------------------------------------------------------------------


def parse_rule_path(path: str) -> tuple[Segment, ...]:
    """``"a.b[].c"`` -> ``("a", "b", ANY, "c")``."""
    return tuple(_ANY_INDEX if token == "[]" else token for token in _RULE_TOKEN.findall(path))


def _project(value: Any, segments: tuple[Segment, ...]) -> list[Any]:
    """The values a rule path selects: one per list item for each ``[]``."""
    if not segments:
        return [value]
    head, rest = segments[0], segments[1:]
    if head == _ANY_INDEX:
        if isinstance(value, list):
            return [selected for item in value for selected in _project(item, rest)]
        return [value]
    if isinstance(value, dict):
        return _project(value.get(head, _UNSET), rest)
    return [value]


def _overlaps(path: tuple[Segment, ...], rule: tuple[Segment, ...]) -> bool:
    """Whether a changed path is (inside, or contains) what a rule path selects."""
    return all((r == _ANY_INDEX and isinstance(p, int)) or p == r for p, r in zip(path, rule, strict=False))


def triggered_rules(
    type_: str, old: dict[str, Any], new: dict[str, Any], rules: Sequence[ReplacementRule] | None = None
) -> list[tuple[tuple[Segment, ...], ReplacementRule]]:
    """The replacement rules whose selected values differ between two input sets."""
    fired = []
    for rule in rules_for(type_) if rules is None else [r for r in rules if r.applies_to(type_)]:
        segments = parse_rule_path(rule.path)
        before, after = _project(old, segments), _project(new, segments)
        if len(before) != len(after) or not all(same(b, a) for b, a in zip(before, after, strict=True)):
            fired.append((segments, rule))
    return fired


# --- comparing inventories ---------------------------------------------------------------------------

PARENT_REASON = "a new parent changes the URN: Pulumi deletes and re-creates unless an alias is set"


def _index(inventory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_key: dict[str, dict[str, Any]] = {}
    for entry in inventory.get("resources", []):
        key = f"{entry['type']}::{entry['name']}"
        if key in by_key:  # the same type and name under another parent: a distinct URN
            key = f"{key} (parent {entry.get('parent')})"
        by_key[key] = entry
    return by_key


def _under_secret(path: tuple[Segment, ...], secret_paths: set[str]) -> bool:
    """Whether the engine marked this path or one of its ancestors secret (its path format)."""
    engine_path = ""
    for segment in path:
        engine_path = (
            f"{engine_path}[{segment}]"
            if isinstance(segment, int)
            else (f"{engine_path}.{segment}" if engine_path else segment)
        )
        if engine_path in secret_paths:
            return True
    return False


def _data_loss(type_: str, protected: bool) -> str | None:
    reasons = []
    if type_ in DATA_HOLDING:
        reasons.append(f"loses {DATA_HOLDING[type_]}")
    if protected:
        reasons.append("protected (protect=True)")
    return "; ".join(reasons) or None


def _compare(
    old: dict[str, Any], new: dict[str, Any], rules: Sequence[ReplacementRule] | None
) -> tuple[list[PropertyChange], bool]:
    changes: list[PropertyChange] = []
    replace = False
    for option in ("parent", "provider", "protect"):
        before, after = old.get(option), new.get(option)
        if option == "protect":
            before, after = bool(before), bool(after)
        if before != after:
            reason = PARENT_REASON if option == "parent" else None
            replace |= reason is not None
            changes.append(PropertyChange(f"({option})", before, after, replace_reason=reason))
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    fired = triggered_rules(new.get("type", old["type"]), old_inputs, new_inputs, rules)
    replace |= bool(fired)
    secret_paths = {*old.get("secret_paths", ()), *new.get("secret_paths", ())}
    for path, before, after in _walk(old_inputs, new_inputs, ()):
        reason = next((rule.reason for segments, rule in fired if _overlaps(path, segments)), None)
        secret = SECRET_MARK in (before, after) or _under_secret(path, secret_paths)
        changes.append(PropertyChange(format_path(path), before, after, secret=secret, replace_reason=reason))
    return changes, replace


def align_stacks(a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Line up the plans of two different stacks: ``pog-dev-x`` and ``pog-prod-x`` both read ``pog-{env}-x``.

    Without this every resource of one stack is "destroyed" and every one of the other "added";
    with it, the diff shows what really differs between the environments (sizes, protection, paging).
    """
    if a.get("stack") == b.get("stack"):
        return a, b

    def neutral(inventory: dict[str, Any]) -> dict[str, Any]:
        own_prefix = re.compile(rf"\b{NAME_PREFIX}-{re.escape(str(inventory.get('stack')))}\b")
        aligned: dict[str, Any] = json.loads(own_prefix.sub(NEUTRAL_PREFIX, json.dumps(inventory)))
        return aligned

    return neutral(a), neutral(b)


def diff_inventories(
    a: dict[str, Any],
    b: dict[str, Any],
    a_label: str = "A",
    b_label: str = "B",
    *,
    a_detail: str = "",
    b_detail: str = "",
    rules: Sequence[ReplacementRule] | None = None,
    across_stacks: bool = False,
) -> Diff:
    """What changes going from inventory ``a`` to inventory ``b``.

    ``across_stacks``: a and b are different stacks (see align_stacks), so nothing is really replaced
    or destroyed: differences are reported without replacement or data-loss marks.
    """
    if across_stacks:
        rules = ()
    old_by_key, new_by_key = _index(a), _index(b)
    resources: list[ResourceDiff] = []
    for key in sorted(set(old_by_key) | set(new_by_key)):
        old, new = old_by_key.get(key), new_by_key.get(key)
        if old is None:
            assert new is not None
            resources.append(
                ResourceDiff(new["type"], new["name"], Action.ADD, protected=bool(new.get("protect")))
            )
        elif new is None:
            protected = bool(old.get("protect"))
            resources.append(
                ResourceDiff(
                    old["type"],
                    old["name"],
                    Action.DESTROY,
                    protected=protected,
                    data_loss=None if across_stacks else _data_loss(old["type"], protected),
                )
            )
        else:
            changes, replace = _compare(old, new, rules)
            if not changes:
                continue
            protected = bool(old.get("protect")) or bool(new.get("protect"))
            resources.append(
                ResourceDiff(
                    new["type"],
                    new["name"],
                    Action.REPLACE if replace else Action.CHANGE,
                    tuple(changes),
                    protected=protected,
                    data_loss=_data_loss(new["type"], protected) if replace else None,
                )
            )
    outputs = tuple(
        PropertyChange(format_path(path), before, after, secret=SECRET_MARK in (before, after))
        for path, before, after in _walk(a.get("outputs") or {}, b.get("outputs") or {}, ())
    )
    return Diff(a_label, b_label, tuple(resources), outputs, a_detail=a_detail, b_detail=b_detail)


# --- text --------------------------------------------------------------------------------------------


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"


def text_lines(diff: Diff) -> list[str]:
    """The text report as rich markup lines (every value escaped)."""
    lines = [f"[bold]pog diff[/] {escape(diff.a)} → {escape(diff.b)}"]
    for side, detail in (("A", diff.a_detail), ("B", diff.b_detail)):
        if detail:
            lines.append(f"[dim]{side}: {escape(detail)}[/]")
    if not diff.has_changes:
        lines.append("[bold green]No changes.[/] Both sides declare the same resources, inputs and outputs.")
        return lines
    lines.append(f"[bold]{diff.summary}[/]")
    if diff.outputs:
        lines.append(f"{_plural(len(diff.outputs), 'output')} changed")
    if diff.data_loss:
        lines += ["", f"[bold red]DATA LOSS RISK: {_plural(len(diff.data_loss), 'resource')}[/]"]
        for r in diff.data_loss:
            lines.append(
                f"[bold red]  {_SYMBOL[r.action]} {r.action.value} {escape(r.type)} {escape(r.name)}: "
                f"{escape(r.data_loss or '')}[/]"
            )
    for action in _SECTION_ORDER:
        group = diff.of(action)
        if not group:
            continue
        style = _STYLE[action]
        lines += ["", f"[bold {style}]{_TITLE[action]} ({len(group)})[/]"]
        for r in group:
            line = f"  [{style}]{_SYMBOL[action]}[/] [cyan]{escape(r.type)}[/] {escape(r.name)}"
            if r.protected:
                line += " [yellow](protected)[/]"
            if r.data_loss:
                line += " [bold red]DATA LOSS RISK[/]"
            lines.append(line)
            lines += [f"      {_change_markup(change)}" for change in r.changes]
    if diff.outputs:
        lines += ["", f"[bold]Outputs ({len(diff.outputs)})[/]"]
        lines += [f"  {_change_markup(change)}" for change in diff.outputs]
    return lines


def _change_markup(change: PropertyChange) -> str:
    text = f"{change.symbol} {escape(change.path)}: {escape(change.old_text)} -> {escape(change.new_text)}"
    if change.note:
        style = "bold magenta" if change.replace_reason else "dim"
        text += f"  [{style}]({escape(change.note)})[/]"
    return text


def render_text(diff: Diff, *, color: bool = False, width: int = 200) -> str:
    buffer = StringIO()
    console = Console(
        file=buffer,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        highlight=False,
        soft_wrap=True,
    )
    for line in text_lines(diff):
        console.print(line)
    return buffer.getvalue()


# --- markdown ----------------------------------------------------------------------------------------


def _code(text: str) -> str:
    """Inline code that survives tables and backticks."""
    if "`" in text or "|" in text:
        return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"
    return f"`{text}`"


def _html_code(text: str) -> str:
    return "<code>" + html.escape(text) + "</code>"


def _changes_table(changes: Sequence[PropertyChange]) -> list[str]:
    rows = ["| Property | Old | New | Note |", "|---|---|---|---|"]
    for change in changes:
        note = html.escape(change.note).replace("|", "&#124;")
        if change.replace_reason:
            note = f"**{note}**"
        rows.append(
            f"| {_code(change.path)} | {_code(change.old_text)} | {_code(change.new_text)} | {note} |"
        )
    return rows


def render_markdown(diff: Diff) -> str:
    """A PR comment: heading, summary, data loss callout first, then one section per action."""
    out = [f"### `pog diff`: {_code(diff.a)} → {_code(diff.b)}", ""]
    details = [f"{side}: {html.escape(d)}" for side, d in (("A", diff.a_detail), ("B", diff.b_detail)) if d]
    if details:
        out += [" · ".join(details), ""]
    if not diff.has_changes:
        out += ["**No changes.** Both sides declare the same resources, inputs and outputs.", ""]
        return "\n".join(out)
    summary = f"**{diff.summary}**"
    if diff.outputs:
        summary += f" · {_plural(len(diff.outputs), 'output')} changed"
    out += [summary, ""]
    if diff.data_loss:
        out += [
            "> [!CAUTION]",
            f"> ⚠️ **DATA LOSS RISK: {_plural(len(diff.data_loss), 'resource')} destroyed or replaced**",
            ">",
        ]
        out += [
            f"> - ⚠️ **{r.action.value}** {_code(r.type)} {_code(r.name)}: {html.escape(r.data_loss or '')}"
            for r in diff.data_loss
        ]
        out.append("")
    for action in _SECTION_ORDER:
        group = diff.of(action)
        if not group:
            continue
        out += [f"#### {_TITLE[action]} ({len(group)})", ""]
        if action in (Action.ADD, Action.DESTROY):
            table = ["| | Type | Name |", "|---|---|---|"]
            for r in group:
                flags = [_SYMBOL[action], "⚠️" if r.data_loss else "", "🔒" if r.protected else ""]
                table.append(f"| {' '.join(f for f in flags if f)} | {_code(r.type)} | {_code(r.name)} |")
            if len(group) > FOLD_ROWS:
                noun = "resources added" if action is Action.ADD else "resources destroyed"
                table = ["<details>", f"<summary>{len(group)} {noun}</summary>", "", *table, "", "</details>"]
            out += [*table, ""]
            continue
        for r in group:
            flag = "⚠️ " if r.data_loss else ""
            lock = " 🔒" if r.protected else ""
            summary_line = (
                f"{flag}{_SYMBOL[action]} {_html_code(r.type)} {_html_code(r.name)}{lock}: "
                f"{_plural(len(r.changes), 'property', 'properties')}"
            )
            reasons = sorted({c.replace_reason for c in r.changes if c.replace_reason})
            if reasons:
                summary_line += " — " + html.escape("; ".join(reasons))
            out += [
                "<details>",
                f"<summary>{summary_line}</summary>",
                "",
                *_changes_table(r.changes),
                "",
                "</details>",
                "",
            ]
    if diff.outputs:
        out += [
            f"#### Outputs ({len(diff.outputs)})",
            "",
            "<details>",
            "<summary>output changes</summary>",
            "",
        ]
        out += [*_changes_table(diff.outputs), "", "</details>", ""]
    return "\n".join(out)
