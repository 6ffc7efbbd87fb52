"""Operations meters: Cloud Scheduler, KMS, Secret Manager, Monitoring, Pub/Sub, Certificate Manager and
Identity Platform."""

from __future__ import annotations

from infra.cost.meters.base import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    RUN_JOB,
    Charge,
    Context,
    Resource,
    runs_per_month,
    seconds,
)
from infra.cost.meters.gcp_data import _database_of, _lines
from infra.cost.usage import SECONDS_PER_MONTH

#: Identity Platform tier 1 providers (email, phone, anonymous): (price line, MAU upper bound); the first
#: 49,999 MAU are free.
MAU_TIERS = (
    ("", 50_000),
    ("idp.mau_50k_100k", 100_000),
    ("idp.mau_100k_1m", 1_000_000),
    ("idp.mau_1m_10m", 10_000_000),
    ("idp.mau_10m_plus", float("inf")),
)


def scheduler_job(resource: Resource, ctx: Context) -> list[Charge]:
    """A job a month (three free per billing account); a managed Firestore export also reads every
    document of its database on each run, billed as document reads."""
    charges = [Charge("sched.job", 1.0)]
    target = resource["inputs"].get("httpTarget", {})
    if str(target.get("uri", "")).endswith(":exportDocuments"):
        database = _database_of(resource)
        runs = runs_per_month(str(resource["inputs"].get("schedule", "")))
        documents = ctx.firestore_share(database).documents * runs
        line = _lines(database, ctx.database_location(database))
        charges.append(Charge(f"{line}.reads", documents, f"{runs:.0f} export(s) of {database}"))
    return charges


def crypto_key(resource: Resource, ctx: Context) -> list[Charge]:
    """Active key versions (a rotating key keeps every version it made: a year of them, as the audit
    trail must still decrypt what the older ones sealed) and operations: the audit head signs once per
    purchase, the data key wraps and unwraps once per purchase and once per job run."""
    inputs = resource["inputs"]
    rotation = seconds(str(inputs.get("rotationPeriod", "0s")))
    versions = 1 + (12 * 30 * 86400 / rotation if rotation else 0)
    if inputs.get("purpose") == "ASYMMETRIC_SIGN":
        operations, what = ctx.load.purchases, "one signature per purchase (audit head)"
    else:
        job_runs = sum(ctx.runs_of(f"/jobs/{j['inputs'].get('name')}:run") for j in ctx.of_type(RUN_JOB))
        operations, what = ctx.load.purchases * 2 + job_runs, "wrap and unwrap per purchase, per job run"
    return [
        Charge("kms.key_version", versions, f"{versions:g} active version(s)"),
        Charge("kms.crypto_op", operations, what),
    ]


def secret(resource: Resource, ctx: Context) -> list[Charge]:
    """One active version per location (automatic replication bills as one location), the accesses (each
    job run and each API instance start reads every secret once) and the rotation notifications."""
    inputs = resource["inputs"]
    replication = inputs.get("replication", {})
    locations = len(replication.get("userManaged", {}).get("replicas") or []) or 1
    period = seconds(str(inputs.get("rotation", {}).get("rotationPeriod", "0s")))
    job_runs = sum(ctx.runs_of(f"/jobs/{j['inputs'].get('name')}:run") for j in ctx.of_type(RUN_JOB))
    # An API instance lives about an hour on average under request-based scaling: one start an hour per
    # warm instance, per region.
    starts = ctx.api_regions * HOURS_PER_MONTH
    return [
        Charge("sm.secret_version", float(locations)),
        Charge("sm.access", job_runs + starts),
        Charge("sm.rotation_notification", SECONDS_PER_MONTH / period if period else 0.0),
    ]


def log_metric(resource: Resource, ctx: Context) -> list[Charge]:
    """A log-based metric is a user-defined metric: one point a minute (a DELTA series, 8 bytes a point)."""
    labels = len(resource["inputs"].get("metricDescriptor", {}).get("labels") or [])
    series = 1 + labels
    return [Charge("mon.metric_mib", series * 60 * 24 * DAYS_PER_MONTH * 8 / 1024**2)]


def uptime_check(resource: Resource, ctx: Context) -> list[Charge]:
    """Executions: one per selected region per period (one million free per project)."""
    inputs = resource["inputs"]
    regions = len(inputs.get("selectedRegions") or []) or 3
    period = seconds(str(inputs.get("period", "60s"))) or 60.0
    return [Charge("mon.uptime_execution", regions * SECONDS_PER_MONTH / period)]


def alert_policy(resource: Resource, ctx: Context) -> list[Charge]:
    """Alerting bills per condition a month (the time series the conditions return are not modelled)."""
    return [Charge("mon.alert_condition", float(len(resource["inputs"].get("conditions") or [])))]


def pubsub_topic(resource: Resource, ctx: Context) -> list[Charge]:
    """The analytics events published (analytics.message_bytes each); the dead letters, a trickle not
    modelled; secret rotation notices, a message per secret a month at the 1,000-byte minimum."""
    name = str(resource["inputs"].get("name", ""))
    if name.endswith("-analytics"):
        return [Charge("pubsub.throughput_tib", _analytics_tib(ctx), "analytics events published")]
    if name.endswith("-dead-letter"):
        return [Charge("pubsub.throughput_tib", 0.0, "only what BigQuery refuses: none in a healthy month")]
    secrets = sum(1 for _ in ctx.of_type("gcp:secretmanager/secret:Secret"))
    return [Charge("pubsub.throughput_tib", secrets * 1000 / 1024**4, "rotation notifications")]


def pubsub_subscription(resource: Resource, ctx: Context) -> list[Charge]:
    """A BigQuery subscription bills what it writes (every event of its topic); a pull subscription is
    billed on its topic's throughput, and acknowledged messages are not retained."""
    if not resource["inputs"].get("bigqueryConfig"):
        return []
    return [Charge("pubsub.bigquery_tib", _analytics_tib(ctx), "events written into BigQuery")]


def _analytics_tib(ctx: Context) -> float:
    """The month's analytics events in TiB, as published (and written by the BigQuery subscription)."""
    events = ctx.load.analytics_events_per_day * DAYS_PER_MONTH
    return events * ctx.load.model.analytics.message_bytes / 1024**4


def certificate(resource: Resource, ctx: Context) -> list[Charge]:
    return [Charge("certmgr.certificate", 1.0)]


def identity_platform(resource: Resource, ctx: Context) -> list[Charge]:
    """Monthly active users by tier (every player signs in at least once a month), and SMS for MFA."""
    charges, below = [], 0.0
    for line, upper in MAU_TIERS:
        quantity = max(0.0, min(float(ctx.load.users), upper) - below)
        if line:
            charges.append(Charge(line, quantity, "monthly active users"))
        below = upper
    mfa = resource["inputs"].get("mfa", {})
    sms = "PHONE_SMS" in (mfa.get("enabledProviders") or []) and mfa.get("state") == "ENABLED"
    sent = ctx.load.users * ctx.load.model.players.mfa_sms_per_monthly_active if sms else 0.0
    charges.append(Charge("idp.mfa_sms", sent, "SMS second factor"))
    return charges
