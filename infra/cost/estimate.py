"""Price a planned stack under a load: per resource, per layer, in total, with the unpriced types named.

Free tiers apply per price line across the whole stack (one billing account): a line's billable quantity
is its total beyond the free tier, and its cost is shared by the resources that used it, in proportion.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from infra.cost.meters import FREE, METERS, Charge, Context, Meter, is_component
from infra.cost.prices import PriceTable
from infra.cost.usage import Load


@dataclass(frozen=True)
class PricedCharge:
    line: str
    quantity: float
    usd: float
    note: str = ""


@dataclass
class ResourceCost:
    type: str
    name: str
    layer: str
    charges: list[PricedCharge] = field(default_factory=list)

    @property
    def monthly_usd(self) -> float:
        return sum(c.usd for c in self.charges)


@dataclass
class CostReport:
    stack: str
    phase: int
    users: int
    resources: list[ResourceCost]
    #: (type, name) of every resource no meter and no free entry covers.
    unpriced: list[tuple[str, str]]

    @property
    def monthly_usd(self) -> float:
        return sum(r.monthly_usd for r in self.resources)

    def by_layer(self) -> dict[str, float]:
        layers: dict[str, float] = defaultdict(float)
        for resource in self.resources:
            layers[resource.layer] += resource.monthly_usd
        return dict(sorted(layers.items()))


def layer_of(resource: dict[str, Any]) -> str:
    """The component a resource belongs to (``potgold:edge:Edge::pog-prod-edge`` -> ``edge``)."""
    parent = resource.get("parent") or ""
    parts = parent.split(":")
    return parts[1] if parent.startswith("potgold:") and len(parts) > 1 else "stack"


def estimate(
    inventory: dict[str, Any],
    load: Load,
    prices: PriceTable,
    meters: dict[str, Meter] = METERS,
    free: dict[str, str] = FREE,
) -> CostReport:
    ctx = Context(inventory, load)
    metered: list[tuple[ResourceCost, list[Charge]]] = []
    unpriced: list[tuple[str, str]] = []
    for resource in inventory["resources"]:
        type_, name = resource["type"], resource["name"]
        meter = meters.get(type_)
        if meter is None:
            if type_ not in free and not is_component(type_):
                unpriced.append((type_, name))
            continue
        metered.append((ResourceCost(type_, name, layer_of(resource)), meter(resource, ctx)))
    totals: dict[str, float] = defaultdict(float)
    for _, charges in metered:
        for charge in charges:
            totals[charge.line] += charge.quantity
    for cost, charges in metered:
        for charge in charges:
            line = prices.line(charge.line)
            total = totals[charge.line]
            billable_share = max(0.0, total - line.free_per_month) / total if total else 0.0
            usd = charge.quantity * billable_share * line.usd
            cost.charges.append(PricedCharge(charge.line, charge.quantity, usd, charge.note))
    return CostReport(
        stack=str(inventory.get("stack")),
        phase=int(inventory.get("phase", 0)),
        users=load.users,
        resources=[cost for cost, _ in metered],
        unpriced=sorted(unpriced),
    )
