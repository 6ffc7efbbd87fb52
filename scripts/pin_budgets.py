"""Rewrite infra/stacks/budgets.json: each stack's monthly budget at each phase, from the `pog cost` estimate.

Each stack and phase is priced at the load `pog cost` uses (infra.cost.usage.priced_users): prod at the top
of the phase's user range, the load its sizing must hold; dev at its own testers' load. The budget resource
itself is free and its amount is priced by nothing, so planning with the old file in place gives the same
estimate as any other: the pin does not depend on what it rewrites. A missing file or entry is seeded with
1 USD first so the program can be planned at all.
Run it with `make pin-budgets`; tests/infra/cost/test_budgets.py fails when the file is stale.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from infra.cost.estimate import estimate
from infra.cost.prices import load_prices
from infra.cost.usage import load_usage, priced_users
from infra.plan.sources import plan_inventory
from infra.stacks.budget import BUDGETS_FILE

STACKS = ("dev", "prod")
PHASES = (1, 2, 3)
Budgets = dict[str, dict[str, int]]


def budget_usd(inventory: dict[str, Any]) -> int:
    """The estimate of a planned stack at its priced load, in whole dollars (at least 1)."""
    model = load_usage()
    users = priced_users(str(inventory["stack"]), int(inventory["phase"]), model)
    report = estimate(inventory, model.at(users), load_prices())
    return max(1, round(report.monthly_usd))


def budgets(inventories: Iterable[dict[str, Any]]) -> Budgets:
    amounts: Budgets = {}
    for inventory in inventories:
        amounts.setdefault(str(inventory["stack"]), {})[str(inventory["phase"])] = budget_usd(inventory)
    return amounts


def read_pinned(path: Path = BUDGETS_FILE) -> Budgets:
    try:
        pinned: Budgets = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return pinned


def write(amounts: Budgets, path: Path = BUDGETS_FILE) -> None:
    path.write_text(json.dumps(amounts, indent=2, sort_keys=True) + "\n")


def seed(path: Path = BUDGETS_FILE) -> None:
    """Give every stack x phase an amount so the program plans; real amounts replace them below."""
    pinned = read_pinned(path)
    for stack in STACKS:
        for phase in PHASES:
            pinned.setdefault(stack, {}).setdefault(str(phase), 1)
    write(pinned, path)


def main() -> None:
    seed()
    amounts = budgets(plan_inventory(stack, phase) for stack in STACKS for phase in PHASES)
    write(amounts)
    for stack, by_phase in sorted(amounts.items()):
        for phase, usd in sorted(by_phase.items()):
            users = priced_users(stack, int(phase), load_usage())
            print(f"{stack}@{phase}: ${usd:,} a month at {users:,} players")


if __name__ == "__main__":
    main()
