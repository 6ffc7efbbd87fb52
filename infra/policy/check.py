"""`pog check`: every policy rule on the offline plan of a stack, plus the disaster-recovery figures.

``check_stack(stack, phase)`` is the engine (``pog promote`` calls it); ``check`` is the command that
``pog/cli.py`` registers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pulumi
import typer
from rich.console import Console
from rich.table import Table

from infra.config import NAMESPACE
from infra.plan.inventory import to_inventory
from infra.plan.runner import plan_stack
from infra.plan.stackfile import REPO_ROOT, PlanInputError, load_stack
from terminal import fail

from .dr import DrFigures, dr_figures
from .model import (
    SEVERITIES,
    Resource,
    ResourceRule,
    Rule,
    RuleContext,
    Severity,
    StackRule,
    StackView,
    Violation,
)
from .rules import ALL_RULES

FORMATS = ("text", "json", "markdown")


@dataclass(frozen=True)
class CheckReport:
    stack: str
    environment: str
    phase: int
    violations: tuple[Violation, ...]
    dr: DrFigures
    rules_run: int
    resources: int

    @property
    def passed(self) -> bool:
        """No violation at all (the strictest level, what ``pog check`` fails on by default)."""
        return not self.violations

    def failing(self, level: Severity = Severity.LOW) -> list[Violation]:
        return [v for v in self.violations if v.severity.at_least(level)]

    def counts(self) -> dict[str, int]:
        counted = Counter(v.severity for v in self.violations)
        return {s.value: counted.get(s, 0) for s in SEVERITIES}

    def summary(self, fail_on: Severity = Severity.LOW) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        verdict = "FAIL" if self.failing(fail_on) else "PASS"
        found = f"{len(self.violations)} violation(s) ({counts})" if self.violations else "no violations"
        return (
            f"{verdict}: {found}; {self.rules_run} rules on {self.resources} resources of"
            f" pot-of-gold/{self.stack} phase {self.phase} (failing at {fail_on.value} and above)"
        )

    def to_dict(self, fail_on: Severity = Severity.LOW) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "environment": self.environment,
            "phase": self.phase,
            "passed": not self.failing(fail_on),
            "fail_on": fail_on.value,
            "counts": self.counts(),
            "rules": self.rules_run,
            "resources": self.resources,
            "violations": [v.to_dict() for v in self.violations],
            "dr": self.dr.to_dict(),
        }


def context_for(stack: str, phase: int | None = None, root: Path = REPO_ROOT) -> RuleContext:
    """The rule context of a stack file (environment from its config, phase as planned)."""
    stack_input = load_stack(stack, phase, root)
    environment = stack_input.config.get(f"{NAMESPACE}:environment", stack)
    return RuleContext(stack=stack, environment=environment, phase=stack_input.phase, repo_root=root)


def run_rules(
    resources: Iterable[Resource], ctx: RuleContext, rules: Sequence[Rule] = ALL_RULES
) -> list[Violation]:
    view = StackView.of(resources)
    violations: list[Violation] = []
    for rule in rules:
        if isinstance(rule, ResourceRule):
            for resource in view.resources:
                violations += rule.run(resource, ctx)
        elif isinstance(rule, StackRule):
            violations += rule.run(view, ctx)
    return sorted(violations, key=lambda v: (-v.severity.rank, v.rule_id, v.resource, v.message))


def check_inventory(
    inventory: Mapping[str, Any], ctx: RuleContext, rules: Sequence[Rule] = ALL_RULES
) -> CheckReport:
    """Every rule on an inventory (the JSON of ``pog plan --json``, or one built in a test)."""
    resources = [Resource.from_entry(entry) for entry in inventory.get("resources", [])]
    return CheckReport(
        stack=ctx.stack,
        environment=ctx.environment,
        phase=ctx.phase,
        violations=tuple(run_rules(resources, ctx, rules)),
        dr=dr_figures(StackView.of(resources), ctx),
        rules_run=len(rules),
        resources=len(resources),
    )


def check_stack(stack: str, phase: int | None = None) -> CheckReport:
    """Plan ``stack`` (at ``phase``, else its own) offline and run every rule on it.

    Raises ``PlanInputError`` for user mistakes (unknown stack, bad phase) and ``pulumi.RunError``
    when the program refuses the config, like ``pog plan``.
    """
    plan, planned_phase = plan_stack(stack, phase)
    ctx = context_for(stack, planned_phase)
    return check_inventory(to_inventory(plan, planned_phase), ctx)


# --- output ----------------------------------------------------------------------------------------

_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def short_resource(key: str, separator: str = " ") -> str:
    """``gcp:storage/bucket:Bucket::pog-dev-x`` -> ``pog-dev-x (storage/bucket)``."""
    if not key:
        return "(stack)"
    type_, _, name = key.partition("::")
    module = type_.split(":")[1] if type_.count(":") >= 2 else type_
    return f"{name}{separator}({module})"


def report_console() -> Console:
    """Wide enough for the five columns in CI logs and pipes; a terminal keeps its own width."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def render_text(report: CheckReport, fail_on: Severity, console: Console) -> None:
    if report.violations:
        table = Table(
            title=f"Policy violations: pot-of-gold/{report.stack} phase {report.phase}", show_lines=True
        )
        for column in ("rule", "severity", "resource", "message", "remediation"):
            table.add_column(column, overflow="fold")
        for v in report.violations:
            style = _STYLES[v.severity.value]
            rule = v.rule_id + (f"\n{v.checkov}" if v.checkov else "")
            table.add_row(
                rule,
                f"[{style}]{v.severity.value}[/]",
                short_resource(v.resource, "\n"),
                v.message,
                v.remediation,
            )
        console.print(table)
    dr = report.dr
    informational = "" if dr.enforced else " (informational for dev)"
    table = Table(title=f"Disaster recovery: targets RTO 1h, RPO 5min{informational}")
    for column in ("figure", "this configuration", "target", "status"):
        table.add_column(column, overflow="fold")
    for row in dr.rows():
        table.add_row(*row)
    console.print(table)
    style = "bold red" if report.failing(fail_on) else "bold green"
    console.print(f"[{style}]{report.summary(fail_on)}[/]", highlight=False, soft_wrap=True)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: CheckReport, fail_on: Severity) -> str:
    lines = [
        f"### `pog check {report.stack}` (phase {report.phase})",
        "",
        f"**{report.summary(fail_on)}**",
        "",
    ]
    if report.violations:
        lines += ["| Rule | Severity | Resource | Message | Remediation |", "|---|---|---|---|---|"]
        for v in report.violations:
            rule = f"{v.rule_id} ({v.checkov})" if v.checkov else v.rule_id
            lines.append(
                f"| {rule} | {v.severity.value} | `{_cell(short_resource(v.resource))}` | {_cell(v.message)}"
                f" | {_cell(v.remediation)} |"
            )
        lines.append("")
    title = "Disaster recovery" + ("" if report.dr.enforced else " (informational for dev)")
    lines += [f"#### {title}", "", "| Figure | This configuration | Target | Status |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(_cell(c) for c in row)} |" for row in report.dr.rows()]
    return "\n".join(lines) + "\n"


