"""A promotion as the terminal (rich markup) and a pull request (Markdown) show it."""

from __future__ import annotations

from rich.markup import escape

from infra.plan.diff import render_markdown, text_lines
from infra.promote.promotion import IMAGE_KEY, PHASE_KEY, Promotion, digest_of


def dry_run_line(promotion: Promotion) -> str:
    return f"(dry run: pass --write to update {promotion.stack_file.name})"


def _check_line(promotion: Promotion) -> str:
    report = promotion.check
    assert report is not None
    return (
        f"{promotion.target} at phase {promotion.new_phase} passes check "
        f"({report.rules_run} rules on {report.resources} resources)"
    )


def text_report(promotion: Promotion) -> list[str]:
    """The promotion as rich markup lines: the two values, then the diff of the target."""
    p = promotion
    lines = [f"[bold]pog promote[/] {escape(p.source)} → {escape(p.target)}"]
    step = f"{p.phase.old} -> {p.phase.new}" if p.phase.changed else f"{p.phase.old} (unchanged)"
    lines.append(f"  {PHASE_KEY}: {step}")
    if p.image.changed:
        lines += [
            f"  {IMAGE_KEY}:",
            f"    [red]- {escape(p.image.old)}[/]",
            f"    [green]+ {escape(p.image.new)}[/]",
        ]
    else:
        lines.append(f"  {IMAGE_KEY}: digest {escape(digest_of(p.target, p.image.old))} (unchanged)")
    if p.diff is not None:
        lines += ["", *text_lines(p.diff)]
    lines += [f"[yellow]{escape(note)}[/]" for note in p.notes]
    if p.check is not None and p.check.passed:
        lines += ["", f"[bold green]check:[/] {escape(_check_line(p))}"]
    return lines


def markdown_report(promotion: Promotion) -> str:
    p = promotion
    out = [
        f"### `pog promote`: `{p.source}` → `{p.target}`",
        "",
        f"| Setting | {p.target} now | after promotion |",
        "|---|---|---|",
        f"| `{PHASE_KEY}` | {p.phase.old} | {p.phase.new if p.phase.changed else 'unchanged'} |",
        f"| `{IMAGE_KEY}` | `{p.image.old}` | {f'`{p.image.new}`' if p.image.changed else 'unchanged'} |",
        "",
    ]
    if p.diff is not None:
        out.append(render_markdown(p.diff).rstrip("\n"))
        out.append("")
    out += [f"> {note}" for note in p.notes]
    if p.check is not None and p.check.passed:
        out += [f"**check:** {_check_line(p)}", ""]
    return "\n".join(out) + "\n"
