"""Phase profiles: the only place where scaling phases and environments differ.

A profile is pure data derived from (environment, phase); components read it, never the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Environment = Literal["dev", "prod"]
ENVIRONMENTS: tuple[Environment, ...] = ("dev", "prod")
PHASES: tuple[int, ...] = (1, 2, 3)
PHASE_CHOICES = f"{', '.join(map(str, PHASES[:-1]))} or {PHASES[-1]}"


class PhaseError(ValueError):
    """A phase that is not one of PHASES; the message reads after the name of what was given."""


def parse_phase(value: int | str | None) -> int:
    """The phase as a number, from an option (int) or a config value or operand (text).

    Raises PhaseError("must be 1, 2 or 3; got '4'"): callers prefix where the value came from.
    """
    text = str(value).strip() if value is not None else ""
    if text.isdigit() and int(text) in PHASES:
        return int(text)
    got = "nothing" if not text else value if isinstance(value, int) else repr(value)
    raise PhaseError(f"must be {PHASE_CHOICES}; got {got}")


class RedisTopology(StrEnum):
    REPLICATED = "replicated"  # one database, optional replica (phase 1)
    CLUSTERED = "clustered"  # OSS cluster API, sharded (phase 2)
    ACTIVE_ACTIVE = "active_active"  # conflict-free replicated across the API regions (phase 3)


@dataclass(frozen=True)
class RunScaling:
    min_instances: int
    max_instances: int
    cpu: str
    memory: str
    concurrency: int


@dataclass(frozen=True)
class RedisSizing:
    topology: RedisTopology
    memory_gb: float
    ops_per_second: int
    replication: bool


@dataclass(frozen=True)
class PhaseProfile:
    environment: Environment
    phase: int
    users: str
    api_region_count: int
    run: RunScaling
    # Firestore: phase 2 moves game sessions to their own database ("sharding"),
    # phase 3 gives every API region its own game database ("federation").
    game_sessions_database: bool
    regional_game_databases: bool
    redis: RedisSizing
    backups_in_other_region: bool
    edge_asset_caching: bool
    # Alert sets read from monitoring/: "core" always, "capacity" from phase 2, "multi_region" in phase 3.
    alert_sets: tuple[str, ...]
    # Cloudflare's HTTP DDoS managed ruleset: "default" is its most sensitive level (High).
    edge_ddos_sensitivity: Literal["default", "medium", "low"]
    # Cloud Armor Adaptive Protection (Layer 7 DDoS detection) on the API backends' policy.
    armor_adaptive_protection: bool
    # Firebase App Check: enforced on the Firebase services and by the API (POG_APP_CHECK=enforce), or
    # only measured (UNENFORCED, monitor) while clients without App Check still exist.
    app_check_enforced: bool
    # Realtime Database instances players are hashed over (presence and messages): shard 0 is the
    # project's default instance, the others USER_DATABASE instances (infra/stacks/data.py).
    realtime_shards: int

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def multi_region(self) -> bool:
        return self.api_region_count > 1


_RUN_SCALING: dict[tuple[Environment, int], RunScaling] = {
    ("dev", 1): RunScaling(0, 5, "1", "512Mi", 80),
    ("prod", 1): RunScaling(1, 20, "1", "512Mi", 80),
    ("dev", 2): RunScaling(0, 10, "2", "1Gi", 80),
    # Prod's maxima come from the capacity rules (pog check, POG-CAP-*) at the top of each phase's range:
    # enough for its peak requests and live streams with 30 % headroom (phase 3: in two regions, one lost),
    # few enough that every instance's Redis connections stay under one endpoint's 10,000 (POG-CAP-005:
    # 100 instances on the phase 2 cluster, or 200 per region in phase 3, could open 16,000).
    ("prod", 2): RunScaling(2, 60, "2", "1Gi", 80),
    # Failover needs a warm instance in every region, dev included.
    ("dev", 3): RunScaling(1, 10, "2", "1Gi", 80),
    ("prod", 3): RunScaling(2, 120, "2", "1Gi", 80),
}

_REDIS_SIZING: dict[tuple[Environment, int], RedisSizing] = {
    ("dev", 1): RedisSizing(RedisTopology.REPLICATED, 1, 1_000, replication=False),
    ("prod", 1): RedisSizing(RedisTopology.REPLICATED, 2, 10_000, replication=True),
    ("dev", 2): RedisSizing(RedisTopology.CLUSTERED, 2, 10_000, replication=False),
    ("prod", 2): RedisSizing(RedisTopology.CLUSTERED, 10, 50_000, replication=True),
    ("dev", 3): RedisSizing(RedisTopology.ACTIVE_ACTIVE, 1, 1_000, replication=True),
    # 10M players x 12 boards x 117.7 B = 14.1 GB of boards, + 4.3 GB of cached profiles and rate limits
    # = 18.5 GB (presence left Redis for the Realtime Database in issue 20): 25 GB keeps a quarter free
    # (POG-CAP-003; 10 GB until issue 19).
    ("prod", 3): RedisSizing(RedisTopology.ACTIVE_ACTIVE, 25, 50_000, replication=True),
}

#: Realtime Database shards. Each instance holds 200,000 simultaneous connections and about 1,000 writes/s
#: (Firebase's limits page); the capacity rules (POG-CAP-006, POG-CAP-007) keep each shard at 70 % of both.
_REALTIME_SHARDS: dict[tuple[Environment, int], int] = {
    # Dev exercises sharding (two shards, the client's hash, the resync) one phase before prod needs it.
    ("dev", 1): 1,
    ("dev", 2): 1,
    ("dev", 3): 2,
    # Phases 1-2 by the capacity rules at the top of their range: at 1M monthly players 12,300 players are
    # online at peak (9 % of one instance's 140,000) and write ~170 times a second (24 % of 700).
    ("prod", 1): 1,
    ("prod", 2): 1,
    # Phase 3 at the design point, a million players online (usage.yaml
    # realtime.design_online_players; the model's own peak at 10M monthly players is 123,000): connections
    # need ceil(1,000,000 / 140,000) = 8 shards, but the writes bind first: ~13,500 writes/s (online at
    # connect, offline on disconnect, two state changes a game, messages) need ceil(13,500 / 700) = 20.
    # An instance has no fixed fee.
    ("prod", 3): 20,
}

_USERS = {1: "0-100K", 2: "100K-1M", 3: "1M+"}
_ALERT_SETS = {1: ("core",), 2: ("core", "capacity"), 3: ("core", "capacity", "multi_region")}


def profile_for(environment: Environment, phase: int) -> PhaseProfile:
    if environment not in ENVIRONMENTS or phase not in PHASES:
        raise ValueError(f"no phase profile for environment={environment!r} phase={phase!r}")
    return PhaseProfile(
        environment=environment,
        phase=phase,
        users=_USERS[phase],
        api_region_count=3 if phase == 3 else 1,
        run=_RUN_SCALING[(environment, phase)],
        game_sessions_database=phase >= 2,
        regional_game_databases=phase >= 3,
        redis=_REDIS_SIZING[(environment, phase)],
        backups_in_other_region=phase >= 2,
        edge_asset_caching=phase >= 2,
        alert_sets=_ALERT_SETS[phase],
        # Prod at its most sensitive; dev one level lower, so load tests against it are not mitigated.
        edge_ddos_sensitivity="default" if environment == "prod" else "medium",
        # Prod always; dev once it serves real traffic volumes (phase 2+), where its model has a baseline.
        armor_adaptive_protection=environment == "prod" or phase >= 2,
        # Prod refuses unattested clients; dev measures, so debug builds and tools keep working.
        app_check_enforced=environment == "prod",
        realtime_shards=_REALTIME_SHARDS[(environment, phase)],
    )