# --- the command -------------------------------------------------------------------------------------


def check(
    stack: Annotated[str, typer.Argument(help="Stack name: dev or prod (reads Pulumi.STACK.yaml)")],
    phase: Annotated[
        int | None, typer.Option(help="Check the plan at this phase instead of the stack's")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", metavar="text|json|markdown", help="Report format")
    ] = "text",
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            metavar="critical|high|medium|low",
            help="Exit 1 on a violation of this severity or higher",
        ),
    ] = "low",
) -> None:
    """Run every policy rule (the CrossGuard pack's) on the offline plan of STACK, with its DR figures.

    Exit code 0: no violation at or above --fail-on; 1: violations, or an error.
    """
    if output_format not in FORMATS:
        raise fail(f"--format must be text, json or markdown; got {output_format!r}")
    try:
        level = Severity(fail_on)
    except ValueError:
        raise fail(f"--fail-on must be critical, high, medium or low; got {fail_on!r}") from None
    try:
        report = check_stack(stack, phase)
    except (PlanInputError, pulumi.RunError) as exc:
        raise fail(str(exc)) from None
    if output_format == "json":
        typer.echo(json.dumps(report.to_dict(level), indent=2, sort_keys=True))
    elif output_format == "markdown":
        typer.echo(render_markdown(report, level), nl=False)
    else:
        render_text(report, level, report_console())
    raise typer.Exit(1 if report.failing(level) else 0)
