"""Fixtures of the budget rule (POG-COST-001): a stack with its budget and mail channels, each failing case
the passing one with one piece taken away or changed."""

from __future__ import annotations

from typing import Any

from infra.policy import tokens as t
from infra.policy.model import Resource
from infra.policy.rules_cost import BUDGET

from .cases import Case, bad, ok
from .helpers import res

CHANNELS = ("pog-prod-email-oncall", "pog-prod-email-platform")
THRESHOLDS = [
    {"thresholdPercent": 0.5, "spendBasis": "CURRENT_SPEND"},
    {"thresholdPercent": 0.9, "spendBasis": "CURRENT_SPEND"},
    {"thresholdPercent": 1, "spendBasis": "CURRENT_SPEND"},
    {"thresholdPercent": 1, "spendBasis": "FORECASTED_SPEND"},
]


def channel(name: str) -> Resource:
    return res(t.NOTIFICATION_CHANNEL, name, type="email", labels={"email_address": f"{name}@example.com"})


def budget(**overrides: Any) -> Resource:
    props: dict[str, Any] = {
        "billingAccount": "0F3A7C-91B2D4-E6C805",
        "amount": {"specifiedAmount": {"currencyCode": "USD", "units": "33"}},
        "budgetFilter": {"calendarPeriod": "MONTH", "projects": ["projects/123456789012"]},
        "thresholdRules": THRESHOLDS,
        "allUpdatesRule": {"monitoringNotificationChannels": list(CHANNELS)},
    }
    props.update(overrides)
    return res(BUDGET, "pog-prod-budget", **props)


def stack(*resources: Resource) -> tuple[Resource, ...]:
    return (*map(channel, CHANNELS), *resources)


COST_CASES: list[Case] = [
    ok("POG-COST-001", "budget-mails-its-channels", *stack(budget())),
    ok(
        "POG-COST-001",
        "spend-basis-defaults-to-current",
        *stack(
            budget(
                thresholdRules=[{"thresholdPercent": r["thresholdPercent"]} for r in THRESHOLDS[:3]]
                + [THRESHOLDS[3]]
            )
        ),
    ),
    bad("POG-COST-001", "no-budget", *stack(), expect="no billing budget"),
    bad(
        "POG-COST-001",
        "no-forecast-alert",
        *stack(budget(thresholdRules=THRESHOLDS[:3])),
        expect="missing 100% forecasted",
    ),
    bad(
        "POG-COST-001",
        "only-the-whole-amount",
        *stack(budget(thresholdRules=[THRESHOLDS[2]])),
        expect="alerts at 100% current; missing 50% current, 90% current, 100% forecasted",
    ),
    bad(
        "POG-COST-001",
        "no-channel",
        *stack(budget(allUpdatesRule={"disableDefaultIamRecipients": False})),
        expect="notifies no monitoring channel",
    ),
    bad(
        "POG-COST-001",
        "foreign-channel",
        *stack(budget(allUpdatesRule={"monitoringNotificationChannels": [*CHANNELS, "someone-else"]})),
        expect="notifies 'someone-else', which is not a notification channel of this stack",
    ),
    bad(
        "POG-COST-001",
        "too-many-channels",
        *(channel(f"pog-prod-email-{n}") for n in range(6)),
        budget(allUpdatesRule={"monitoringNotificationChannels": [f"pog-prod-email-{n}" for n in range(6)]}),
        expect="names 6 channels; Cloud Billing accepts at most 5",
    ),
    bad(
        "POG-COST-001",
        "whole-billing-account",
        *stack(budget(budgetFilter={"calendarPeriod": "MONTH"})),
        expect="not filtered to the stack's project",
    ),
    bad(
        "POG-COST-001",
        "no-amount",
        *stack(budget(amount={"lastPeriodAmount": True})),
        expect="has no specified amount",
    ),
]
