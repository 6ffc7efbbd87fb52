"""The terminal report: rich markup lines, and the same as plain or colored text."""

from __future__ import annotations

from io import StringIO

from rich.console import Console
from rich.markup import escape

from infra.plan.diff.model import Action, Diff, PropertyChange

SYMBOL = {Action.ADD: "+", Action.CHANGE: "~", Action.REPLACE: "-/+", Action.DESTROY: "-"}
TITLE = {
    Action.ADD: "To add",
    Action.CHANGE: "To change",
    Action.REPLACE: "To replace",
    Action.DESTROY: "To destroy",
}
SECTION_ORDER = (Action.ADD, Action.REPLACE, Action.CHANGE, Action.DESTROY)
_STYLE = {Action.ADD: "green", Action.CHANGE: "yellow", Action.REPLACE: "magenta", Action.DESTROY: "red"}


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"


def _heading(diff: Diff) -> list[str]:
    lines = [f"[bold]pog diff[/] {escape(diff.a)} → {escape(diff.b)}"]
    for side, detail in (("A", diff.a_detail), ("B", diff.b_detail)):
        if detail:
            lines.append(f"[dim]{side}: {escape(detail)}[/]")
    return lines


def _data_loss(diff: Diff) -> list[str]:
    if not diff.data_loss:
        return []
    lines = ["", f"[bold red]DATA LOSS RISK: {plural(len(diff.data_loss), 'resource')}[/]"]
    for r in diff.data_loss:
        lines.append(
            f"[bold red]  {SYMBOL[r.action]} {r.action.value} {escape(r.type)} {escape(r.name)}: "
            f"{escape(r.data_loss or '')}[/]"
        )
    return lines


def text_lines(diff: Diff) -> list[str]:
    """The text report as rich markup lines (every value escaped)."""
    lines = _heading(diff)
    if not diff.has_changes:
        lines.append("[bold green]No changes.[/] Both sides declare the same resources, inputs and outputs.")
        return lines
    lines.append(f"[bold]{diff.summary}[/]")
    if diff.outputs:
        lines.append(f"{plural(len(diff.outputs), 'output')} changed")
    lines += _data_loss(diff)
    for action in SECTION_ORDER:
        group = diff.of(action)
        if not group:
            continue
        style = _STYLE[action]
        lines += ["", f"[bold {style}]{TITLE[action]} ({len(group)})[/]"]
        for r in group:
            line = f"  [{style}]{SYMBOL[action]}[/] [cyan]{escape(r.type)}[/] {escape(r.name)}"
            if r.protected:
                line += " [yellow](protected)[/]"
            if r.data_loss:
                line += " [bold red]DATA LOSS RISK[/]"
            lines.append(line)
            lines += [f"      {_change_markup(change)}" for change in r.changes]
    if diff.outputs:
        lines += ["", f"[bold]Outputs ({len(diff.outputs)})[/]"]
        lines += [f"  {_change_markup(change)}" for change in diff.outputs]
    for appendix in diff.appendices:
        lines += ["", *appendix.text_lines()]
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
