"""What each cost-saving measure is worth in the `pog cost` model: prod priced at 10K, 100K, 1M and 10M
players (each at the phase it needs), with the measure as the usage model has it and without it.

Prints the Markdown table of docs/cost.md ("What each measure is worth"); refresh the page with its output
after a change to the usage model, the prices or the meters:

    .venv/bin/python -m scripts.cost_levers [--stack prod]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.cost.estimate import estimate
from infra.cost.prices import PriceTable, load_prices
from infra.cost.usage import UsageModel, load_usage, phase_for
from infra.plan.sources import plan_inventory

USERS = (10_000, 100_000, 1_000_000, 10_000_000)
#: Committed-use discounts, as the providers publish them for a one-year commitment. Cloud Run: 17 % on
#: CPU and memory (cloud.google.com/run/pricing, "Committed use discounts"). Redis Cloud: annual plans
#: are quoted per contract; 15 % is an assumption, not a published price.
COMMITTED_USE = {"run.vcpu_second": 0.17, "run.gib_second": 0.17, "run.idle_vcpu_second": 0.17,
                 "run.idle_gib_second": 0.17, "redis.": 0.15}  # fmt: skip


@dataclass(frozen=True)
class Lever:
    name: str
    #: What the model assumes, and the alternative priced against it.
    ours: str
    other: str
    #: The usage model and the price table without the measure.
    without: Callable[[UsageModel, PriceTable], tuple[UsageModel, PriceTable]]
    #: True when the model already counts the measure (the alternative costs more); False when the
    #: measure is not in the model (the alternative is the saving).
    assumed: bool = True


def _traffic(model: UsageModel, **update: Any) -> UsageModel:
    return model.model_copy(update={"traffic": model.traffic.model_copy(update=update)})


def _no_cache(model: UsageModel, prices: PriceTable) -> tuple[UsageModel, PriceTable]:
    return _traffic(model, cache_hit_rate=0.5), prices


def _no_compression(model: UsageModel, prices: PriceTable) -> tuple[UsageModel, PriceTable]:
    return _traffic(model, compression_ratio=0.0), prices


EVENTS_ROUTE = "POST /v1/games/{game_id}/events"
UNBATCHED_CALLS = 20  # one call (and one Firestore write) per event: about 20 a round


def _no_batching(model: UsageModel, prices: PriceTable) -> tuple[UsageModel, PriceTable]:
    batched = model.traffic.per_game.get(EVENTS_ROUTE, 0.0)
    per_game = {**model.traffic.per_game, EVENTS_ROUTE: float(UNBATCHED_CALLS)}
    firestore = model.firestore.model_copy(
        update={"writes_per_game": model.firestore.writes_per_game + UNBATCHED_CALLS - batched}
    )
    unbatched = _traffic(model, per_game=per_game)
    return unbatched.model_copy(update={"firestore": firestore}), prices


def _committed_use(model: UsageModel, prices: PriceTable) -> tuple[UsageModel, PriceTable]:
    def discount(line_id: str) -> float:
        return next((d for prefix, d in COMMITTED_USE.items() if line_id.startswith(prefix)), 0.0)

    lines = {
        line_id: line.model_copy(update={"usd": line.usd * (1 - discount(line_id))})
        for line_id, line in prices.lines.items()
    }
    return model, prices.model_copy(update={"lines": lines})


LEVERS = (
    Lever("Cache hit rate", "0.92", "0.5", _no_cache),
    Lever("Compression of responses (egress)", "on (70 % smaller)", "off", _no_compression),
    Lever("Batched game events", "3 calls a game", f"{UNBATCHED_CALLS} calls a game", _no_batching),
    Lever(
        "Committed use (Cloud Run 1 year, Redis Cloud annual)",
        "list prices",
        "committed",
        _committed_use,
        assumed=False,
    ),
)


def monthly(inventory: dict[str, Any], model: UsageModel, prices: PriceTable, users: int) -> float:
    return estimate(inventory, model.at(users), prices).monthly_usd


def table(stack: str = "prod") -> str:
    model, prices = load_usage(), load_prices()
    inventories = {phase: plan_inventory(stack, phase) for phase in sorted({phase_for(u) for u in USERS})}
    header = " | ".join(f"{users:,} players" for users in USERS)
    rows = [f"| Measure | Model | Priced against | {header} |", "|---|---|---|" + "---:|" * len(USERS)]
    base = [monthly(inventories[phase_for(u)], model, prices, u) for u in USERS]
    rows.append("| **Our estimate** | | | " + " | ".join(f"**${usd:,.0f}**" for usd in base) + " |")
    for lever in LEVERS:
        other_model, other_prices = lever.without(model, prices)
        cells = []
        for users, ours in zip(USERS, base, strict=True):
            other = monthly(inventories[phase_for(users)], other_model, other_prices, users)
            saving = other - ours if lever.assumed else ours - other
            share = saving / max(ours, other) if max(ours, other) else 0.0
            cells.append(f"${saving:,.0f} ({share:.0%})")
        rows.append(f"| {lever.name} | {lever.ours} | {lever.other} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="prod", choices=("dev", "prod"))
    print(table(parser.parse_args().stack))


if __name__ == "__main__":
    main()
