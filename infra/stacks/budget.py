"""Budget: a Cloud Billing budget on the stack's project at the ``pog cost`` estimate of its phase.

The amount is not typed by hand: ``make pin-budgets`` (scripts/pin_budgets.py) prices every stack x phase
at the load ``pog cost`` uses (prod: the top of the phase's user range; dev: its own testers' load) and
writes ``budgets.json`` beside this file; the stacks read that
file because they may not import ``infra.cost`` (it sits above them). tests/infra/cost/test_budgets.py
fails when the pinned amounts and the estimate part. Cloud Billing, not Cloud Monitoring, sends the
alerts, to the stack's notification channels (runbooks/alerts/budget-exceeded.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from infra.stacks.common import child

BUDGETS_FILE = Path(__file__).with_name("budgets.json")
RUNBOOK = "runbooks/alerts/budget-exceeded.md"
CURRENCY = "USD"
#: (share of the amount, spend basis): mail at half and nine tenths of the month's actual spend, at the
#: whole of it, and as soon as Cloud Billing forecasts the month will end above it.
THRESHOLDS: tuple[tuple[float, str], ...] = (
    (0.5, "CURRENT_SPEND"),
    (0.9, "CURRENT_SPEND"),
    (1.0, "CURRENT_SPEND"),
    (1.0, "FORECASTED_SPEND"),
)
#: Cloud Billing notifies at most five monitoring channels per budget.
MAX_CHANNELS = 5
#: The Budget API, called with the stack's project as quota project (infra/providers.py billing_project).
BUDGET_API = "billingbudgets.googleapis.com"


class BudgetNotPinned(pulumi.RunError):
    """budgets.json has no amount for this environment and phase."""


def pinned_budget_usd(environment: str, phase: int, path: Path = BUDGETS_FILE) -> int:
    """The amount ``make pin-budgets`` wrote for this environment at this phase, in whole dollars."""
    try:
        pinned = json.loads(path.read_text())
        return int(pinned[environment][str(phase)])
    except (OSError, ValueError, KeyError, TypeError):
        raise BudgetNotPinned(
            f"{path.name} has no budget for {environment} at phase {phase}: run `make pin-budgets`"
        ) from None


@dataclass
class BudgetArgs:
    prefix: str
    project: str
    billing_account: str
    #: Monthly amount in USD (pinned_budget_usd).
    amount_usd: int
    #: Monitoring notification channels (their resource names); the first MAX_CHANNELS are notified.
    notification_channels: Sequence[pulumi.Input[str]]
    depends_on: Sequence[pulumi.Resource] = ()


class Budget(pulumi.ComponentResource):
    """Public attributes:

    api: gcp.projects.Service    the Budget API on the stack's project (the provider's quota project)
    budget: gcp.billing.Budget   on the billing account, filtered to the stack's project
    """

    def __init__(self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:budget:Budget", name, None, opts)
        if args.amount_usd < 1:
            raise ValueError(f"BudgetArgs.amount_usd must be at least 1 USD; got {args.amount_usd}")
        if not args.notification_channels:
            raise ValueError("BudgetArgs.notification_channels needs at least one channel")
        self.api = gcp.projects.Service(
            f"{args.prefix}-api-billingbudgets",
            project=args.project,
            service=BUDGET_API,
            disable_on_destroy=False,
            disable_dependent_services=False,
            opts=child(self),
        )
        # A budget filters projects by number; the stack knows its project by id.
        project_number = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        ).number
        self.budget = gcp.billing.Budget(
            f"{args.prefix}-budget",
            billing_account=args.billing_account,
            # The notification shows this name: it points on-call at the runbook (60 characters at most).
            display_name=f"{args.prefix} monthly ({RUNBOOK.rsplit('/', 1)[-1]})",
            amount=gcp.billing.BudgetAmountArgs(
                specified_amount=gcp.billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code=CURRENCY, units=str(args.amount_usd)
                )
            ),
            budget_filter=gcp.billing.BudgetBudgetFilterArgs(
                projects=[project_number.apply(lambda number: f"projects/{number}")],
                calendar_period="MONTH",
            ),
            threshold_rules=[
                gcp.billing.BudgetThresholdRuleArgs(threshold_percent=share, spend_basis=basis)
                for share, basis in THRESHOLDS
            ],
            all_updates_rule=gcp.billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=list(args.notification_channels)[:MAX_CHANNELS],
                # The billing account's administrators keep their mail too.
                disable_default_iam_recipients=False,
            ),
            opts=child(self, depends_on=[self.api, *args.depends_on]),
        )
        self.register_outputs({"budget": self.budget.name})
