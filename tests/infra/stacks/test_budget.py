"""Budget layer: one Cloud Billing budget per stack at the pinned estimate of its phase, mailing the
stack's alert addresses at 50, 90 and 100 % of actual spend and at 100 % of forecast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.plan.engine import Plan
from infra.stacks.budget import (
    BUDGET_API,
    MAX_CHANNELS,
    RUNBOOK,
    BudgetNotPinned,
    pinned_budget_usd,
)
from tests.infra.conftest import PHASES, STACKS, plan_for
from tests.infra.stacks.layers import Layer, prefix, stack_config

BUDGET = "gcp:billing/budget:Budget"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
API = "gcp:projects/service:Service"
LAYER = Layer("potgold:budget:Budget", "budget")
ROOT = Path(__file__).resolve().parents[3]

ALL = [(stack, phase) for stack in STACKS for phase in PHASES]


def _budget(plan: Plan) -> dict[str, object]:
    budgets = LAYER.mine(plan, BUDGET)
    assert [b.name for b in budgets] == [f"{prefix(plan)}-budget"]
    return budgets[0].inputs


@pytest.mark.parametrize(("stack", "phase"), ALL, ids=[f"{s}-p{p}" for s, p in ALL])
def test_budget_is_the_pinned_estimate_of_the_phase_on_the_stack_s_project(stack: str, phase: int) -> None:
    """Failed before issue 19: no stack declared a budget, so nothing warned when spend left the estimate."""
    plan = plan_for(stack, phase)
    budget = _budget(plan)

    assert budget["amount"] == {
        "specifiedAmount": {"currencyCode": "USD", "units": str(pinned_budget_usd(stack, phase))}
    }
    assert budget["billingAccount"] == stack_config(plan, "billingAccount")
    assert budget["budgetFilter"] == {"calendarPeriod": "MONTH", "projects": ["projects/123456789012"]}
    assert budget["thresholdRules"] == [
        {"spendBasis": "CURRENT_SPEND", "thresholdPercent": 0.5},
        {"spendBasis": "CURRENT_SPEND", "thresholdPercent": 0.9},
        {"spendBasis": "CURRENT_SPEND", "thresholdPercent": 1},
        {"spendBasis": "FORECASTED_SPEND", "thresholdPercent": 1},
    ]
    assert RUNBOOK.rsplit("/", 1)[-1] in str(budget["displayName"])
    assert len(str(budget["displayName"])) <= 60  # Cloud Billing's limit
    assert [a.inputs["service"] for a in LAYER.mine(plan, API)] == [BUDGET_API]


@pytest.mark.parametrize("stack", STACKS)
def test_budget_mails_the_alert_addresses_and_never_pages(stack: str) -> None:
    plan = plan_for(stack, 1)
    rule = _budget(plan)["allUpdatesRule"]
    emails = sorted(c.name for c in plan.of_type(CHANNEL) if c.inputs["type"] == "email")

    assert isinstance(rule, dict)
    assert sorted(rule["monitoringNotificationChannels"]) == emails[:MAX_CHANNELS]
    assert emails
    assert not any("pagerduty" in channel for channel in rule["monitoringNotificationChannels"])
    assert rule["disableDefaultIamRecipients"] is False


@pytest.mark.unit
def test_a_missing_pin_names_the_make_target(tmp_path: Path) -> None:
    pinned = tmp_path / "budgets.json"
    pinned.write_text(json.dumps({"dev": {"1": 24}}))

    assert pinned_budget_usd("dev", 1, pinned) == 24
    with pytest.raises(BudgetNotPinned, match=r"no budget for prod at phase 2: run `make pin-budgets`"):
        pinned_budget_usd("prod", 2, pinned)
    with pytest.raises(BudgetNotPinned, match="make pin-budgets"):
        pinned_budget_usd("dev", 1, tmp_path / "absent.json")


@pytest.mark.unit
def test_the_pinned_file_holds_every_stack_and_phase() -> None:
    pinned = json.loads((ROOT / "infra" / "stacks" / "budgets.json").read_text())

    assert {(stack, int(phase)) for stack, by_phase in pinned.items() for phase in by_phase} == set(ALL)
    assert all(isinstance(usd, int) and usd >= 1 for by_phase in pinned.values() for usd in by_phase.values())
