"""Resource rules for Google Cloud's data: buckets, Firestore, the Realtime Database, backups, secrets."""

from __future__ import annotations

import re
from collections.abc import Iterator

from . import tokens as t
from .model import Resource, RuleContext, RuleSet, Severity
from .values import (
    DAY,
    WEEK,
    as_list,
    enabled,
    get,
    human_duration,
    is_known,
    parse_duration,
)

rules = RuleSet()

# --- Cloud Storage -------------------------------------------------------------------------------

_BACKUP_HINTS = ("backup", "export")


def is_backup_bucket(resource: Resource) -> bool:
    """Buckets that hold copies of data (Firestore exports, Redis backups), by their names."""
    names = [resource.name, str(resource.props.get("name", ""))]
    return resource.type == t.BUCKET and any(h in n for n in names for h in _BACKUP_HINTS)


@rules.resource(
    "POG-GCS-001",
    Severity.CRITICAL,
    "Buckets enforce public access prevention",
    "Set public_access_prevention='enforced' (infra/stacks/common.py private_bucket does).",
    types=[t.BUCKET],
    checkov="CKV_GCP_114",
)
def bucket_public_access_prevention(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = r.props.get("publicAccessPrevention")
    if is_known(value) and value != "enforced":
        yield f"publicAccessPrevention is {value!r}, not 'enforced': a grant could make objects public"


@rules.resource(
    "POG-GCS-002",
    Severity.HIGH,
    "Buckets use uniform bucket-level access",
    "Set uniform_bucket_level_access=True so only IAM (no object ACLs) grants access.",
    types=[t.BUCKET],
    checkov="CKV_GCP_29",
)
def bucket_uniform_access(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = r.props.get("uniformBucketLevelAccess")
    if is_known(value) and not enabled(value):
        yield "uniformBucketLevelAccess is not true: object ACLs can grant access around IAM"


@rules.resource(
    "POG-GCS-003",
    Severity.HIGH,
    "Backup and export buckets keep object versions",
    "Set versioning=BucketVersioningArgs(enabled=True), with a lifecycle rule for old versions.",
    types=[t.BUCKET],
    checkov="CKV_GCP_78",
)
def backup_bucket_versioning(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if not is_backup_bucket(r):
        return
    value = get(r.props, "versioning.enabled")
    if is_known(value) and not enabled(value):
        yield "backup bucket without versioning: an overwrite or delete loses the only copy"


# --- Firestore, Realtime Database, data protection -----------------------------------------------


@rules.resource(
    "POG-FS-001",
    Severity.CRITICAL,
    "Prod Firestore databases have delete protection",
    "Set delete_protection_state='DELETE_PROTECTION_ENABLED' in prod.",
    types=[t.FIRESTORE_DATABASE],
)
def firestore_delete_protection(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = r.props.get("deleteProtectionState")
    if ctx.is_prod and is_known(value) and value != "DELETE_PROTECTION_ENABLED":
        yield f"deleteProtectionState is {value!r}: the database can be deleted with its data"


@rules.resource(
    "POG-FS-002",
    Severity.HIGH,
    "Firestore point-in-time recovery is on",
    "Set point_in_time_recovery_enablement='POINT_IN_TIME_RECOVERY_ENABLED' (RPO ~1 min instead of"
    " the last export).",
    types=[t.FIRESTORE_DATABASE],
)
def firestore_pitr(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = r.props.get("pointInTimeRecoveryEnablement")
    if is_known(value) and value != "POINT_IN_TIME_RECOVERY_ENABLED":
        yield f"pointInTimeRecoveryEnablement is {value!r}: a bad write is undone from the last backup only"


@rules.resource(
    "POG-FS-003",
    Severity.HIGH,
    "Prod databases are abandoned, never deleted, when removed from the program",
    "Set deletion_policy='ABANDON' in prod.",
    types=[t.FIRESTORE_DATABASE, t.RTDB_INSTANCE],
)
def database_deletion_policy(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = r.props.get("deletionPolicy", "DELETE" if r.type == t.RTDB_INSTANCE else "ABANDON")
    if ctx.is_prod and is_known(value) and value != "ABANDON":
        yield f"deletionPolicy is {value!r}: removing it from the program deletes the data"


#: The ids Firebase accepts for a Realtime Database instance we create (USER_DATABASE): 6-30 characters of
#: lower-case letters, digits and hyphens. The default instance's id is Firebase's own choice.
RTDB_INSTANCE_ID = re.compile(r"^[a-z0-9-]{6,30}$")


@rules.resource(
    "POG-RTDB-001",
    Severity.HIGH,
    "Realtime Database shards have ids Firebase accepts",
    "Shorten the id: shards are named <gcpProject>-rtdb-<n> (infra/stacks/data.py rtdb_instance_ids), so a"
    " project id of at most 22 characters fits 6-30 characters of [a-z0-9-] for up to 99 shards.",
    types=[t.RTDB_INSTANCE],
)
def rtdb_instance_id(r: Resource, ctx: RuleContext) -> Iterator[str]:
    instance_id, kind = r.props.get("instanceId"), r.props.get("type", "USER_DATABASE")
    if kind != "USER_DATABASE" or not is_known(instance_id):
        return
    if not RTDB_INSTANCE_ID.fullmatch(str(instance_id)):
        yield (
            f"instanceId {instance_id!r} ({len(str(instance_id))} characters) is not 6-30 characters of"
            " [a-z0-9-]: Firebase refuses to create the shard"
        )


_DATA_TYPES = (t.FIRESTORE_DATABASE, t.RTDB_INSTANCE, t.IDENTITY_PLATFORM, t.SECRET)


@rules.resource(
    "POG-DATA-001",
    Severity.HIGH,
    "In prod, what cannot be rebuilt is protected",
    "Pass protect=profile.is_prod (common.child(..., protect=...)).",
    types=[*_DATA_TYPES, t.BUCKET],
)
def prod_data_protected(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if not ctx.is_prod or r.protect:
        return
    if r.type in _DATA_TYPES or is_backup_bucket(r):
        yield "not protected in prod: a refactoring or `pulumi destroy` would delete data that has no rebuild"


DAILY_MAX_RETENTION = 7 * DAY
WEEKLY_MAX_RETENTION = 14 * WEEK
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


@rules.resource(
    "POG-FS-004",
    Severity.HIGH,
    "Firestore backup schedules recur daily or weekly within Firestore's retention limits",
    "Give each schedule one of daily_recurrence (retention <= 7 days, '604800s') or weekly_recurrence"
    " (retention <= 14 weeks, '8467200s').",
    types=[t.BACKUP_SCHEDULE],
)
def backup_schedule_retention(r: Resource, ctx: RuleContext) -> Iterator[str]:
    daily, weekly = "dailyRecurrence" in r.props, "weeklyRecurrence" in r.props
    if daily == weekly:
        yield "needs exactly one of dailyRecurrence and weeklyRecurrence"
        return
    seconds = parse_duration(r.props.get("retention"))
    if seconds is None:
        return  # missing or malformed: POG-VAL-004 reports it
    limit, kind = (DAILY_MAX_RETENTION, "daily") if daily else (WEEKLY_MAX_RETENTION, "weekly")
    if seconds > limit:
        yield f"{kind} retention {human_duration(seconds)} exceeds Firestore's {human_duration(limit)} limit"


# --- Secret Manager ------------------------------------------------------------------------------


@rules.resource(
    "POG-SEC-001",
    Severity.MEDIUM,
    "Secrets replicate to more than one region",
    "Use replication.auto, or user_managed replicas in at least two regions (every API region).",
    types=[t.SECRET],
)
def secret_replication(r: Resource, ctx: RuleContext) -> Iterator[str]:
    replication = r.props.get("replication")
    if not is_known(replication):
        return
    if not isinstance(replication, dict) or not ({"auto", "userManaged"} & replication.keys()):
        yield "no replication policy"
        return
    if "userManaged" in replication:
        replicas = as_list(get(replication, "userManaged.replicas"))
        locations = {str(replica.get("location")) for replica in replicas if isinstance(replica, dict)}
        if len(locations) < 2:
            where = ", ".join(sorted(locations)) or "no region"
            yield f"user-managed replication in {where} only: one regional outage stops every read"
