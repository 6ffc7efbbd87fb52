"""`pog promote`: the command, its options and exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pulumi
import typer
from rich.markup import escape

from infra.plan.stackfile import REPO_ROOT, PlanInputError
from infra.promote.promotion import IMAGE_KEY, PHASE_KEY, RUNBOOK, Promotion, digest_of, prepare
from infra.promote.report import dry_run_line, markdown_report, text_report
from infra.promote.stack_file import write
from terminal import console, fail, working

FORMATS = ("text", "markdown")


Source = Annotated[str, typer.Option("--from", metavar="STACK", help="Stack to promote from (dev)")]
Target = Annotated[str, typer.Option("--to", metavar="STACK", help="Stack to promote (prod)")]
Phase = Annotated[
    int | None,
    typer.Option(help="Promote the target to this phase (one step, at most the source's phase)"),
]
WriteFile = Annotated[
    bool, typer.Option("--write", help="Update the target stack file (only phase and appImage)")
]
AllowDataLoss = Annotated[
    bool,
    typer.Option(
        "--allow-data-loss", help=f"Accept destroying or replacing data-holding resources ({RUNBOOK})"
    ),
]
Format = Annotated[str, typer.Option("--format", metavar="text|markdown", help="Report format")]
Root = Annotated[
    Path,
    typer.Option(
        "--root",
        metavar="DIR",
        help="Project directory: Pulumi.yaml, the stack files, runbooks/ (default: this repository)",
        hidden=True,
    ),
]


def _one_line(exc: Exception) -> str:
    problems = getattr(exc, "problems", None)
    if isinstance(problems, list) and problems:
        return f"stack configuration has {len(problems)} problem(s): " + "; ".join(map(str, problems))
    return " ".join(str(exc).split())


def promote(
    source: Source,
    target: Target,
    phase: Phase = None,
    write_file: WriteFile = False,
    allow_data_loss: AllowDataLoss = False,
    output_format: Format = "text",
    root: Root = REPO_ROOT,
) -> None:
    """Move the target stack to the source's phase (one step at a time) and image digest.

    Shows what changes and the offline diff of the target, and runs check on the promoted target.
    Exit code 0: the promotion is possible (and written with --write); 1: refused or error.
    """
    if output_format not in FORMATS:
        raise fail(f"--format must be text or markdown; got {output_format!r}")
    try:
        with working(f"planning {target} before and after the promotion"):
            promotion = prepare(source, target, phase, allow_data_loss=allow_data_loss, root=root)
    except (PlanInputError, pulumi.RunError, OSError) as exc:
        raise fail(_one_line(exc)) from None
    if not promotion.changes:
        digest = digest_of(target, promotion.image.old)
        console.print(
            f"Nothing to promote: {escape(target)} is already at {escape(source)}'s phase "
            f"{promotion.phase.old} and image digest {digest}.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(0)
    markdown = output_format == "markdown"
    _show(promotion, markdown)
    if promotion.refusal is not None:
        raise fail(promotion.refusal)
    if not write_file:
        _say(markdown, f"\n_{dry_run_line(promotion)}_", f"\n{escape(dry_run_line(promotion))}")
        raise typer.Exit(0)
    _write(promotion, markdown)


def _say(markdown: bool, markdown_text: str, markup: str) -> None:
    if markdown:
        typer.echo(markdown_text)
    else:
        console.print(markup, highlight=False, soft_wrap=True)


def _show(promotion: Promotion, markdown: bool) -> None:
    if markdown:
        typer.echo(markdown_report(promotion), nl=False)
        return
    for line in text_report(promotion):
        console.print(line, highlight=False, soft_wrap=True)


def _write(promotion: Promotion, markdown: bool) -> None:
    try:
        write(promotion)
    except PlanInputError as exc:
        raise fail(str(exc)) from None
    what = [f"{PHASE_KEY} {promotion.phase.old} -> {promotion.phase.new}"] if promotion.phase.changed else []
    if promotion.image.changed:
        what.append(f"{IMAGE_KEY} digest {digest_of(promotion.target, promotion.image.new)}")
    name = promotion.stack_file.name
    _say(
        markdown,
        f"\n**{name} updated:** {'; '.join(what)}",
        f"[bold green]{escape(name)} updated:[/] {escape('; '.join(what))}",
    )
