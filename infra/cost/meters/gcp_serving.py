"""Serving path meters: Cloud Run services and jobs, the global load balancer, Cloud Armor, Cloud NAT."""

from __future__ import annotations

from infra.cost.meters.base import (
    HOURS_PER_MONTH,
    RUN_SERVICE,
    Charge,
    Context,
    Resource,
    containers_size,
    run_busy_seconds,
    seconds,
)
from infra.cost.usage import GIB, SECONDS_PER_MONTH

TIB = 1024.0
#: Premium tier internet egress from North America, by monthly volume (GiB): tier line and its upper bound.
EGRESS_TIERS = (
    ("net.egress_premium_0_1tib", 1 * TIB),
    ("net.egress_premium_1_10tib", 10 * TIB),
    ("net.egress_premium_10tib_plus", float("inf")),
)
#: Cloud NAT bills per instance using the gateway up to this many, then a flat hourly rate.
NAT_INSTANCE_CAP = 32


def cloud_run_service(resource: Resource, ctx: Context) -> list[Charge]:
    """Request-based billing: CPU and memory while serving, requests, the idle minimum instances, the
    sidecar's Managed Prometheus samples and the API's request logs.

    The load's requests split evenly over the API regions; CPU per request is the bench's measured figure.
    """
    template = resource["inputs"].get("template", {})
    cpu, memory = containers_size(template)
    minimum = int(template.get("scaling", {}).get("minInstanceCount", 0))
    requests = ctx.load.requests / ctx.api_regions
    busy_s = run_busy_seconds(resource, ctx)
    idle_s = max(0.0, minimum * SECONDS_PER_MONTH - busy_s)
    ops = ctx.load.model.operations
    instance_seconds = max(busy_s, minimum * SECONDS_PER_MONTH)
    samples = instance_seconds / ops.metric_scrape_seconds * ops.metric_series_per_instance
    return [
        Charge("run.requests", requests),
        Charge("run.vcpu_second", busy_s * cpu, f"{cpu:g} vCPU per instance, sidecars included"),
        Charge("run.gib_second", busy_s * memory, f"{memory:g} GiB per instance"),
        Charge("run.idle_vcpu_second", idle_s * cpu, f"{minimum} minimum instance(s)"),
        Charge("run.idle_gib_second", idle_s * memory),
        Charge("mon.prometheus_sample", samples, "the metrics sidecar's scrapes"),
        Charge("log.ingest_gib", requests * ops.app_log_bytes_per_request / GIB, "one log line per request"),
    ]


def cloud_run_job(resource: Resource, ctx: Context) -> list[Charge]:
    """A job's executions a month (its Cloud Scheduler jobs' crons) times a run's time: the usage model's
    ``job_run_seconds``, capped by the task's timeout. A job no schedule starts (a rebuild run by hand)
    costs nothing here."""
    job = resource["inputs"]
    task = job.get("template", {}).get("template", {})
    cpu, memory = containers_size(task)
    tasks = int(job.get("template", {}).get("taskCount", 1))
    runs = ctx.runs_of(f"/jobs/{job.get('name')}:run")
    per_run = min(seconds(str(task.get("timeout", "600s"))), ctx.load.model.operations.job_run_seconds)
    run_s = runs * tasks * per_run
    note = f"{runs:,.0f} run(s) x {per_run:g} s"
    return [
        Charge("run.job_vcpu_second", run_s * cpu, note),
        Charge("run.job_gib_second", run_s * memory),
    ]


def egress_tiers(total_gib: float) -> list[Charge]:
    charges, below = [], 0.0
    for line, upper in EGRESS_TIERS:
        quantity = max(0.0, min(total_gib, upper) - below)
        charges.append(Charge(line, quantity, "GCP to Cloudflare is internet egress"))
        below = upper
    return charges


def forwarding_rule(resource: Resource, ctx: Context) -> list[Charge]:
    """The global external Application Load Balancer: the rule's hours, the data it processes both ways,
    and the responses' premium-tier internet egress (Cloudflare proxies every API call to it)."""
    inbound = ctx.load.requests * ctx.load.model.traffic.request_bytes / GIB
    return [
        Charge("lb.forwarding_rule_hour", HOURS_PER_MONTH),
        Charge("lb.data_processed_gib", inbound + ctx.load.egress_gib, "requests in, compressed answers out"),
        *egress_tiers(ctx.load.egress_gib),
    ]


