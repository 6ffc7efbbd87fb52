"""Data meters: Firestore databases and their backups, Cloud Storage buckets, the Realtime Database,
Artifact Registry."""

from __future__ import annotations

import base64

from infra.cost.meters.base import (
    DAYS_PER_MONTH,
    DEFAULT_DATABASE,
    MULTI_REGIONS,
    RTDB_INSTANCE,
    Charge,
    Context,
    Resource,
    seconds,
)
from infra.cost.usage import GIB

#: Cloud Storage classes the stacks' lifecycle rules use, in the order objects move through them.
STORAGE_CLASSES = {
    "STANDARD": "gcs.standard_gib",
    "NEARLINE": "gcs.nearline_gib",
    "COLDLINE": "gcs.coldline_gib",
}


def location_class(location: str) -> str:
    return "nam5" if location in MULTI_REGIONS else "regional"


def _lines(database: str, location: str) -> str:
    """The price lines of a database: (default) has the free tier, named databases do not."""
    if database == DEFAULT_DATABASE and location_class(location) == "nam5":
        return "firestore.default"
    return f"firestore.{location_class(location)}"


def firestore_database(resource: Resource, ctx: Context) -> list[Charge]:
    """Reads, writes, TTL deletes and stored GiB of this database's share of the load, and its PITR data
    (about one more copy of the database: seven days of versions of documents that mostly do not change)."""
    inputs = resource["inputs"]
    name, location = str(inputs.get("name", DEFAULT_DATABASE)), str(inputs.get("locationId", "nam5"))
    share = ctx.firestore_share(name)
    lines, where = _lines(name, location), location_class(location)
    charges = [
        Charge(f"{lines}.reads", share.reads, location),
        Charge(f"{lines}.writes", share.writes),
        Charge(f"{lines}.stored_gib", share.stored_gib),
        Charge(f"firestore.{where}.ttl_deletes", share.ttl_deletes, "expired games (no free tier)"),
    ]
    if inputs.get("pointInTimeRecoveryEnablement") == "POINT_IN_TIME_RECOVERY_ENABLED":
        charges.append(Charge(f"firestore.{where}.pitr_gib", share.stored_gib, "PITR: about one copy"))
    return charges


def backup_schedule(resource: Resource, ctx: Context) -> list[Charge]:
    """Backups kept: retention over the recurrence (7 daily, 14 weekly), each the database's size."""
    inputs = resource["inputs"]
    database = str(inputs.get("database", DEFAULT_DATABASE))
    every_days = 7.0 if "weeklyRecurrence" in inputs else 1.0
    kept = max(1.0, seconds(str(inputs.get("retention", "0s"))) / 86400 / every_days)
    location = ctx.database_location(database)
    stored = ctx.firestore_share(database).stored_gib * kept
    return [Charge(f"firestore.{location_class(location)}.backup_gib", stored, f"{kept:g} backup(s) kept")]


def _bucket_content(name: str, ctx: Context) -> tuple[float, float, str]:
    """GiB written a day and writes a day to a bucket, from whoever writes it: the Firestore exports
    (the whole databases, daily), Redis Cloud backups (the declared memory, daily), else a small bucket."""
    exports = [
        j
        for j in ctx.of_type("gcp:cloudscheduler/job:Job")
        if str(j["inputs"].get("httpTarget", {}).get("uri", "")).endswith(":exportDocuments")
    ]
    export_bucket = any(name in _decoded_body(j) for j in exports)
    if export_bucket:
        gib_a_day = sum(ctx.firestore_share(_database_of(j)).stored_gib for j in exports)
        return gib_a_day, 100.0 * len(exports), "daily Firestore exports"
    redis_gib = 0.0
    for db in _redis_databases(ctx):
        paths = [db["inputs"].get("remoteBackup", {})] + [
            r.get("remoteBackup", {}) for r in db["inputs"].get("overrideRegions") or []
        ]
        copies = sum(1 for p in paths if f"gs://{name}/" in str(p.get("storagePath", "")))
        redis_gib += copies * float(db["inputs"].get("memoryLimitInGb", 0))
    if redis_gib:
        return redis_gib, 10.0, "daily Redis Cloud backups"
    return 0.0, 10.0, "content that does not grow with players"


def _decoded_body(job: Resource) -> str:
    body = str(job["inputs"].get("httpTarget", {}).get("body", ""))
    try:
        return base64.b64decode(body).decode()
    except ValueError:
        return body


def _database_of(job: Resource) -> str:
    uri = str(job["inputs"].get("httpTarget", {}).get("uri", ""))
    return uri.rsplit("/databases/", 1)[-1].split(":", 1)[0]


