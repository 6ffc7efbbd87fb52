"""`pog cost`: what a planned stack costs per month, per resource and per layer, and `pog diff` with money.

Command functions; `pog` (pog/cli.py) registers them at its top level. Offline: no credentials, no network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pulumi
import typer
from rich.markup import escape
from rich.table import Table

from infra.cost.diff import money_appendix, usd
from infra.cost.estimate import CostReport, ResourceCost, estimate
from infra.cost.prices import PriceError, load_prices
from infra.cost.usage import UsageError, load_usage, parse_users, phase_for, priced_users
from infra.plan.cli import diff_command
from infra.plan.sources import plan_inventory
from infra.plan.stackfile import PlanInputError
from terminal import console, err, fail, working

#: `pog diff` with the monthly cost of what changes (pog/cli.py registers this one).
diff = diff_command((money_appendix,))


# --- the estimates -------------------------------------------------------------------------------------


class Planner:
    """Plans a stack once per phase (``--users 10k,50k`` needs phase 1 twice)."""

    def __init__(self, stack: str) -> None:
        self.stack = stack
        self._plans: dict[int | None, dict[str, Any]] = {}

    def inventory(self, phase: int | None) -> dict[str, Any]:
        if phase not in self._plans:
            inventory = plan_inventory(self.stack, phase)
            self._plans[phase] = self._plans[int(inventory["phase"])] = inventory
        return self._plans[phase]


def price(inventory: dict[str, Any], users: int) -> CostReport:
    return estimate(inventory, load_usage().at(users), load_prices())


def architecture_usd(users: int) -> float | None:
    """The architecture's figure, for its four anchor counts only."""
    return load_usage().architecture_monthly_usd.get(users)


def _lines(resource: ResourceCost) -> str:
    return ", ".join(sorted({charge.line for charge in resource.charges}))


def _sorted_resources(report: CostReport) -> list[ResourceCost]:
    return sorted(report.resources, key=lambda r: (r.layer, -r.monthly_usd, r.type, r.name))


def report_dict(report: CostReport) -> dict[str, Any]:
    return {
        "stack": report.stack,
        "phase": report.phase,
        "users": report.users,
        "total_usd": round(report.monthly_usd, 2),
        "layers": {layer: round(amount, 2) for layer, amount in report.by_layer().items()},
        "resources": [
            {
                "type": r.type,
                "name": r.name,
                "layer": r.layer,
                "monthly_usd": round(r.monthly_usd, 2),
                "charges": [
                    {"line": c.line, "quantity": c.quantity, "usd": round(c.usd, 2), "note": c.note}
                    for c in r.charges
                ],
            }
            for r in _sorted_resources(report)
        ],
        "unpriced": [{"type": type_, "name": name} for type_, name in report.unpriced],
    }


def _unpriced_types(report: CostReport) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for type_, _ in report.unpriced:
        counts[type_] = counts.get(type_, 0) + 1
    return sorted(counts.items())


# --- output --------------------------------------------------------------------------------------------


def _heading(report: CostReport) -> str:
    return (
        f"pot-of-gold/{report.stack} phase {report.phase} at {report.users:,} monthly active players: "
        f"{usd(report.monthly_usd)} per month"
    )


def print_report(report: CostReport) -> None:
    console.print(f"[bold]{escape(_heading(report))}[/]", highlight=False, soft_wrap=True)
    layers = Table(title="Monthly cost per layer")
    layers.add_column("layer")
    layers.add_column("USD / month", justify="right")
    for layer, amount in report.by_layer().items():
        layers.add_row(layer, usd(amount))
    layers.add_row("[bold]total[/]", f"[bold]{usd(report.monthly_usd)}[/]")
    console.print(layers)
    resources = Table(title="Monthly cost per resource")
    resources.add_column("layer")
    resources.add_column("type", overflow="fold")
    resources.add_column("name", overflow="fold")
    resources.add_column("USD / month", justify="right")
    resources.add_column("price lines")
    for r in _sorted_resources(report):
        resources.add_row(r.layer, r.type, r.name, usd(r.monthly_usd), _lines(r))
    console.print(resources)
    for type_, count in _unpriced_types(report):
        err.print(
            f"[yellow]warning:[/] {escape(type_)} ({count} resource(s)) has no price line: "
            "left out of the total",
            highlight=False,
            soft_wrap=True,
        )


def markdown(report: CostReport) -> str:
    out = [f"### `pog cost {report.stack}`: {_heading(report)}", "", "| Layer | USD / month |", "|---|---:|"]
    out += [f"| {layer} | {usd(amount)} |" for layer, amount in report.by_layer().items()]
    out += [f"| **total** | **{usd(report.monthly_usd)}** |", ""]
    out += ["| Layer | Type | Name | USD / month | Price lines |", "|---|---|---|---:|---|"]
    out += [
        f"| {r.layer} | `{r.type}` | `{r.name}` | {usd(r.monthly_usd)} | {_lines(r)} |"
        for r in _sorted_resources(report)
    ]
    unpriced = _unpriced_types(report)
    if unpriced:
        out += ["", f"**Not priced** (left out of the total): {len(unpriced)} type(s)", ""]
        out += [f"- `{type_}` ({count})" for type_, count in unpriced]
    return "\n".join(out) + "\n"


