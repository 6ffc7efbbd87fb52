"""The estimate: unpriced types reported, free tiers applied per line across the stack."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from infra.cost.estimate import estimate
from infra.cost.meters import Charge, Context
from infra.cost.prices import PriceLine, PriceTable
from infra.cost.usage import load_usage

pytestmark = pytest.mark.unit

TABLE = PriceTable(
    lines={
        "thing.unit": PriceLine(
            usd=0.5,
            unit="unit",
            free_per_month=100,
            source="https://example.test/p",
            read_on=dt.date(2026, 12, 7),
        )
    }
)


def inventory(*quantities: float, extra: str | None = None) -> dict[str, Any]:
    resources: list[dict[str, Any]] = [
        {"type": "test:thing", "name": f"t{i}", "parent": "potgold:data:Data::d", "inputs": {"q": q}}
        for i, q in enumerate(quantities)
    ]
    if extra:
        resources.append({"type": extra, "name": "x", "parent": None, "inputs": {}})
    return {"stack": "dev", "phase": 1, "resources": resources}


def thing(resource: dict[str, Any], ctx: Context) -> list[Charge]:
    return [Charge("thing.unit", float(resource["inputs"]["q"]))]


def run(inv: dict[str, Any]) -> float:
    return estimate(inv, load_usage().at(10), TABLE, meters={"test:thing": thing}, free={}).monthly_usd


def test_an_unknown_type_is_reported_unpriced_not_counted_as_zero() -> None:
    report = estimate(
        inventory(1, extra="gcp:new/thing:Thing"),
        load_usage().at(10),
        TABLE,
        meters={"test:thing": thing},
        free={},
    )
    assert report.unpriced == [("gcp:new/thing:Thing", "x")]


def test_components_and_providers_are_not_unpriced() -> None:
    report = estimate(inventory(extra="potgold:edge:Edge"), load_usage().at(10), TABLE, meters={}, free={})
    assert report.unpriced == []


def test_a_line_below_its_free_tier_costs_nothing() -> None:
    assert run(inventory(40, 60)) == 0


def test_above_the_free_tier_only_the_excess_is_billed_and_shared_in_proportion() -> None:
    report = estimate(inventory(150, 50), load_usage().at(10), TABLE, meters={"test:thing": thing}, free={})
    assert report.monthly_usd == pytest.approx(100 * 0.5)
    first, second = (r.monthly_usd for r in report.resources)
    assert first == pytest.approx(3 * second)
    assert report.by_layer() == {"data": pytest.approx(50)}
