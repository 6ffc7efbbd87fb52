"""scripts/cost_levers.py: each measure, taken away, moves the estimate the way docs/cost.md says."""

from __future__ import annotations

import pytest

from infra.cost.prices import load_prices
from infra.cost.usage import load_usage
from infra.plan.inventory import to_inventory
from scripts.cost_levers import EVENTS_ROUTE, LEVERS, UNBATCHED_CALLS, Lever, monthly
from tests.infra.conftest import plan_for

USERS = 1_000_000


@pytest.mark.parametrize("lever", LEVERS, ids=lambda lever: lever.name)
def test_taking_a_measure_away_moves_the_estimate(lever: Lever) -> None:
    inventory = to_inventory(plan_for("prod", 2), 2)
    model, prices = load_usage(), load_prices()
    other_model, other_prices = lever.without(model, prices)

    ours = monthly(inventory, model, prices, USERS)
    other = monthly(inventory, other_model, other_prices, USERS)

    # Measures the model counts cost more without them; committed use (not in the model) costs less.
    assert (other > ours) if lever.assumed else (other < ours), (lever.name, ours, other)


@pytest.mark.unit
def test_unbatched_events_are_one_call_and_one_write_each() -> None:
    model = load_usage()
    batching = next(lever for lever in LEVERS if "Batched" in lever.name)

    unbatched, _ = batching.without(model, load_prices())

    assert unbatched.traffic.per_game[EVENTS_ROUTE] == UNBATCHED_CALLS
    added = UNBATCHED_CALLS - model.traffic.per_game[EVENTS_ROUTE]
    assert unbatched.firestore.writes_per_game == model.firestore.writes_per_game + added
