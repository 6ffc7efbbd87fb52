"""`pog`: the offline tooling a platform engineer runs without the Pulumi CLI or cloud credentials."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from infra.config import ConfigError
from infra.plan.engine import Plan
from infra.plan.inventory import dumps, to_inventory
from infra.plan.runner import plan_stack
from infra.plan.stackfile import PlanInputError

app = typer.Typer(
    name="pog",
    help="Offline plan of the Pot of Gold Pulumi program (no Pulumi CLI, no credentials needed).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(1)


def _tree(plan: Plan, phase: int) -> Tree:
    root = Tree(f"[bold]pot-of-gold/{plan.stack}[/] phase {phase}: {len(plan.resources)} resources")
    nodes: dict[str | None, Tree] = {None: root}
    for resource in plan.resources:  # registration order: parents come before their children
        parent = nodes.get(resource.parent, root)
        label = f"[cyan]{resource.type}[/] {resource.name}"
        if resource.protect:
            label += " [yellow](protected)[/]"
        nodes[resource.key] = parent.add(label, highlight=False)
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
    components = [r for r in plan.resources if not r.custom and r.type.startswith("potgold:")]
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


@app.command()
def plan(
    stack: Annotated[str, typer.Argument(help="Stack name: dev or prod (reads Pulumi.STACK.yaml)")],
    phase: Annotated[int | None, typer.Option(help="Plan at this phase instead of the stack's")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the inventory as JSON here")] = None,
    quiet: Annotated[bool, typer.Option(help="Print only the counts, not the tree")] = False,
) -> None:
    """Run the program under the mock engine and print every resource it would declare."""
    try:
        result, planned_phase = plan_stack(stack, phase)
    except (PlanInputError, ConfigError) as exc:
        raise _fail(str(exc)) from None
    if not quiet:
        console.print(_tree(result, planned_phase))
    console.print(_components(result))
    console.print(_counts(result))
    if json_path is not None:
        try:
            json_path.write_text(dumps(to_inventory(result, planned_phase)))
        except OSError as exc:
            raise _fail(f"cannot write the inventory to {json_path}: {exc.strerror}") from None
        console.print(f"inventory written to {json_path}")


@app.callback()
def main() -> None:
    """Offline plan, diff, check and promotion for the Pot of Gold stacks."""
