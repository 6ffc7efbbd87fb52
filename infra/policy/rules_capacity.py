"""Capacity rules: does the phase's sizing hold the top of its user range under the usage model?

Each rule takes the load of ``PHASE_TOP_USERS[phase]`` monthly actives (infra/cost/usage.yaml) and
compares it with what the planned resources declare (max instances, concurrency, vCPUs, Redis memory,
databases, Realtime Database shards, the edge's tiered caching), with the arithmetic of
infra/cost/capacity.py. The Realtime Database rules hold the larger of that load's players online and the
phase's design point (usage.yaml realtime.design_online_players). A failing rule names the resource, the
need, the limit and the fix.

**Prod only.** Dev stacks serve testers and load tests, never the phase's players: their sizing is a
deliberate fraction of prod's (5-10 instances, 1-2 GB of Redis), so measuring them against 100K-10M
players would only teach people to ignore the rules. Dev runs the same phase *shape* (topology, regions,
databases), which the other rules check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from infra.cost import capacity as cap
from infra.cost.meters.base import vcpus
from infra.cost.usage import PHASE_TOP_USERS, USAGE_FILE, Load, load_usage

from . import tokens as t
from .model import Finding, Resource, RuleContext, RuleSet, Severity, StackView
from .values import get, is_known

rules = RuleSet()

#: Cloudflare's tiered caching (zone-wide): with it only the upper tiers ask the origin for a live page.
CF_TIERED_CACHING = "cloudflare:index/argoTieredCaching:ArgoTieredCaching"

_PROMOTE = " If the players outgrow the phase, promote to the next phase (pog promote)."


def _load(ctx: RuleContext) -> Load | None:
    """The load at the top of the phase, from the usage model of the repository checked (a fixture's
    repository may carry its own), or None outside prod."""
    if not ctx.is_prod or ctx.phase not in PHASE_TOP_USERS:
        return None
    usage = ctx.repo_root / USAGE_FILE.relative_to(USAGE_FILE.parents[2])
    return load_usage(usage if usage.is_file() else USAGE_FILE).at(PHASE_TOP_USERS[ctx.phase])


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not is_known(value):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _run_sizing(service: Resource) -> cap.RunSizing | None:
    """The service's max instances, concurrency and vCPUs; None while any is unknown (a preview)."""
    template = service.props.get("template")
    if not isinstance(template, dict):
        return None
    maximum = _number(get(template, "scaling.maxInstanceCount"))
    concurrency = _number(template.get("maxInstanceRequestConcurrency", cap.DEFAULT_CONCURRENCY))
    cpu: Any = "1"
    containers = template.get("containers")
    if isinstance(containers, list) and containers and isinstance(containers[0], dict):
        cpu = get(containers[0], "resources.limits.cpu", "1")
    if maximum is None or concurrency is None or not is_known(cpu):
        return None
    try:
        cores = vcpus(str(cpu))
    except ValueError:
        return None
    return cap.RunSizing(int(maximum), int(concurrency), cores)


def _services(stack: StackView) -> Iterator[tuple[Resource, cap.RunSizing]]:
    for service in stack.of_type(t.RUN_SERVICE):
        sizing = _run_sizing(service)
        if sizing is not None:
            yield service, sizing


def _where(load: Load, api_regions: int) -> str:
    regions = cap.serving_regions(api_regions)
    spread = f", over {regions} of {api_regions} regions (one lost)" if api_regions > 1 else ""
    return f"at {load.users:,} monthly players{spread}"


