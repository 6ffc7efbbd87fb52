"""Meters: the six plans are fully priced, and a declared input moves the estimate by its price line."""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest

from infra.cost.estimate import CostReport, estimate
from infra.cost.meters import METERS, runs_per_month
from infra.cost.meters.base import HOURS_PER_MONTH, containers_size
from infra.cost.prices import load_prices
from infra.cost.usage import SECONDS_PER_MONTH, load_usage
from infra.plan.inventory import to_inventory
from tests.infra.conftest import ALL, plan_for

RUN_SERVICE = "gcp:cloudrunv2/service:Service"


@functools.cache
def _inventory(stack: str, phase: int) -> dict[str, Any]:
    return to_inventory(plan_for(stack, phase), phase)


def inventory(stack: str, phase: int) -> dict[str, Any]:
    return copy.deepcopy(_inventory(stack, phase))


def price(line: str) -> float:
    return load_prices().line(line).usd


def cost(inv: dict[str, Any], users: int = 1) -> CostReport:
    return estimate(inv, load_usage().at(users), load_prices())


def first(inv: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(r for r in inv["resources"] if r["type"] == type_)


@pytest.mark.parametrize(("stack", "phase"), ALL, ids=[f"{s}-p{p}" for s, p in ALL])
def test_every_type_in_the_six_plans_is_priced_or_free(stack: str, phase: int) -> None:
    """Failed before issue 19's meters: every type but Cloud Run was reported unpriced."""
    report = cost(inventory(stack, phase), 1_000_000)
    assert report.unpriced == []
    assert report.monthly_usd > 0


#: Redis Cloud backs up daily to a bucket that deletes objects after 30 days: a GB more, 30 GB-months more.
BACKUP_DAYS_KEPT = 30


def test_redis_memory_plus_one_gb_costs_its_gb_hours_twice_with_a_replica() -> None:
    """And the daily backups of that GB, kept 30 days in the backup bucket."""
    inv = inventory("prod", 1)
    before = cost(inv).monthly_usd
    database = first(inv, "rediscloud:index/subscriptionDatabase:SubscriptionDatabase")
    assert database["inputs"]["replication"] is True
    database["inputs"]["memoryLimitInGb"] += 1
    expected = 2 * HOURS_PER_MONTH * price("redis.pro_gb_hour") + BACKUP_DAYS_KEPT * price("gcs.standard_gib")
    assert cost(inv).monthly_usd - before == pytest.approx(expected)


def test_active_active_memory_plus_one_gb_costs_it_in_every_region() -> None:
    inv = inventory("prod", 3)
    before = cost(inv).monthly_usd
    database = first(
        inv, "rediscloud:index/activeActiveSubscriptionDatabase:ActiveActiveSubscriptionDatabase"
    )
    database["inputs"]["memoryLimitInGb"] += 1
    per_region = HOURS_PER_MONTH * price("redis.aa_gb_hour") + BACKUP_DAYS_KEPT * price("gcs.standard_gib")
    assert cost(inv).monthly_usd - before == pytest.approx(3 * per_region)


def _one_instance_month(service: dict[str, Any]) -> float:
    """An idle minimum instance for a month: its CPU and memory, the NAT gateway's hour for it, and its
    metrics sidecar's samples."""
    cpu, memory = containers_size(service["inputs"]["template"])
    ops = load_usage().operations
    samples = SECONDS_PER_MONTH / ops.metric_scrape_seconds * ops.metric_series_per_instance
    return (
        SECONDS_PER_MONTH * (cpu * price("run.idle_vcpu_second") + memory * price("run.idle_gib_second"))
        + HOURS_PER_MONTH * price("nat.instance_hour")
        + samples * price("mon.prometheus_sample")
    )


def test_one_more_minimum_instance_costs_an_idle_instance_month() -> None:
    inv = inventory("prod", 2)
    before = cost(inv).monthly_usd
    service = first(inv, RUN_SERVICE)
    service["inputs"]["template"]["scaling"]["minInstanceCount"] += 1
    assert cost(inv).monthly_usd - before == pytest.approx(_one_instance_month(service), rel=1e-6)


def test_one_more_api_region_costs_its_minimum_instances() -> None:
    """A copy of the API service in the same region: its idle minimum instances, and the secrets each of
    its instance starts reads (the players' requests only split, the free tiers cover them at one user)."""
    inv = inventory("prod", 2)
    before = cost(inv).monthly_usd
    service = copy.deepcopy(first(inv, RUN_SERVICE))
    service["name"] += "-copy"
    inv["resources"].append(service)
    minimum = service["inputs"]["template"]["scaling"]["minInstanceCount"]
    secrets = sum(1 for r in inv["resources"] if r["type"] == "gcp:secretmanager/secret:Secret")
    expected = minimum * _one_instance_month(service) + secrets * HOURS_PER_MONTH * price("sm.access")
    assert cost(inv).monthly_usd - before == pytest.approx(expected, rel=1e-4)


def test_adaptive_protection_enrolls_the_project_in_cloud_armor_enterprise() -> None:
    inv = inventory("prod", 1)
    armor = cost(inv)
    charges = {c.line: c for r in armor.resources for c in r.charges}
    assert charges["armor.enterprise_project"].usd == price("armor.enterprise_project")
    assert "armor.requests" not in charges


@pytest.mark.unit
@pytest.mark.parametrize(
    ("schedule", "runs"),
    [
        ("* * * * *", 60 * 24 * 730 / 24),
        ("*/15 * * * *", 4 * 24 * 730 / 24),
        ("*/5 * * * *", 12 * 24 * 730 / 24),
        ("0 3 * * *", 730 / 24),
        ("0 3 * * 0", 730 / 24 / 7),
        ("0 0 1 * *", 1),
        ("0 9-17 * * 1-5", 9 * 5 * 730 / 24 / 7),
        ("not a cron", 0),
    ],
)
def test_runs_per_month_of_a_cron_schedule(schedule: str, runs: float) -> None:
    assert runs_per_month(schedule) == pytest.approx(runs)


@pytest.mark.unit
def test_every_meter_is_registered_under_a_provider_type() -> None:
    assert METERS
    assert [type_ for type_ in METERS if ":" not in type_] == []
