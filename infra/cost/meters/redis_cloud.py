"""Redis Cloud Pro meters: billed per GB-hour of the databases' declared memory."""

from __future__ import annotations

from infra.cost.meters.base import HOURS_PER_MONTH, Charge, Context, Resource


def database(resource: Resource, ctx: Context) -> list[Charge]:
    """A Pro database: its memory limit, twice with a replica (replication holds a full second copy)."""
    inputs = resource["inputs"]
    memory = float(inputs.get("memoryLimitInGb", 0))
    copies = 2 if inputs.get("replication") else 1
    note = f"{memory:g} GB x {copies} cop{'ies' if copies > 1 else 'y'}"
    return [Charge("redis.pro_gb_hour", memory * copies * HOURS_PER_MONTH, note)]


def _regions(resource: Resource, ctx: Context) -> int:
    subscription_id = str(resource["inputs"].get("subscriptionId", ""))
    for sub in ctx.of_type("rediscloud:index/activeActiveSubscription:ActiveActiveSubscription"):
        if subscription_id in (f"{sub['name']}-id", sub["inputs"].get("name")):
            return len(sub["inputs"].get("creationPlan", {}).get("regions") or []) or 1
    return len(resource["inputs"].get("overrideRegions") or []) or 1


def active_active_database(resource: Resource, ctx: Context) -> list[Charge]:
    """An Active-Active database: its memory in every region of its subscription, at the Active-Active
    rate (which includes the in-region replica)."""
    memory = float(resource["inputs"].get("memoryLimitInGb", 0))
    regions = _regions(resource, ctx)
    return [
        Charge("redis.aa_gb_hour", memory * regions * HOURS_PER_MONTH, f"{memory:g} GB x {regions} regions")
    ]