def backend_service(resource: Resource, ctx: Context) -> list[Charge]:
    """The load balancer's request logs: the sampled share (``logConfig.sampleRate``) of the requests that
    reach this backend service (the global one takes them all; the regional ones serve failover only)."""
    inputs = resource["inputs"]
    log = inputs.get("logConfig", {})
    if not log.get("enable") or "outlierDetection" not in inputs:
        return [Charge("log.ingest_gib", 0.0, "request logs off, or a failover-only backend")]
    entries = ctx.load.requests * float(log.get("sampleRate", 1.0))
    return [Charge("log.ingest_gib", entries * ctx.load.model.operations.lb_log_entry_bytes / GIB)]


def _enterprise(ctx: Context) -> bool:
    """Adaptive Protection is part of Cloud Armor Enterprise: a policy that enables it enrolls the project."""
    return any(
        "adaptiveProtectionConfig" in p["inputs"]
        for p in ctx.of_type("gcp:compute/securityPolicy:SecurityPolicy")
    )


def _protected_resources(ctx: Context) -> int:
    services = sum(
        1
        for s in ctx.of_type("gcp:compute/backendService:BackendService")
        if s["inputs"].get("securityPolicy")
    )
    buckets = sum(
        1
        for b in ctx.of_type("gcp:compute/backendBucket:BackendBucket")
        if b["inputs"].get("edgeSecurityPolicy")
    )
    return services + buckets


def security_policy(resource: Resource, ctx: Context) -> list[Charge]:
    """Standard tier: the policy, its rules and the requests it evaluates (the API's; asset requests reach
    the edge policy only on Cloudflare cache misses, not modelled). Enterprise (Paygo) bundles those and
    bills the project and each protected resource beyond the first two; the policy enabling Adaptive
    Protection carries that charge."""
    inputs = resource["inputs"]
    if _enterprise(ctx):
        if "adaptiveProtectionConfig" not in inputs:
            return [Charge("armor.enterprise_resource", 0.0, "bundled in Cloud Armor Enterprise")]
        return [
            Charge("armor.enterprise_project", 1.0, "Adaptive Protection needs Cloud Armor Enterprise"),
            Charge(
                "armor.enterprise_resource", float(_protected_resources(ctx)), "backend services and buckets"
            ),
        ]
    edge = inputs.get("type") == "CLOUD_ARMOR_EDGE"
    return [
        Charge("armor.policy", 1.0),
        Charge("armor.rule", float(len(inputs.get("rules") or []))),
        Charge("armor.requests", 0.0 if edge else ctx.load.requests),
    ]


def router_nat(resource: Resource, ctx: Context) -> list[Charge]:
    """Cloud NAT in front of the API's outbound traffic (Redis Cloud allowlists its address): the gateway's
    hours per instance using it (Cloud Run instances of the region: minimum or busy, whichever is more),
    and the Redis traffic it carries both ways."""
    region = resource["inputs"].get("region")
    services = [s for s in ctx.of_type(RUN_SERVICE) if s["inputs"].get("location") == region]
    instances = 0.0
    for service in services:
        minimum = int(service["inputs"].get("template", {}).get("scaling", {}).get("minInstanceCount", 0))
        instances += max(float(minimum), run_busy_seconds(service, ctx) / SECONDS_PER_MONTH)
    instances = min(instances, NAT_INSTANCE_CAP)
    share = len(services) / ctx.api_regions
    data = ctx.load.requests * share * ctx.load.model.traffic.redis_bytes_per_request / GIB
    return [
        Charge("nat.instance_hour", instances * HOURS_PER_MONTH, f"{instances:.2f} instance(s) on average"),
        Charge("nat.data_gib", data, "Redis Cloud traffic"),
    ]


def static_address(resource: Resource, ctx: Context) -> list[Charge]:
    """A regional static external address: the NAT gateway's (billed per hour while a gateway uses it)."""
    return [Charge("nat.ip_hour", HOURS_PER_MONTH)]
