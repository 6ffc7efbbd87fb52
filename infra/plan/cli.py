"""`pog plan` and `pog diff`: the offline plan of a stack, and what changes between two plans.

Command functions; `pog` (pog/cli.py) registers them at its top level.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import pulumi
import typer
from rich.table import Table
from rich.tree import Tree

from infra.plan import sources
from infra.plan.diff import (
    AppendixBuilder,
    Diff,
    align_stacks,
    diff_inventories,
    render_json,
    render_markdown,
    render_text,
    text_lines,
)
from infra.plan.engine import Plan, PlannedResource
from infra.plan.inventory import dumps, to_inventory
from infra.plan.runner import plan_stack
from infra.plan.stackfile import PlanInputError
from terminal import console, err, fail, working

#: `pog diff` reports unexpected arguments itself (one line) instead of click's usage box.
DIFF_SETTINGS = {"ignore_unknown_options": True, "allow_extra_args": True}


def _tree(plan: Plan, phase: int) -> Tree:
    root = Tree(f"[bold]pot-of-gold/{plan.stack}[/] phase {phase}: {len(plan.resources)} resources")
    children: dict[str | None, list[PlannedResource]] = {}
    for resource in plan.resources:
        children.setdefault(resource.parent, []).append(resource)

    # Registration order depends on RPC timing; sorting keeps the printed tree stable between runs.
    def add(node: Tree, parent: str | None) -> None:
        for resource in sorted(children.get(parent, []), key=lambda r: (r.type, r.name)):
            label = f"[cyan]{resource.type}[/] {resource.name}"
            if resource.protect:
                label += " [yellow](protected)[/]"
            add(node.add(label, highlight=False), resource.key)

    add(root, None)
    return root


def _counts(plan: Plan) -> Table:
    table = Table(title="Resources per type", show_lines=False)
    table.add_column("type")
    table.add_column("count", justify="right")
    for type_, count in sorted(Counter(r.type for r in plan.resources).items()):
        table.add_row(type_, str(count))
    table.add_row("[bold]total[/]", f"[bold]{len(plan.resources)}[/]")
    return table


def _components(plan: Plan) -> Table:
    table = Table(title="Resources per component")
    table.add_column("component")
    table.add_column("resources", justify="right")
    components = sorted(
        (r for r in plan.resources if not r.custom and r.type.startswith("potgold:")), key=lambda r: r.name
    )
    parents = {r.key: r.parent for r in plan.resources}
    for component in components:
        count = 0
        for resource in plan.resources:
            ancestor = parents.get(resource.key)
            while ancestor is not None and ancestor != component.key:
                ancestor = parents.get(ancestor)
            count += ancestor == component.key
        table.add_row(component.name, str(count))
    return table


def plan(
    stack: Annotated[str, typer.Argument(help="Stack name: dev or prod (reads Pulumi.STACK.yaml)")],
    phase: Annotated[int | None, typer.Option(help="Plan at this phase instead of the stack's")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the inventory as JSON here")] = None,
    quiet: Annotated[bool, typer.Option(help="Print only the counts, not the tree")] = False,
) -> None:
    """Run the program under the mock engine and print every resource it would declare."""
    try:
        with working(f"planning {stack}", quiet=json_path is not None):
            result, planned_phase = plan_stack(stack, phase)
    except (PlanInputError, pulumi.RunError) as exc:
        raise fail(str(exc)) from None
    if not quiet:
        console.print(_tree(result, planned_phase))
    console.print(_components(result))
    console.print(_counts(result))
    if json_path is not None:
        try:
            json_path.write_text(dumps(to_inventory(result, planned_phase)))
        except OSError as exc:
            raise fail(f"cannot write the inventory to {json_path}: {exc.strerror}") from None
        console.print(f"inventory written to {json_path}")


DIFF_FORMATS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def _resolve_operands(
    first: str, second: str | None, base: str | None
) -> tuple[sources.Source, sources.Source]:
    a = sources.parse_operand(first)
    if second is None:
        if base is None:
            raise PlanInputError("give two operands to compare (pog diff dev prod), or one with --base REF")
        if a.is_file:
            raise PlanInputError(
                f"--base needs a stack to plan at the ref, not the inventory file {a.text!r}"
            )
        b = a
    else:
        b = sources.parse_operand(second)
    # Unknown stacks fail before any (slow) plan runs; with --base, A is checked at the ref instead.
    for operand in (b,) if base is not None else (a, b):
        sources.check_stack(operand)
    if base is not None:
        sources.resolve_commit(base)
    old = sources.resolve(a, base)
    new = old if (a == b and base is None) else sources.resolve(b)
    return old, new


def diff_command(appendices: Sequence[AppendixBuilder] = ()) -> Callable[..., None]:
    """The `pog diff` command, with the report sections of higher layers (infra.cost's monthly cost).

    infra.plan may not import them; `pog` (pog/cli.py) registers the command they compose.
    """

    def diff(
        ctx: typer.Context,
        a: Annotated[
            str | None,
            typer.Argument(
                metavar="A",
                help="Before: a stack (dev), a stack at a phase (prod@2) "
                "or an inventory file (pog plan --json)",
                show_default=False,
            ),
        ] = None,
        b: Annotated[
            str | None,
            typer.Argument(
                metavar="[B]", help="After: same forms as A; with --base, defaults to A", show_default=False
            ),
        ] = None,
        base: Annotated[
            str | None,
            typer.Option(
                "--base",
                metavar="REF",
                help="Plan A with the code and stack files of this git ref (e.g. origin/main)",
            ),
        ] = None,
        output_format: Annotated[
            str, typer.Option("--format", metavar="text|markdown|json", help="Report format")
        ] = "text",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write the report here instead of printing")
        ] = None,
    ) -> None:
        """Compare two plans: what would be added, changed, replaced or destroyed going from A to B.

        Exit code 0: no changes; 2: changes; 1: error (like terraform plan -detailed-exitcode).
        """
        if ctx.args:
            raise fail(
                f"unexpected {' '.join(ctx.args)!r}: pog diff takes A, an optional B and options (see --help)"
            )
        if a is None:
            raise fail("give two operands to compare (pog diff dev prod), or one with --base REF")
        if output_format not in DIFF_FORMATS:
            raise fail(f"--format must be text, markdown or json; got {output_format!r}")
        try:
            with working("planning both sides"):
                old, new = _resolve_operands(a, b, base)
        except (PlanInputError, pulumi.RunError) as exc:
            raise fail(str(exc)) from None
        result = _diff(old, new, appendices)
        _report(result, output_format, output)
        raise typer.Exit(2 if result.has_changes else 0)

    return diff


#: `pog diff` without the sections of higher layers.
diff = diff_command()


def _diff(old: sources.Source, new: sources.Source, appendices: Sequence[AppendixBuilder] = ()) -> Diff:
    across_stacks = old.inventory.get("stack") != new.inventory.get("stack")
    old_inventory, new_inventory = align_stacks(old.inventory, new.inventory)
    b_detail = new.detail
    if across_stacks:
        b_detail += "; different stacks: names aligned as pog-{env}-*, no replacement or data-loss marks"
    result = diff_inventories(
        old_inventory,
        new_inventory,
        old.label,
        new.label,
        a_detail=old.detail,
        b_detail=b_detail,
        across_stacks=across_stacks,
    )
    extra = tuple(build(old_inventory, new_inventory) for build in appendices)
    return replace(result, appendices=extra) if extra else result


def _report(result: Diff, output_format: str, output: Path | None) -> None:
    if output is not None:
        report = DIFF_FORMATS[output_format](result)
        try:
            output.write_text(report, encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot write the report to {output}: {exc.strerror}") from None
        err.print(f"{result.summary if result.has_changes else 'no changes'}; report written to {output}")
    elif output_format != "text":
        typer.echo(DIFF_FORMATS[output_format](result), nl=False)
    else:
        for line in text_lines(result):
            console.print(line, highlight=False, soft_wrap=True)
