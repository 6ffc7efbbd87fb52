"""infra/stacks/budgets.json holds what `pog cost` computes now for each stack at the top of its phase."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from infra.plan.inventory import to_inventory
from scripts.pin_budgets import budget_usd, budgets, read_pinned, seed
from tests.infra.conftest import ALL, plan_for

BUDGET = "gcp:billing/budget:Budget"


def _inventory(stack: str, phase: int) -> dict[str, Any]:
    return to_inventory(plan_for(stack, phase), phase)


def test_pinned_budgets_are_the_estimate_of_each_phase() -> None:
    """Failed before issue 19: there was no budget, and no amount to keep in step with the estimate."""
    computed = budgets(_inventory(stack, phase) for stack, phase in ALL)

    assert read_pinned() == computed, (
        "infra/stacks/budgets.json differs from the `pog cost` estimate: run make pin-budgets"
    )


def test_the_budget_s_own_amount_does_not_move_the_estimate() -> None:
    """The pin plans with the old file in place: what it pins must not depend on that file."""
    inventory = _inventory("prod", 2)
    raised = copy.deepcopy(inventory)
    budgets_found = [r for r in raised["resources"] if r["type"] == BUDGET]
    assert len(budgets_found) == 1
    budgets_found[0]["inputs"]["amount"]["specifiedAmount"]["units"] = "999999"

    assert budget_usd(raised) == budget_usd(inventory)


@pytest.mark.unit
def test_seeding_keeps_pinned_amounts_and_fills_the_missing(tmp_path: Path) -> None:
    path = tmp_path / "budgets.json"
    path.write_text(json.dumps({"prod": {"3": 2614}}))

    seed(path)

    assert json.loads(path.read_text()) == {
        "dev": {"1": 1, "2": 1, "3": 1},
        "prod": {"1": 1, "2": 1, "3": 2614},
    }
