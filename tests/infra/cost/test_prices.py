"""The price table: every line dated and sourced, and every line used by a meter in one of the six plans."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pytest

from infra.cost.estimate import estimate
from infra.cost.prices import PriceTable, load_prices
from infra.cost.usage import load_usage
from infra.plan.inventory import to_inventory
from tests.infra.conftest import ALL, plan_for

#: The top of each phase's user range (the architecture's figures).
TOP_OF_PHASE = {1: 100_000, 2: 1_000_000, 3: 10_000_000}


@functools.cache
def inventory(stack: str, phase: int) -> dict[str, Any]:
    return to_inventory(plan_for(stack, phase), phase)


def lines_used() -> set[str]:
    used: set[str] = set()
    for stack, phase in ALL:
        report = estimate(inventory(stack, phase), load_usage().at(TOP_OF_PHASE[phase]), load_prices())
        used |= {charge.line for resource in report.resources for charge in resource.charges}
    return used


def test_every_price_line_is_used_and_every_used_line_is_priced() -> None:
    """No line sits in the table for nothing, and no meter names a line the table lacks."""
    table = set(load_prices().lines)
    used = lines_used()
    assert sorted(table - used) == []
    assert sorted(used - table) == []


@pytest.mark.unit
def test_every_line_has_an_https_source_and_a_read_date() -> None:
    table: PriceTable = load_prices()
    undated = [i for i, line in table.lines.items() if not line.source.startswith("https://")]
    future = [i for i, line in table.lines.items() if line.read_on > dt.date(2027, 1, 1)]
    assert table.lines, "the price table is empty"
    assert undated == []
    assert future == []


@pytest.mark.unit
def test_lines_not_read_from_a_page_say_so_in_their_note() -> None:
    """A best-known price is marked "not re-read: <why>", so a reader knows which figures to check first."""
    table = load_prices()
    vague = [i for i, line in table.lines.items() if "not re-read" in line.note and ":" not in line.note]
    assert vague == []