def _architecture_cell(users: int) -> str:
    figure = architecture_usd(users)
    return "—" if figure is None else usd(figure)


def print_users(reports: list[CostReport]) -> None:
    table = Table(title=f"pot-of-gold/{reports[0].stack}: our estimate against the architecture's figure")
    for column in ("users", "phase", "estimate / month", "architecture / month", "unpriced resources"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for report in reports:
        table.add_row(
            f"{report.users:,}",
            str(report.phase),
            usd(report.monthly_usd),
            _architecture_cell(report.users),
            str(len(report.unpriced)),
        )
    console.print(table)
    unpriced = sorted({type_ for report in reports for type_, _ in report.unpriced})
    for type_ in unpriced:
        err.print(
            f"[yellow]warning:[/] {escape(type_)} has no price line: left out of the estimates",
            highlight=False,
            soft_wrap=True,
        )


def users_markdown(reports: list[CostReport]) -> str:
    out = [
        f"### `pog cost {reports[0].stack}`: our estimate against the architecture's figure",
        "",
        "| Users | Phase | Estimate / month | Architecture / month |",
        "|---:|---:|---:|---:|",
    ]
    out += [
        f"| {r.users:,} | {r.phase} | {usd(r.monthly_usd)} | {_architecture_cell(r.users)} |" for r in reports
    ]
    unpriced = sorted({type_ for report in reports for type_, _ in report.unpriced})
    if unpriced:
        out += ["", f"**Not priced** (left out of the estimates): {', '.join(f'`{t}`' for t in unpriced)}"]
    return "\n".join(out) + "\n"


def users_dict(stack: str, reports: list[CostReport]) -> dict[str, Any]:
    return {
        "stack": stack,
        "estimates": [{**report_dict(r), "architecture_usd": architecture_usd(r.users)} for r in reports],
    }


def _write_json(data: dict[str, Any], target: str) -> None:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if target == "-":
        typer.echo(text, nl=False)
        return
    try:
        Path(target).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write the estimate to {target}: {exc.strerror}") from None
    err.print(f"estimate written to {target}", highlight=False, soft_wrap=True)


# --- the command ---------------------------------------------------------------------------------------


def cost(
    stack: Annotated[str, typer.Argument(help="Stack name: dev or prod (reads Pulumi.STACK.yaml)")],
    phase: Annotated[
        int | None, typer.Option(help="Price this phase instead of the stack's (at the top of its range)")
    ] = None,
    users: Annotated[
        str | None,
        typer.Option(
            metavar="N[,N...]",
            help="Price these user counts (10k,100k,1m,10m), each at the phase it needs, beside the "
            "architecture's figure",
        ),
    ] = None,
    json_target: Annotated[
        str | None,
        typer.Option("--json", metavar="FILE|-", help="Write the estimate as JSON here (- for stdout)"),
    ] = None,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Print Markdown (for CI) instead of tables")
    ] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 when a resource type has no price line")] = False,
) -> None:
    """What a stack costs per month: per resource and per layer, from the plan and the usage model.

    prod is priced at the top of the phase's user range (phase 1: 100K, 2: 1M, 3: 10M monthly active
    players), dev at its own load (the usage model's dev_monthly_active).
    Resource types without a price line are named, never counted as $0. Exit code 0; 1 on an error, or
    with --strict when a type is unpriced.
    """
    counts: list[int] | None = None
    if users is not None:
        try:
            counts = parse_users(users)
        except ValueError as exc:
            raise fail(f"--users: {exc}") from None
        if phase is not None:
            raise fail("--users picks the phase each count needs: give --phase or --users, not both")
    planner = Planner(stack)
    try:
        with working(f"planning and pricing {stack}", quiet=json_target == "-" or as_markdown):
            if counts is None:
                inventory = planner.inventory(phase)
                reports = [price(inventory, priced_users(stack, int(inventory["phase"]), load_usage()))]
            else:
                reports = [price(planner.inventory(phase_for(n)), n) for n in counts]
    except (PlanInputError, pulumi.RunError, PriceError, UsageError) as exc:
        raise fail(" ".join(str(exc).split())) from None
    _show(stack, reports, several=counts is not None, json_target=json_target, as_markdown=as_markdown)
    if strict and any(report.unpriced for report in reports):
        raise fail("--strict: some resource types have no price line (add them to infra/cost/prices.yaml)")


def _show(
    stack: str, reports: list[CostReport], *, several: bool, json_target: str | None, as_markdown: bool
) -> None:
    if json_target is not None:
        _write_json(users_dict(stack, reports) if several else report_dict(reports[0]), json_target)
        if json_target == "-":
            return
    if as_markdown:
        typer.echo(users_markdown(reports) if several else markdown(reports[0]), nl=False)
    elif several:
        print_users(reports)
    else:
        print_report(reports[0])
