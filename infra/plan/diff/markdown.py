"""The pull-request comment: heading, summary, data loss callout first, then one section per action."""

from __future__ import annotations

import html
from collections.abc import Sequence

from infra.plan.diff.model import Action, Diff, PropertyChange, ResourceDiff
from infra.plan.diff.text import SECTION_ORDER, SYMBOL, TITLE, plural

FOLD_ROWS = 10  # longer lists of added or destroyed resources go in a <details> block


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


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>"]


def _data_loss_callout(diff: Diff) -> list[str]:
    if not diff.data_loss:
        return []
    return [
        "> [!CAUTION]",
        f"> ⚠️ **DATA LOSS RISK: {plural(len(diff.data_loss), 'resource')} destroyed or replaced**",
        ">",
        *(
            f"> - ⚠️ **{r.action.value}** {_code(r.type)} {_code(r.name)}: {html.escape(r.data_loss or '')}"
            for r in diff.data_loss
        ),
        "",
    ]


def _resource_table(action: Action, group: list[ResourceDiff]) -> list[str]:
    """Added or destroyed resources: one row each, folded when there are many."""
    table = ["| | Type | Name |", "|---|---|---|"]
    for r in group:
        flags = [SYMBOL[action], "⚠️" if r.data_loss else "", "🔒" if r.protected else ""]
        table.append(f"| {' '.join(f for f in flags if f)} | {_code(r.type)} | {_code(r.name)} |")
    if len(group) > FOLD_ROWS:
        noun = "resources added" if action is Action.ADD else "resources destroyed"
        table = _details(f"{len(group)} {noun}", table)
    return [*table, ""]


def _resource_changes(action: Action, r: ResourceDiff) -> list[str]:
    """A changed or replaced resource: its property changes in a folded table."""
    flag = "⚠️ " if r.data_loss else ""
    lock = " 🔒" if r.protected else ""
    summary = (
        f"{flag}{SYMBOL[action]} {_html_code(r.type)} {_html_code(r.name)}{lock}: "
        f"{plural(len(r.changes), 'property', 'properties')}"
    )
    reasons = sorted({c.replace_reason for c in r.changes if c.replace_reason})
    if reasons:
        summary += " — " + html.escape("; ".join(reasons))
    return [*_details(summary, _changes_table(r.changes)), ""]


def render_markdown(diff: Diff) -> str:
    out = [f"### `pog diff`: {_code(diff.a)} → {_code(diff.b)}", ""]
    details = [f"{side}: {html.escape(d)}" for side, d in (("A", diff.a_detail), ("B", diff.b_detail)) if d]
    if details:
        out += [" · ".join(details), ""]
    if not diff.has_changes:
        out += ["**No changes.** Both sides declare the same resources, inputs and outputs.", ""]
        return "\n".join(out)
    summary = f"**{diff.summary}**"
    if diff.outputs:
        summary += f" · {plural(len(diff.outputs), 'output')} changed"
    out += [summary, "", *_data_loss_callout(diff)]
    for action in SECTION_ORDER:
        group = diff.of(action)
        if not group:
            continue
        out += [f"#### {TITLE[action]} ({len(group)})", ""]
        if action in (Action.ADD, Action.DESTROY):
            out += _resource_table(action, group)
        else:
            out += [line for r in group for line in _resource_changes(action, r)]
    if diff.outputs:
        out += [f"#### Outputs ({len(diff.outputs)})", ""]
        out += [*_details("output changes", _changes_table(diff.outputs)), ""]
    for appendix in diff.appendices:
        out += [*appendix.markdown_lines(), ""]
    return "\n".join(out)