def _redis_databases(ctx: Context) -> list[Resource]:
    return [
        *ctx.of_type("rediscloud:index/subscriptionDatabase:SubscriptionDatabase"),
        *ctx.of_type("rediscloud:index/activeActiveSubscriptionDatabase:ActiveActiveSubscriptionDatabase"),
    ]


def _ages(rules: list[dict[str, object]]) -> tuple[float, list[tuple[float, str]]]:
    """The delete age of live objects and the (age, class) moves of the lifecycle rules."""
    delete_at, moves = 0.0, []
    for rule in rules:
        action, condition = rule.get("action", {}), rule.get("condition", {})
        if not isinstance(action, dict) or not isinstance(condition, dict):
            continue
        age = condition.get("age")
        if age is None:
            continue
        if action.get("type") == "Delete":
            delete_at = float(age)
        elif action.get("type") == "SetStorageClass":
            moves.append((float(age), str(action.get("storageClass"))))
    return delete_at, sorted(moves)


def bucket(resource: Resource, ctx: Context) -> list[Charge]:
    """Storage by class in the steady state of its lifecycle (objects written daily, moved to colder
    classes and deleted at the ages the rules declare), and the writes (class A operations)."""
    inputs = resource["inputs"]
    per_day, writes_a_day, what = _bucket_content(str(inputs.get("name", "")), ctx)
    delete_at, moves = _ages(inputs.get("lifecycleRules") or [])
    if not per_day:
        stored = {"STANDARD": ctx.load.model.operations.small_bucket_gib}
    else:
        keep = delete_at or 365.0
        stored, start, current = {}, 0.0, str(inputs.get("storageClass", "STANDARD"))
        for age, storage_class in [*moves, (keep, "")]:
            stored[current] = stored.get(current, 0.0) + per_day * (min(age, keep) - start)
            start, current = min(age, keep), storage_class
    charges = [Charge(STORAGE_CLASSES[c], gib, what) for c, gib in stored.items() if c in STORAGE_CLASSES]
    charges.append(Charge("gcs.class_a_ops", writes_a_day * DAYS_PER_MONTH))
    return charges


def realtime_database(resource: Resource, ctx: Context) -> list[Charge]:
    """One shard of presence and messages: its share of the players' nodes and of the bytes their sessions
    download (players hash to shards evenly). An instance has no fixed fee; connections and writes are
    not billed, only storage and downloads."""
    realtime = ctx.load.model.realtime
    shards = max(1, sum(1 for _ in ctx.of_type(RTDB_INSTANCE)))
    note = f"1 of {shards} shards" if shards > 1 else ""
    return [
        Charge("rtdb.stored_gib", ctx.load.users * realtime.stored_bytes_per_player / GIB / shards, note),
        Charge(
            "rtdb.download_gib", ctx.load.sessions * realtime.download_bytes_per_session / GIB / shards, note
        ),
    ]


def artifact_repository(resource: Resource, ctx: Context) -> list[Charge]:
    """The images the cleanup policy keeps (``mostRecentVersions.keepCount``)."""
    kept = 10
    for policy in resource["inputs"].get("cleanupPolicies") or []:
        if policy.get("action") == "KEEP" and "mostRecentVersions" in policy:
            kept = int(policy["mostRecentVersions"].get("keepCount", kept))
    return [Charge("ar.storage_gib", kept * ctx.load.model.operations.image_gib, f"{kept} image(s) kept")]


#: BigQuery moves a partition nobody modified for this long to long-term storage, at half the price.
LONG_TERM_AFTER_DAYS = 90


def bigquery_table(resource: Resource, ctx: Context) -> list[Charge]:
    """A table's stored events: a day's worth per retained partition (timePartitioning.expirationMs), active
    for 90 days and long-term after; a view stores nothing (its queries bill per byte scanned, by whoever
    runs them: not modelled)."""
    inputs = resource["inputs"]
    if inputs.get("view") or not inputs.get("timePartitioning"):
        return []
    expiration_ms = inputs["timePartitioning"].get("expirationMs") or 0
    retained_days = expiration_ms / 86_400_000 if expiration_ms else 365.0
    per_day_gib = ctx.load.analytics_events_per_day * ctx.load.model.analytics.stored_bytes_per_event / GIB
    active_days = min(retained_days, LONG_TERM_AFTER_DAYS)
    return [
        Charge("bq.active_storage_gib", per_day_gib * active_days, f"{active_days:g} days of events"),
        Charge(
            "bq.long_term_storage_gib",
            per_day_gib * max(0.0, retained_days - LONG_TERM_AFTER_DAYS),
            "partitions older than 90 days",
        ),
    ]
