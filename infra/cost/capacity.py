"""Capacity arithmetic: what the usage model's load needs of a stack, against what its sizing holds.

Pure functions of a ``Load`` (infra/cost/usage.py) and a few declared sizes; the capacity rules of
``pog check`` (infra/policy/rules_capacity.py) read them and the docs quote them. Every limit and every
figure not in usage.yaml is named here with where it comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.cost.usage import SECONDS_PER_MONTH, Load

#: Use at most this share of the instances' request slots or throughput at the model's peak: a peak
#: above the model's (a launch, a feature) and Cloud Run's scaling lag need the rest.
INSTANCE_HEADROOM = 0.7
#: Redis answers OOM to writes past its memory (the boards have no TTL to evict): keep a quarter free.
REDIS_MEMORY_HEADROOM = 0.75
#: Share of Firestore's per-database write limit the peak may use.
FIRESTORE_HEADROOM = 0.7

#: The image runs one uvicorn process (Dockerfile, no ``--workers``): one event loop uses one vCPU, so
#: an instance's throughput grows with its vCPUs only up to the worker count.
UVICORN_WORKERS = 1
#: Mean time a request holds its slot: bench/README.md, the finish-game flow's median of 33-66 ms (cached
#: reads are faster, ~17 ms p50): the slower figure for all routes.
MEAN_REQUEST_SECONDS = 0.05
#: Cloud Run's default ``maxInstanceRequestConcurrency`` when a service does not set it.
DEFAULT_CONCURRENCY = 80

#: redis-py's asyncio ConnectionPool default ``max_connections`` (redis-py 8; app/repositories/clients.py
#: sets none), per client and per node of a cluster.
REDIS_POOL_PER_CLIENT = 100
#: Redis clients per API instance on a cluster: the app's and the ``limits`` storage's own cluster client
#: (app/repositories/clients.py ``limits_storage``). On a single endpoint the storage shares the pool.
REDIS_CLUSTER_CLIENTS = 2
#: Planning limit of concurrent connections per Redis endpoint (per node with the OSS Cluster API, per
#: region for Active-Active): Redis's default ``maxclients`` (redis.io, "ERR max number of clients
#: reached"). Redis Cloud Pro publishes no per-plan cap; this stays until Redis confirms a higher one.
REDIS_CONNECTIONS_PER_ENDPOINT = 10_000

#: Firestore's documented soft limit of writes per second per database (quotas page, "Standard limits").
FIRESTORE_WRITES_PER_DATABASE = 10_000
#: Firestore's sustained write rate to one document ("Best practices": about 1 per second).
FIRESTORE_WRITES_PER_DOCUMENT = 1.0
#: The "500/50/5" rule: new traffic starts at 500 operations/s and grows 50 % every 5 minutes.
FIRESTORE_RAMP_START = 500
#: Realtime Database, per instance (Firebase's "Realtime Database Limits" page,
#: firebase.google.com/docs/database/usage/limits): 200,000 simultaneous connections ("Simultaneous
#: connections: 200,000"; to scale beyond, use multiple databases) ...
RTDB_CONNECTIONS_PER_INSTANCE = 200_000
#: ... and about 1,000 write operations per second, sustained (the same page, "Writes"; bursts above it are
#: absorbed, a sustained rate above it is throttled). The figure the issue and the sharding guide size by.
RTDB_WRITES_PER_INSTANCE = 1_000
#: Share of each an instance may use at the peak: players hash to shards evenly (app/domain/realtime.py
#: shard_for: sha256, imbalance ~sqrt(n), under 1 % at these counts), and a shard cannot be added at peak.
RTDB_HEADROOM = 0.7

#: A board per period (daily, weekly, monthly, all time: app/domain/leaderboards.py Period) and scope,
#: global or one country; friends boards are computed per player and never reach the edge.
BOARD_PERIODS = 4

#: Redis bytes per cached entry beyond the measured boards. A cached profile: the Firestore profile's size
#: (usage.yaml firestore.profile_bytes) plus ~90 B of key and expiry, kept 24 h (profile_cache_ttl_s) so
#: every daily active player has one.
CACHE_ENTRY_OVERHEAD_BYTES = 90
#: Sliding windows of ``limits``: two keys (previous and current window) per limit a player meets in a
#: session (per-user API limit, per-IP limit, a route's own): six keys of ~110 B per online player.
RATE_LIMIT_KEYS_PER_ONLINE_PLAYER = 6
RATE_LIMIT_KEY_BYTES = 110

GB = 1e9


def serving_regions(api_regions: int) -> int:
    """Regions that carry the load at peak: all of one, or all but one of several (failover is what the
    regions are for: the load balancer moves a lost region's players to the others)."""
    return api_regions - 1 if api_regions > 1 else 1


@dataclass(frozen=True)
class RunSizing:
    """One region's Cloud Run service as declared."""

    max_instances: int
    concurrency: int
    vcpus: float

    @property
    def effective_vcpus(self) -> float:
        return min(self.vcpus, UVICORN_WORKERS)

    @property
    def slots(self) -> int:
        return self.max_instances * self.concurrency


@dataclass(frozen=True)
class Verdict:
    """A need against a limit, both in ``unit``; ``usable`` is the limit times the headroom."""

    need: float
    limit: float
    headroom: float
    unit: str

    @property
    def usable(self) -> float:
        return self.limit * self.headroom

    @property
    def holds(self) -> bool:
        return self.need <= self.usable

    def describe(self) -> str:
        share = f" ({self.headroom:.0%} of {self.limit:,.0f})" if self.headroom < 1 else ""
        return f"needs {self.need:,.0f} {self.unit}, holds {self.usable:,.0f}{share}"


def instances_for(need: float, per_instance: float, headroom: float = INSTANCE_HEADROOM) -> int:
    """The max instances that hold ``need`` with ``headroom``."""
    return math.ceil(need / (per_instance * headroom))


def peak_requests_per_region(load: Load, api_regions: int) -> float:
    return load.peak_requests_per_second / serving_regions(api_regions)


def request_slots_per_region(load: Load, api_regions: int) -> float:
    """Requests in flight at peak in one region (Little's law: rate x mean time held)."""
    return peak_requests_per_region(load, api_regions) * MEAN_REQUEST_SECONDS


def live_streams_per_region(load: Load, api_regions: int) -> float:
    """Server-sent-events streams open at peak in one region: the friends boards' viewers only (public
    boards are polled through the CDN)."""
    return load.peak_friends_board_viewers / serving_regions(api_regions)


def public_boards(load: Load) -> int:
    """Boards the edge serves: each period's global board and one per country."""
    return BOARD_PERIODS * (1 + load.model.players.countries)


def edge_locations(load: Load, tiered: bool) -> int:
    """Cloudflare data centers that ask the origin for a live page: the upper tiers with tiered caching,
    otherwise every data center that has a viewer."""
    edge = load.model.edge
    return edge.upper_tier_locations if tiered else edge.locations_without_tiering


def edge_origin_requests_per_interval(load: Load, tiered: bool) -> float:
    """Requests the public live boards send to the origin per interval: each edge location fetches each
    live page's latest document (cached one interval) and its new segment (immutable) once. Never more
    than the viewers themselves would ask: one latest document and one segment each per interval."""
    edge = load.model.edge
    per_location = public_boards(load) * edge.live_pages_per_board * edge.requests_per_page_per_interval
    viewers = load.peak_public_board_viewers * edge.requests_per_page_per_interval
    return min(per_location * edge_locations(load, tiered), viewers)


def edge_origin_requests_per_second(load: Load, tiered: bool) -> float:
    return edge_origin_requests_per_interval(load, tiered) / load.model.edge.interval_seconds


def requests_per_instance(load: Load, run: RunSizing) -> float:
    """What one instance serves: the measured requests/s per vCPU x the vCPUs one uvicorn process uses."""
    return load.model.measured.requests_per_second_per_vcpu * run.effective_vcpus


def api_throughput(load: Load, run: RunSizing, api_regions: int) -> Verdict:
    """Peak requests/s of one region against its max instances x measured requests/s per instance."""
    return Verdict(
        peak_requests_per_region(load, api_regions),
        run.max_instances * requests_per_instance(load, run),
        INSTANCE_HEADROOM,
        "requests/s",
    )


def api_slots(load: Load, run: RunSizing, api_regions: int) -> Verdict:
    """Requests in flight at peak against max instances x concurrency."""
    return Verdict(request_slots_per_region(load, api_regions), run.slots, INSTANCE_HEADROOM, "request slots")


def live_slots(load: Load, run: RunSizing, api_regions: int) -> Verdict:
    """Friends-board streams (one request slot each for as long as they are open) plus the requests in
    flight, against max instances x concurrency."""
    need = live_streams_per_region(load, api_regions) + request_slots_per_region(load, api_regions)
    return Verdict(need, run.slots, INSTANCE_HEADROOM, "request slots")


def live_throughput(load: Load, run: RunSizing, api_regions: int, tiered: bool) -> Verdict:
    """The peak requests plus what the edge fetches for the public live boards, in one region (the load
    balancer spreads the upper tiers' requests like any other), against its measured throughput."""
    edge = edge_origin_requests_per_second(load, tiered) / serving_regions(api_regions)
    return Verdict(
        peak_requests_per_region(load, api_regions) + edge,
        run.max_instances * requests_per_instance(load, run),
        INSTANCE_HEADROOM,
        "requests/s",
    )


def realtime_online(load: Load, phase: int) -> float:
    """Players online at once that a phase's shards must hold: the model's peak, or the phase's design
    point where usage.yaml sets a larger one (realtime.design_online_players)."""
    design = load.model.realtime.design_online_players.get(phase, 0)
    return max(load.peak_concurrent_players, float(design))


def realtime_connections(load: Load, phase: int, shards: int) -> Verdict:
    """One connection per online player, on the shard their uid hashes to, against an instance's limit."""
    return Verdict(
        realtime_online(load, phase) / shards, RTDB_CONNECTIONS_PER_INSTANCE, RTDB_HEADROOM, "connections"
    )


def realtime_writes_per_second(load: Load, phase: int) -> float:
    """Peak writes to all shards, scaled to the design point's players where that is larger."""
    return load.peak_realtime_writes_per_second * realtime_online(load, phase) / load.peak_concurrent_players


def realtime_writes(load: Load, phase: int, shards: int) -> Verdict:
    """Peak writes per shard (presence, messages, mirrors) against an instance's sustained write rate."""
    return Verdict(
        realtime_writes_per_second(load, phase) / shards, RTDB_WRITES_PER_INSTANCE, RTDB_HEADROOM, "writes/s"
    )


def realtime_shards_for(load: Load, phase: int) -> int:
    """The shards that hold both the connections and the writes of the phase with headroom."""
    return max(
        instances_for(realtime_online(load, phase), RTDB_CONNECTIONS_PER_INSTANCE, RTDB_HEADROOM),
        instances_for(realtime_writes_per_second(load, phase), RTDB_WRITES_PER_INSTANCE, RTDB_HEADROOM),
    )


@dataclass(frozen=True)
class RedisMemory:
    """Bytes the live data set needs, by part."""

    boards: float
    profiles: float
    rate_limits: float

    @property
    def total(self) -> float:
        return self.boards + self.profiles + self.rate_limits

    def describe(self) -> str:
        return (
            f"boards {self.boards / GB:.2f} GB + profiles {self.profiles / GB:.2f} GB + rate limits"
            f" {self.rate_limits / GB:.3f} GB"
        )


def redis_memory(load: Load) -> RedisMemory:
    model = load.model
    online = load.peak_concurrent_players
    return RedisMemory(
        boards=load.leaderboard_entries * model.measured.leaderboard_bytes_per_entry,
        profiles=load.daily_active * (model.firestore.profile_bytes + CACHE_ENTRY_OVERHEAD_BYTES),
        rate_limits=online * RATE_LIMIT_KEYS_PER_ONLINE_PLAYER * RATE_LIMIT_KEY_BYTES,
    )


def redis_memory_verdict(load: Load, memory_limit_gb: float) -> Verdict:
    """Every copy holds the whole data set (a replica, each Active-Active region), so the need is per
    database, against its ``memoryLimitInGb``."""
    return Verdict(redis_memory(load).total / GB, memory_limit_gb, REDIS_MEMORY_HEADROOM, "GB")


def redis_gb_for(load: Load) -> int:
    """The ``memoryLimitInGb`` that holds the data set with headroom (whole GB)."""
    return math.ceil(redis_memory(load).total / GB / REDIS_MEMORY_HEADROOM)


def peak_game_writes_per_second(load: Load) -> float:
    writes = load.games * load.model.firestore.writes_per_game
    return writes / SECONDS_PER_MONTH * load.model.traffic.peak_to_average


def peak_writes_per_second(load: Load) -> float:
    return load.firestore_writes / SECONDS_PER_MONTH * load.model.traffic.peak_to_average


def firestore_writes(load: Load, game_databases: int, api_regions: int) -> dict[str, float]:
    """Peak writes/s per database role: ``default`` (profiles, ledger) and ``games`` (each game database;
    a lost region's games move to the others' databases) when the games have their own."""
    games = peak_game_writes_per_second(load)
    rest = peak_writes_per_second(load) - games
    if game_databases == 0:
        return {"default": rest + games}
    return {"default": rest, "games": games / min(game_databases, serving_regions(api_regions))}


def firestore_ramp_minutes(writes_per_second: float) -> float:
    """Minutes the 500/50/5 rule takes to reach ``writes_per_second`` from a cold start (0 under 500)."""
    if writes_per_second <= FIRESTORE_RAMP_START:
        return 0.0
    return 5 * math.log(writes_per_second / FIRESTORE_RAMP_START, 1.5)


def peak_writes_per_player_document(load: Load) -> float:
    """The busiest per-player document: a game, written writes_per_game times in one round (2-4 min,
    the shortest: 120 s). Documents written by every player (a global counter) would be the load's whole
    write rate: app/ keeps none (tests/infra/cost/test_capacity.py checks there is no Increment)."""
    return load.model.firestore.writes_per_game / 120


def redis_connections(run: RunSizing, clustered: bool) -> int:
    """Connections one Redis endpoint may see: every instance at its max, each client's pool grown to the
    requests in flight (a request awaits its Redis commands one at a time, so it holds one connection of a
    pool at once) up to the pool's cap."""
    per_client = min(REDIS_POOL_PER_CLIENT, run.concurrency)
    clients = REDIS_CLUSTER_CLIENTS if clustered else 1
    return run.max_instances * per_client * clients


def max_instances_for_connections(run: RunSizing, clustered: bool) -> int:
    per_instance = min(REDIS_POOL_PER_CLIENT, run.concurrency) * (REDIS_CLUSTER_CLIENTS if clustered else 1)
    return REDIS_CONNECTIONS_PER_ENDPOINT // per_instance
