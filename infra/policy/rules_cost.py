"""Stack rules for money: every stack declares a Cloud Billing budget that tells someone.

The budget (infra/stacks/budget.py) is the cloud's own check on the `pog cost` estimate: mail at 50, 90
and 100 % of the month's actual spend and at 100 % of the forecast, to the stack's monitoring notification
channels (runbooks/alerts/budget-exceeded.md), on the stack's project only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import tokens as t
from .model import Finding, Resource, RuleContext, RuleSet, Severity, StackView
from .values import get, is_known, refers_to

rules = RuleSet()

BUDGET = "gcp:billing/budget:Budget"
#: (share of the amount, spend basis) every budget alerts at.
REQUIRED_THRESHOLDS: frozenset[tuple[float, str]] = frozenset(
    {(0.5, "CURRENT_SPEND"), (0.9, "CURRENT_SPEND"), (1.0, "CURRENT_SPEND"), (1.0, "FORECASTED_SPEND")}
)
MAX_CHANNELS = 5  # Cloud Billing's limit per budget


def _thresholds(budget: Resource) -> set[tuple[float, str]] | None:
    rules_ = budget.props.get("thresholdRules")
    if not is_known(rules_):
        return None
    found: set[tuple[float, str]] = set()
    for rule in rules_ if isinstance(rules_, list) else []:
        share, basis = rule.get("thresholdPercent"), rule.get("spendBasis") or "CURRENT_SPEND"
        if isinstance(share, int | float):
            found.add((float(share), str(basis)))
    return found


def _describe(thresholds: frozenset[tuple[float, str]] | set[tuple[float, str]]) -> str:
    return ", ".join(f"{share:.0%} {basis.split('_')[0].lower()}" for share, basis in sorted(thresholds))


def _channel_problems(budget: Resource, channels: list[Resource]) -> Iterator[str]:
    named: Any = get(budget.props, "allUpdatesRule.monitoringNotificationChannels")
    if not is_known(named):
        return
    named = named if isinstance(named, list) else []
    if not named:
        yield "notifies no monitoring channel: only the billing account's administrators would know"
    elif len(named) > MAX_CHANNELS:
        yield f"names {len(named)} channels; Cloud Billing accepts at most {MAX_CHANNELS}"
    for reference in named:
        if is_known(reference) and not any(refers_to(reference, channel) for channel in channels):
            yield f"notifies {reference!r}, which is not a notification channel of this stack"


@rules.stack(
    "POG-COST-001",
    Severity.MEDIUM,
    "The stack declares a billing budget on its project that alerts its notification channels at 50, 90"
    " and 100 % of actual spend and 100 % of forecast",
    "Declare the Budget component (infra/stacks/budget.py) in infra/__main__.py with the stack's email"
    " channels; its amount is pinned by `make pin-budgets` (docs/cost.md).",
)
def budget_alerts(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    budgets = stack.of_type(BUDGET)
    if not budgets:
        yield Finding(
            f"no billing budget: nothing warns when pog-{ctx.environment}'s spend passes the estimate"
        )
        return
    channels = stack.of_type(t.NOTIFICATION_CHANNEL)
    for budget in budgets:
        thresholds = _thresholds(budget)
        if thresholds is not None and not thresholds >= REQUIRED_THRESHOLDS:
            yield Finding(
                f"alerts at {_describe(thresholds) or 'no threshold'}; missing"
                f" {_describe(REQUIRED_THRESHOLDS - thresholds)}",
                budget.key,
            )
        for problem in _channel_problems(budget, channels):
            yield Finding(problem, budget.key)
        projects = get(budget.props, "budgetFilter.projects")
        if is_known(projects) and not projects:
            yield Finding(
                "is not filtered to the stack's project: it would count the whole billing account", budget.key
            )
        units = get(budget.props, "amount.specifiedAmount.units")
        if units is None:
            yield Finding("has no specified amount: pin it with `make pin-budgets`", budget.key)
        elif is_known(units) and not (str(units).isdigit() and int(str(units)) >= 1):
            yield Finding(f"amount {units!r} is not a whole number of dollars, at least 1", budget.key)
