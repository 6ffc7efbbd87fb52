"""Fixtures of the capacity rules (infra/policy/rules_capacity.py): prod sized for the top of its phase.

The rules read the usage model of the repository they check; ``heavier_usage`` writes a copy of the real
one with some figures changed into a temporary repository root, for loads no real sizing reaches.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from infra.cost.usage import USAGE_FILE
from infra.policy import tokens as t
from infra.policy.model import Resource

from .cases import Case, bad, firestore, ok, run_service
from .helpers import res


def heavier_usage(section: str, **figures: float) -> Path:
    """A repository root whose infra/cost/usage.yaml is the real one with ``figures`` of ``section``."""
    usage: dict[str, Any] = yaml.safe_load(USAGE_FILE.read_text())
    usage[section].update(figures)
    root = Path(tempfile.mkdtemp(prefix="pog-usage-"))
    (root / "infra" / "cost").mkdir(parents=True)
    (root / "infra" / "cost" / "usage.yaml").write_text(yaml.safe_dump(usage))
    return root


def api(region: str = "us-central1", *, maximum: int, concurrency: int = 80, cpu: str = "2") -> Resource:
    service = run_service(region)
    template = dict(service.props["template"])
    template["scaling"] = {"minInstanceCount": 2, "maxInstanceCount": maximum}
    template["maxInstanceRequestConcurrency"] = concurrency
    template["containers"] = [{**template["containers"][0], "resources": {"limits": {"cpu": cpu}}}]
    return res(t.RUN_SERVICE, service.name, **{**service.props, "template": template})


REGIONS = ("us-central1", "us-east4", "europe-west4")


def apis(maximum: int) -> tuple[Resource, ...]:
    return tuple(api(region, maximum=maximum) for region in REGIONS)


def redis_db(memory_gb: float, *, clustered: bool = False) -> Resource:
    return res(
        t.REDIS_DATABASE, "pog-prod-redis-db", memoryLimitInGb=memory_gb, supportOssClusterApi=clustered
    )


def redis_aa_db(memory_gb: float) -> Resource:
    return res(t.REDIS_AA_DATABASE, "pog-prod-redis-aa-db", memoryLimitInGb=memory_gb)


def game_databases() -> tuple[Resource, ...]:
    return (firestore(), *(firestore(f"games-{region}", region) for region in REGIONS))


HEAVY_GAMES = heavier_usage("firestore", writes_per_game=150)

CAPACITY_CASES: list[Case] = [
    ok("POG-CAP-001", "prod-phase-1", api(maximum=20, cpu="1")),
    ok("POG-CAP-001", "prod-phase-3", *apis(120), phase=3),
    ok("POG-CAP-001", "dev-is-not-sized-for", *(api(r, maximum=1) for r in REGIONS), environment="dev"),
    bad(
        "POG-CAP-001",
        "quarter-vcpu",
        api(maximum=1, concurrency=1000, cpu="0.25"),
        phase=2,
        expect="needs 699 requests/s, holds 432 (70% of 617) at 1,000,000 monthly players with"
        " maxInstanceCount 1: raise maxInstanceCount to 2",
    ),
    bad(
        "POG-CAP-001",
        "low-concurrency",
        api(maximum=1, concurrency=10),
        phase=2,
        expect="needs 35 request slots, holds 7 (70% of 10) at 1,000,000 monthly players (1 instances x 10"
        " concurrent): raise maxInstanceCount to 5",
    ),
    ok("POG-CAP-002", "prod-phase-2", api(maximum=60), phase=2),
    ok("POG-CAP-002", "prod-phase-3", *apis(120), phase=3),
    bad(
        "POG-CAP-002",
        "prod-phase-2-20-instances",
        api(maximum=20),
        phase=2,
        expect="for 1,233 live viewers and the requests in flight at 1,000,000 monthly players:"
        " raise maxInstanceCount to 23",
    ),
    bad(
        "POG-CAP-002",
        "prod-phase-3-one-region-lost",
        *apis(100),
        phase=3,
        violations=3,
        expect="over 2 of 3 regions (one lost): raise maxInstanceCount to 114",
    ),
    ok("POG-CAP-003", "prod-phase-1-2gb", redis_db(2)),
    ok("POG-CAP-003", "prod-phase-3-25gb", redis_aa_db(25), phase=3),
    ok("POG-CAP-003", "dev-phase-3-1gb", redis_aa_db(1), phase=3, environment="dev"),
    bad(
        "POG-CAP-003",
        "prod-phase-3-10gb",
        redis_aa_db(10),
        phase=3,
        expect="needs 19 GB, holds 8 (75% of 10) at 10,000,000 monthly players (boards 14.12 GB",
    ),
    ok("POG-CAP-004", "prod-phase-3", *game_databases(), *apis(120), phase=3),
    ok("POG-CAP-004", "prod-phase-1-one-database", firestore(), api(maximum=20)),
    bad(
        "POG-CAP-004",
        "game-writes-per-event",
        *game_databases(),
        *apis(120),
        phase=3,
        root=HEAVY_GAMES,
        violations=4,  # the three game databases and the per-player document
        expect="database games-us-central1 needs 46,233 writes/s, holds 7,000 (70% of 10,000)",
    ),
    bad(
        "POG-CAP-004",
        "per-document",
        firestore(),
        api(maximum=20),
        root=HEAVY_GAMES,
        expect="the busiest per-player document takes 1.25 writes/s",
    ),
    ok("POG-CAP-005", "prod-phase-1", api(maximum=20), redis_db(2)),
    ok("POG-CAP-005", "prod-phase-2-60", api(maximum=60), redis_db(10, clustered=True), phase=2),
    ok("POG-CAP-005", "prod-phase-3-120", *apis(120), redis_aa_db(25), phase=3),
    ok("POG-CAP-005", "dev", api(maximum=500), redis_db(1), environment="dev"),
    bad(
        "POG-CAP-005",
        "prod-phase-2-cluster-100",
        api(maximum=100),
        redis_db(10, clustered=True),
        phase=2,
        expect="may see 16,000 connections per node (100 instances x 80 x 2 client(s)); the limit is 10,000:"
        " lower maxInstanceCount to 62",
    ),
    bad(
        "POG-CAP-005",
        "prod-phase-3-200-per-region",
        *apis(200),
        redis_aa_db(25),
        phase=3,
        expect="may see 16,000 connections per endpoint (200 instances x 80 x 1 client(s))",
    ),
]
