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
    return usage_with({section: figures})


def usage_with(sections: dict[str, dict[str, float]]) -> Path:
    """A repository root whose infra/cost/usage.yaml is the real one with the figures of several sections."""
    usage: dict[str, Any] = yaml.safe_load(USAGE_FILE.read_text())
    for section, figures in sections.items():
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


def rtdb_shards(count: int, project: str = "pot-of-gold-prod") -> tuple[Resource, ...]:
    """The Realtime Database shards as the data layer declares them: the default instance, then the others."""
    return tuple(
        res(
            t.RTDB_INSTANCE,
            "pog-prod-rtdb" if shard == 0 else f"pog-prod-rtdb-{shard}",
            instanceId=f"{project}-default-rtdb" if shard == 0 else f"{project}-rtdb-{shard}",
            type="DEFAULT_DATABASE" if shard == 0 else "USER_DATABASE",
        )
        for shard in range(count)
    )


def tiered_caching() -> Resource:
    return res("cloudflare:index/argoTieredCaching:ArgoTieredCaching", "pog-prod-tiered-caching", value="on")


HEAVY_GAMES = heavier_usage("firestore", writes_per_game=150)
#: Every online player watches a public board, of which one page is live: the edge's fetches, not the
#: viewers, bound the origin's load (134,640 requests per 30 s interval from 330 data centers, 24,480 from
#: 60 upper tiers; the 123,288 viewers alone would ask 246,575).
EDGE_BOUND = usage_with(
    {
        "players": {"live_viewer_share_of_online": 1, "friends_board_share_of_viewers": 0},
        "edge": {"live_pages_per_board": 1},
    }
)
#: Two-hour sessions: 147,945 players online at 1M monthly players, more than one shard's 140,000.
LONG_SESSIONS = heavier_usage("players", session_minutes=120)
#: Presence written at every move of a round (40 a game): 2,509 writes/s at 1M monthly players.
CHATTY_PRESENCE = heavier_usage("realtime", presence_writes_per_game=40)

CAPACITY_CASES: list[Case] = [
    ok("POG-CAP-001", "prod-phase-1", api(maximum=20, cpu="1")),
    ok("POG-CAP-001", "prod-phase-3", *apis(120), phase=3),
    ok("POG-CAP-001", "dev-is-not-sized-for", *(api(r, maximum=1) for r in REGIONS), environment="dev"),
    bad(
        "POG-CAP-001",
        "quarter-vcpu",
        api(maximum=1, concurrency=1000, cpu="0.25"),
        phase=2,
        expect="needs 493 requests/s, holds 432 (70% of 617) at 1,000,000 monthly players with"
        " maxInstanceCount 1: raise maxInstanceCount to 2",
    ),
    bad(
        "POG-CAP-001",
        "low-concurrency",
        api(maximum=1, concurrency=10),
        phase=2,
        expect="needs 25 request slots, holds 7 (70% of 10) at 1,000,000 monthly players (1 instances x 10"
        " concurrent): raise maxInstanceCount to 4",
    ),
    ok("POG-CAP-002", "prod-phase-2", api(maximum=60), phase=2),
    ok("POG-CAP-002", "prod-phase-3", *apis(120), phase=3),
    # Public boards left the streams for the CDN: 20 instances hold phase 2, as 60 held all its streams.
    ok("POG-CAP-002", "prod-phase-2-20-instances", api(maximum=20), phase=2),
    bad(
        "POG-CAP-002",
        "prod-phase-2-4-instances",
        api(maximum=4),
        phase=2,
        expect="needs 333 request slots, holds 224 (70% of 320) for 308 friends-board streams and the"
        " requests in flight at 1,000,000 monthly players: raise maxInstanceCount to 6",
    ),
    bad(
        "POG-CAP-002",
        "prod-phase-3-one-region-lost",
        *apis(20),
        phase=3,
        violations=3,
        expect="over 2 of 3 regions (one lost): raise maxInstanceCount to 30",
    ),
    ok(
        "POG-CAP-002",
        "edge-bound-with-tiered-caching",
        *(api(region, maximum=2, concurrency=1000) for region in REGIONS),
        tiered_caching(),
        phase=3,
        root=EDGE_BOUND,
    ),
    bad(
        "POG-CAP-002",
        "edge-bound-without-tiered-caching",
        *(api(region, maximum=2, concurrency=1000) for region in REGIONS),
        phase=3,
        root=EDGE_BOUND,
        violations=3,
        expect="with the public live boards' origin fetches (4,488 requests/s from 330 edge locations) at"
        " 10,000,000 monthly players, over 2 of 3 regions (one lost): raise maxInstanceCount to 3",
    ),
    ok("POG-CAP-003", "prod-phase-1-2gb", redis_db(2)),
    ok("POG-CAP-003", "prod-phase-3-25gb", redis_aa_db(25), phase=3),
    ok("POG-CAP-003", "dev-phase-3-1gb", redis_aa_db(1), phase=3, environment="dev"),
    bad(
        "POG-CAP-003",
        "prod-phase-3-10gb",
        redis_aa_db(10),
        phase=3,
        expect="needs 18 GB, holds 8 (75% of 10) at 10,000,000 monthly players (boards 14.12 GB",
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
    # The Realtime Database shards (POG-CAP-006 connections, POG-CAP-007 writes): phase 3 at the design point
    # of a million players online, phases 1-2 at the model's own peak.
    ok("POG-CAP-006", "prod-phase-1-one-shard", *rtdb_shards(1)),
    ok("POG-CAP-006", "prod-phase-2-one-shard", *rtdb_shards(1), phase=2),
    ok("POG-CAP-006", "prod-phase-3-20-shards", *rtdb_shards(20), phase=3),
    ok("POG-CAP-006", "dev-is-not-sized-for", *rtdb_shards(1), phase=3, environment="dev"),
    bad(
        "POG-CAP-006",
        "prod-phase-3-7-shards",
        *rtdb_shards(7),
        phase=3,
        expect="each of the 7 Realtime Database shard(s) needs 142,857 connections, holds 140,000 (70% of"
        " 200,000) for 1,000,000 players online (the phase's design point): raise realtime_shards to 20",
    ),
    bad(
        "POG-CAP-006",
        "prod-phase-2-long-sessions",
        *rtdb_shards(1),
        phase=2,
        root=LONG_SESSIONS,
        expect="needs 147,945 connections, holds 140,000 (70% of 200,000) for 147,945 players online at"
        " 1,000,000 monthly players: raise realtime_shards to 2",
    ),
    ok("POG-CAP-007", "prod-phase-2-one-shard", *rtdb_shards(1), phase=2),
    ok("POG-CAP-007", "prod-phase-3-20-shards", *rtdb_shards(20), phase=3),
    ok("POG-CAP-007", "dev-is-not-sized-for", *rtdb_shards(1), phase=3, environment="dev"),
    bad(
        "POG-CAP-007",
        "prod-phase-3-19-shards",
        *rtdb_shards(19),
        phase=3,
        expect="each of the 19 Realtime Database shard(s) needs 711 writes/s, holds 700 (70% of 1,000) for"
        " 1,000,000 players online (the phase's design point): raise realtime_shards to 20",
    ),
    bad(
        "POG-CAP-007",
        "prod-phase-2-chatty-presence",
        *rtdb_shards(1),
        phase=2,
        root=CHATTY_PRESENCE,
        expect="needs 2,509 writes/s, holds 700 (70% of 1,000) for 12,329 players online at 1,000,000"
        " monthly players: raise realtime_shards to 4",
    ),
]