@rules.stack(
    "POG-CAP-001",
    Severity.MEDIUM,
    "Prod's API instances serve the peak requests of the phase's top user count, with 30 % headroom",
    "Raise maxInstanceCount (infra/phases.py _RUN_SCALING) to the figure in the message." + _PROMOTE,
)
def api_throughput(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    """Peak requests/s against max instances x measured requests/s per instance (requests_per_second_per_vcpu
    x the vCPUs one uvicorn process uses), and requests in flight against max instances x concurrency."""
    load = _load(ctx)
    if load is None:
        return
    services = list(_services(stack))
    regions = len(stack.of_type(t.RUN_SERVICE))
    for service, run in services:
        throughput = cap.api_throughput(load, run, regions)
        if not throughput.holds:
            per_instance = cap.requests_per_instance(load, run)
            fix = cap.instances_for(throughput.need, per_instance)
            yield Finding(
                f"{service.name} {throughput.describe()} {_where(load, regions)} with maxInstanceCount"
                f" {run.max_instances}: raise maxInstanceCount to {fix}",
                service.key,
            )
        slots = cap.api_slots(load, run, regions)
        if not slots.holds:
            yield Finding(
                f"{service.name} {slots.describe()} {_where(load, regions)} ({run.max_instances} instances x"
                f" {run.concurrency} concurrent): raise maxInstanceCount to"
                f" {cap.instances_for(slots.need, run.concurrency)}",
                service.key,
            )


def _tiered(stack: StackView) -> bool:
    return any(r.props.get("value") == "on" for r in stack.of_type(CF_TIERED_CACHING))


@rules.stack(
    "POG-CAP-002",
    Severity.MEDIUM,
    "Prod's API instances hold the live boards: the friends boards' streams and what the edge fetches for"
    " the public boards, beside the requests",
    "Raise maxInstanceCount (infra/phases.py _RUN_SCALING) to the figure in the message, or turn on the"
    " edge's tiered caching (infra/stacks/edge.py) so only upper tiers ask the origin." + _PROMOTE,
)
def live_viewers(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    """Two live paths. A friends-board stream (server-sent events) holds one request slot of an instance
    while it is open: those viewers plus the requests in flight must fit in max instances x concurrency.
    The public boards go through the CDN: per interval each edge location (every data center with viewers,
    or the upper tiers with tiered caching) fetches each live page's latest document and new segment once,
    never more than the viewers would ask; that plus the peak requests must fit the measured throughput."""
    load = _load(ctx)
    if load is None:
        return
    regions = len(stack.of_type(t.RUN_SERVICE))
    tiered = _tiered(stack)
    for service, run in _services(stack):
        slots = cap.live_slots(load, run, regions)
        if not slots.holds:
            streams = cap.live_streams_per_region(load, regions)
            yield Finding(
                f"{service.name} {slots.describe()} for {streams:,.0f} friends-board streams and the"
                f" requests in flight {_where(load, regions)}: raise maxInstanceCount to"
                f" {cap.instances_for(slots.need, run.concurrency)}",
                service.key,
            )
        throughput = cap.live_throughput(load, run, regions, tiered)
        if not throughput.holds:
            per_instance = cap.requests_per_instance(load, run)
            edge = cap.edge_origin_requests_per_second(load, tiered)
            where = f"{cap.edge_locations(load, tiered)} {'upper tiers' if tiered else 'edge locations'}"
            yield Finding(
                f"{service.name} {throughput.describe()} with the public live boards' origin fetches"
                f" ({edge:,.0f} requests/s from {where}) {_where(load, regions)}: raise maxInstanceCount"
                f" to {cap.instances_for(throughput.need, per_instance)}",
                service.key,
            )


@rules.stack(
    "POG-CAP-003",
    Severity.HIGH,
    "Prod's Redis holds the boards and caches of the phase's top user count with 25 % free",
    "Raise memoryLimitInGb (infra/phases.py _REDIS_SIZING) to the figure in the message." + _PROMOTE,
)
def redis_memory(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    """Players x boards x the measured bytes per entry, plus a cached profile per daily active player and
    the rate-limit keys of the players online at peak (infra/cost/capacity.py states each)."""
    load = _load(ctx)
    if load is None:
        return
    for database in stack.of_type(t.REDIS_DATABASE, t.REDIS_AA_DATABASE):
        limit = _number(database.props.get("memoryLimitInGb"))
        if limit is None:
            continue
        verdict = cap.redis_memory_verdict(load, limit)
        if not verdict.holds:
            yield Finding(
                f"{database.name} {verdict.describe()} at {load.users:,} monthly players"
                f" ({cap.redis_memory(load).describe()}): raise memoryLimitInGb to {cap.redis_gb_for(load)}",
                database.key,
            )


def _database_name(database: Resource) -> str:
    return str(database.props.get("name", database.name))


@rules.stack(
    "POG-CAP-004",
    Severity.MEDIUM,
    "Prod's Firestore write rates stay under the documented limits, per database and per document",
    "Move writes to their own database (phase 2 game sessions, phase 3 regional game databases), or ask"
    " Google to raise the database's limit; never count in one document." + _PROMOTE,
)
def firestore_writes(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    """Peak writes/s per database against Firestore's 10,000 writes/s soft limit per database (70 % of it),
    and the busiest per-player document against the sustained 1 write/s per document. New traffic also
    ramps by the 500/50/5 rule (500 ops/s, +50 % every 5 minutes): the message of a failing database says
    how long that takes; it is not a failure by itself. Nothing in app/ counts in a shared document."""
    load = _load(ctx)
    if load is None:
        return
    databases = stack.of_type(t.FIRESTORE_DATABASE)
    regional = [d for d in databases if _database_name(d).startswith("games-")]
    sessions = [d for d in databases if _database_name(d) == "game-sessions"]
    games = regional or sessions
    rates = cap.firestore_writes(load, len(games), len(stack.of_type(t.RUN_SERVICE)))
    by_role = [(d, rates["default"]) for d in databases if _database_name(d) == "(default)"]
    by_role += [(d, rates["games"]) for d in games]
    for database, rate in by_role:
        verdict = cap.Verdict(rate, cap.FIRESTORE_WRITES_PER_DATABASE, cap.FIRESTORE_HEADROOM, "writes/s")
        if not verdict.holds:
            ramp = cap.firestore_ramp_minutes(rate)
            yield Finding(
                f"database {_database_name(database)} {verdict.describe()} at {load.users:,} monthly players"
                f" (the 500/50/5 ramp reaches it in {ramp:.0f} min): split its writes over more databases",
                database.key,
            )
    per_document = cap.peak_writes_per_player_document(load)
    if per_document > cap.FIRESTORE_WRITES_PER_DOCUMENT:
        yield Finding(
            f"the busiest per-player document takes {per_document:.2f} writes/s; Firestore sustains"
            f" {cap.FIRESTORE_WRITES_PER_DOCUMENT:g}: batch its writes (usage.yaml firestore.writes_per_game)"
        )


def _redis_endpoints(stack: StackView) -> list[tuple[Resource, bool]]:
    """Each Redis database the API connects to, and whether through the OSS Cluster API (a connection
    per node); Active-Active: one endpoint per region, each region's instances connect to their own."""
    endpoints: list[tuple[Resource, bool]] = []
    for database in stack.of_type(t.REDIS_DATABASE):
        endpoints.append((database, database.props.get("supportOssClusterApi") is True))
    endpoints += [(database, False) for database in stack.of_type(t.REDIS_AA_DATABASE)]
    return endpoints


@rules.stack(
    "POG-CAP-005",
    Severity.HIGH,
    "Prod's API instances at their max stay under the Redis endpoint's connection limit",
    "Lower maxInstanceCount (infra/phases.py _RUN_SCALING) to the figure in the message, or bound the"
    " client's pool (max_connections in app/repositories/clients.py) and the rule's REDIS_POOL_PER_CLIENT.",
)
def redis_connections(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    """Max instances x the connections each may hold (redis-py's pool grows to the requests in flight, up
    to its cap; two pools on a cluster) against the planning limit per endpoint (per node on a cluster,
    per region Active-Active). The Realtime Database's connections are the clients': POG-CAP-006."""
    if not ctx.is_prod:
        return
    services = list(_services(stack))
    if not services:
        return
    active_active = bool(stack.of_type(t.REDIS_AA_DATABASE))
    for database, clustered in _redis_endpoints(stack):
        # Active-Active: each region's instances reach their own copy; otherwise every region reaches it.
        runs = (
            [max((run for _, run in services), key=lambda r: r.max_instances)]
            if active_active
            else [run for _, run in services]
        )
        need = sum(cap.redis_connections(run, clustered) for run in runs)
        if need <= cap.REDIS_CONNECTIONS_PER_ENDPOINT:
            continue
        run = runs[0]
        fix = cap.max_instances_for_connections(run, clustered) // len(runs)
        per_client = min(cap.REDIS_POOL_PER_CLIENT, run.concurrency)
        clients = cap.REDIS_CLUSTER_CLIENTS if clustered else 1
        yield Finding(
            f"{database.name} may see {need:,} connections {'per node' if clustered else 'per endpoint'}"
            f" ({sum(r.max_instances for r in runs)} instances x {per_client} x {clients} client(s)); the"
            f" limit is {cap.REDIS_CONNECTIONS_PER_ENDPOINT:,}: lower maxInstanceCount to {fix}",
            database.key,
        )


def _shards(stack: StackView) -> list[Resource]:
    return stack.of_type(t.RTDB_INSTANCE)


def _online(load: Load, phase: int) -> str:
    online = cap.realtime_online(load, phase)
    if online > load.peak_concurrent_players:
        return f"{online:,.0f} players online (the phase's design point)"
    return f"{online:,.0f} players online at {load.users:,} monthly players"


_RAISE_SHARDS = (
    "Raise realtime_shards (infra/phases.py _REALTIME_SHARDS) to the figure in the message, then run the"
    " realtime-resync job (runbooks/procedures/phase-promotion.md)." + _PROMOTE
)


def _per_shard(
    stack: StackView, ctx: RuleContext, verdict_of: Callable[[Load, int, int], cap.Verdict]
) -> Iterator[Finding]:
    """One finding when ``verdict_of(load, phase, shards)`` says the shards do not hold, with the count
    that would (the larger of the connections' and the writes' need: ``realtime_shards_for``)."""
    load = _load(ctx)
    shards = _shards(stack)
    if load is None or not shards:
        return
    verdict = verdict_of(load, ctx.phase, len(shards))
    if not verdict.holds:
        fix = cap.realtime_shards_for(load, ctx.phase)
        yield Finding(
            f"each of the {len(shards)} Realtime Database shard(s) {verdict.describe()} for"
            f" {_online(load, ctx.phase)}: raise realtime_shards to {fix}",
            shards[0].key,
        )


@rules.stack(
    "POG-CAP-006",
    Severity.HIGH,
    "Prod's Realtime Database shards hold the players online (one connection each) with 30 % headroom",
    _RAISE_SHARDS,
)
def realtime_connections(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    """Each online player holds one connection to the shard their uid hashes to (presence, messages):
    players online / shards against 70 % of an instance's 200,000 simultaneous connections."""
    yield from _per_shard(stack, ctx, cap.realtime_connections)


@rules.stack(
    "POG-CAP-007",
    Severity.HIGH,
    "Prod's Realtime Database shards take the peak writes with 30 % headroom",
    _RAISE_SHARDS,
)
def realtime_writes(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    """Presence (online at connect, offline on disconnect, two state changes a game), the server's messages
    (purchases, reviews, rewards) and the mirrors, at the evening peak, spread evenly over the shards,
    against 70 % of an instance's ~1,000 sustained writes/s."""
    yield from _per_shard(stack, ctx, cap.realtime_writes)
