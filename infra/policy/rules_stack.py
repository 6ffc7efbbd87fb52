"""Cross-resource and stack rules: backups per database, backup regions, audit logs, secret access,
alerts and runbooks, phase order between stacks, regions and failover per phase, disaster recovery.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from infra.locations import firestore_spans
from infra.monitoring import RUNBOOK_SECTIONS
from infra.plan.stackfile import PlanInputError, load_stack

from . import tokens as t
from .dr import api_failover, database_id, dr_figures, export_jobs, schedules_of
from .model import Finding, RuleContext, RuleSet, Severity, StackView
from .rules_gcp import is_backup_bucket
from .values import as_list, get, iam_grants, is_known, refers_to, values_at

rules = RuleSet()

# --- backups ---------------------------------------------------------------------------------------

MAX_SCHEDULES_PER_DATABASE = 2


@rules.stack(
    "POG-FS-005",
    Severity.HIGH,
    "Every Firestore database has a daily and a weekly backup schedule (two at most)",
    "Declare gcp.firestore.BackupSchedule with daily_recurrence (7 d) and one with weekly_recurrence"
    " (14 w) for the database (infra/stacks/backups.py).",
)
def backup_schedules(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    for database in stack.of_type(t.FIRESTORE_DATABASE):
        schedules = schedules_of(stack, database)
        kinds = {k for s in schedules for k in ("dailyRecurrence", "weeklyRecurrence") if k in s.props}
        missing = [
            k.removesuffix("Recurrence") for k in ("dailyRecurrence", "weeklyRecurrence") if k not in kinds
        ]
        if missing:
            yield Finding(
                f"database {database_id(database)} has no {' and no '.join(missing)} backup schedule",
                database.key,
            )
        if len(schedules) > MAX_SCHEDULES_PER_DATABASE:
            yield Finding(
                f"database {database_id(database)} has {len(schedules)} backup schedules; Firestore allows"
                f" {MAX_SCHEDULES_PER_DATABASE}",
                database.key,
            )


@rules.stack(
    "POG-BAK-001",
    Severity.HIGH,
    "From phase 2, exports land in a bucket outside the region(s) of the database they copy",
    "Put the export bucket (pot-of-gold:backupRegion) in a region no exported database spans"
    " (infra/locations.py firestore_spans), or give such databases their own export bucket.",
)
def exports_in_another_region(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    profile = ctx.profile
    if profile is not None and not profile.backups_in_other_region:
        return
    databases = {database_id(d): d for d in stack.of_type(t.FIRESTORE_DATABASE)}
    buckets = stack.of_type(t.BUCKET)
    for job in export_jobs(stack):
        database = databases.get(job.database)
        bucket = next((b for b in buckets if job.bucket and refers_to(job.bucket, b)), None)
        if database is None or bucket is None:
            continue
        location, bucket_location = database.props.get("locationId"), bucket.props.get("location")
        if not (is_known(location) and is_known(bucket_location)):
            continue
        if str(bucket_location).lower() in firestore_spans(str(location)):
            yield Finding(
                f"exports of database {job.database} ({location}) land in {bucket.name} in {bucket_location}:"
                " one regional outage takes the database and its exports",
                bucket.key,
            )


@rules.stack(
    "POG-BAK-002",
    Severity.MEDIUM,
    "Every Firestore database has a scheduled managed export",
    "Declare a gcp.cloudscheduler.Job calling .../databases/<id>:exportDocuments for the database"
    " (infra/stacks/backups.py).",
)
def export_per_database(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    exported = {job.database for job in export_jobs(stack)}
    for database in stack.of_type(t.FIRESTORE_DATABASE):
        if database_id(database) not in exported:
            yield Finding(f"database {database_id(database)} has no scheduled export job", database.key)


# --- logging and audit ---------------------------------------------------------------------------

DATA_ACCESS_LOGS = frozenset({"DATA_READ", "DATA_WRITE"})
# Services holding player data, secrets and keys; datastore.googleapis.com also covers the Firestore API.
AUDITED_SERVICES = ("datastore.googleapis.com", "secretmanager.googleapis.com", "cloudkms.googleapis.com")


def _audited(stack: StackView) -> dict[str, set[str]]:
    """Service -> the log types its Data Access audit config turns on (allServices counts for all)."""
    audited: dict[str, set[str]] = {}
    for config in stack.of_type(t.AUDIT_CONFIG):
        types = {
            str(c.get("logType")) for c in as_list(config.props.get("auditLogConfigs")) if isinstance(c, dict)
        }
        audited.setdefault(str(config.props.get("service")), set()).update(types)
    return audited


def _logs_data_access(audited: dict[str, set[str]], service: str) -> bool:
    turned_on = audited.get(service, set()) | audited.get("allServices", set())
    return DATA_ACCESS_LOGS.issubset(turned_on)


@rules.stack(
    "POG-IAM-006",
    Severity.MEDIUM,
    "Data Access audit logs are on for Firestore, Secret Manager and KMS",
    "Declare gcp.projects.IAMAuditConfig with DATA_READ and DATA_WRITE for each service"
    " (infra/stacks/foundation.py AUDITED_SERVICES).",
    checkov="CKV2_GCP_5",
)
def data_access_audit_logs(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    audited = _audited(stack)
    for service in AUDITED_SERVICES:
        if not _logs_data_access(audited, service):
            yield Finding(
                f"no DATA_READ and DATA_WRITE audit logs for {service}: reads of its data leave no trace"
            )


@rules.stack(
    "POG-GCS-004",
    Severity.MEDIUM,
    "Reads of backup and export buckets are logged",
    "Turn on Data Access audit logs (DATA_READ, DATA_WRITE) for storage.googleapis.com (add it to"
    " AUDITED_SERVICES in infra/stacks/foundation.py), or give the bucket a logging block.",
    checkov="CKV_GCP_62",
)
def backup_bucket_access_logging(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    if _logs_data_access(_audited(stack), "storage.googleapis.com"):
        return
    for bucket in stack.of_type(t.BUCKET):
        if is_backup_bucket(bucket) and not get(bucket.props, "logging.logBucket"):
            yield Finding(
                "a backup bucket whose reads are not logged: nobody can tell who downloaded the copies",
                bucket.key,
            )


# --- secrets ---------------------------------------------------------------------------------------

SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"


def _runtime_accounts(stack: StackView) -> set[str]:
    return {
        f"serviceAccount:{account}"
        for service in stack.of_type(t.RUN_SERVICE)
        if isinstance(account := get(service.props, "template.serviceAccount"), str) and is_known(account)
    }


@rules.stack(
    "POG-SEC-002",
    Severity.HIGH,
    "Only the API runtime service account may read secrets",
    "Grant roles/secretmanager.secretAccessor per secret (SecretIamMember) to the Cloud Run service"
    " account only; never on the project.",
)
def secret_accessor_runtime_only(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    runtime = _runtime_accounts(stack)
    for grant in stack.resources:
        secret_level = grant.type.startswith("gcp:secretmanager/") and grant.type != t.SECRET
        project_level = grant.type in t.PROJECT_IAM_TYPES
        if not (secret_level or project_level):
            continue
        for role, member in iam_grants(grant.props):
            if role != SECRET_ACCESSOR or not is_known(member):
                continue
            if project_level:
                yield Finding(
                    f"grants {role} on the whole project to {member}: it can read every secret", grant.key
                )
            elif runtime and member not in runtime:
                yield Finding(
                    f"grants {role} to {member}, which is not the API runtime ({', '.join(sorted(runtime))})",
                    grant.key,
                )


@rules.stack(
    "POG-SEC-003",
    Severity.MEDIUM,
    "Cloud Run secret references name secrets of this stack that its service account can read",
    "Declare the secret (Foundation.secrets) and a SecretIamMember granting secretAccessor to the"
    " service's account.",
)
def secret_references(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    secrets = stack.of_type(t.SECRET)
    grants = [g for g in stack.resources if g.type.startswith("gcp:secretmanager/") and g.type != t.SECRET]
    for service in stack.of_type(t.RUN_SERVICE):
        account = get(service.props, "template.serviceAccount")
        member = f"serviceAccount:{account}" if isinstance(account, str) and is_known(account) else None
        for where, ref in values_at(
            service.props, "template.containers[].envs[].valueSource.secretKeyRef.secret"
        ):
            if not is_known(ref):
                continue
            secret = next((s for s in secrets if refers_to(ref, s)), None)
            if secret is None:
                yield Finding(f"{where} names secret {ref!r}, which this stack does not declare", service.key)
                continue
            readable = any(
                refers_to(g.props.get("secretId"), secret)
                and (SECRET_ACCESSOR, member) in iam_grants(g.props)
                for g in grants
            )
            if member is not None and not readable:
                yield Finding(
                    f"{where}: {member} cannot read secret {ref!r} (no secretAccessor grant)", service.key
                )


# --- monitoring --------------------------------------------------------------------------------------

_RUNBOOK = re.compile(r"runbooks/[A-Za-z0-9_./-]+\.md")


@rules.stack(
    "POG-MON-001",
    Severity.HIGH,
    "Every alert policy links a runbook that exists, with Meaning, Impact, Diagnosis and Mitigation",
    "Name the runbook in the alert definition (monitoring/alerts/<id>.yaml `runbook:`) and write it"
    " under runbooks/ with the four sections.",
)
def alert_runbooks(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    for alert in stack.of_type(t.ALERT_POLICY):
        content = get(alert.props, "documentation.content")
        if not is_known(content):
            continue
        match = _RUNBOOK.search(str(content or ""))
        if match is None:
            yield Finding("its documentation names no runbook (runbooks/....md)", alert.key)
            continue
        path = ctx.repo_root / match[0]
        if not path.is_file():
            yield Finding(f"links {match[0]}, which does not exist", alert.key)
            continue
        lines = {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
        missing = [s for s in RUNBOOK_SECTIONS if s not in lines]
        if missing:
            yield Finding(f"{match[0]} lacks {', '.join(missing)}", alert.key)


@rules.stack(
    "POG-MON-002",
    Severity.HIGH,
    "Every alert policy reaches a notification channel of this stack (prod: critical ones page)",
    "Set notification_channels to the stack's channels (Observability._channels_for); in prod, route"
    " critical alerts to the PagerDuty channel.",
)
def alert_channels(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    channels = stack.of_type(t.NOTIFICATION_CHANNEL)
    for alert in stack.of_type(t.ALERT_POLICY):
        refs = alert.props.get("notificationChannels")
        if not is_known(refs):
            continue
        if not as_list(refs) or not channels:
            yield Finding("reaches no notification channel: it fires and nobody hears it", alert.key)
            continue
        known = [r for r in as_list(refs) if is_known(r)]
        reached = [c for c in channels if any(refers_to(r, c) for r in known)]
        if len(known) == len(as_list(refs)) and not reached:
            yield Finding("its notification channels are not channels of this stack", alert.key)
        critical = alert.props.get("severity") == "CRITICAL"
        if (
            ctx.is_prod
            and critical
            and reached
            and not any(c.props.get("type") == "pagerduty" for c in reached)
        ):
            yield Finding("a critical prod alert that pages nobody (no PagerDuty channel)", alert.key)


# --- phases, regions, disaster recovery ------------------------------------------------------------


@rules.stack(
    "POG-STK-001",
    Severity.HIGH,
    "Prod's phase is never ahead of dev's (stack files)",
    "Promote dev first (`pog promote --from dev --to prod` moves prod one phase at most to dev's).",
)
def prod_not_ahead_of_dev(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    try:
        dev, prod = (load_stack(name, root=ctx.repo_root).phase for name in ("dev", "prod"))
    except PlanInputError:
        return  # a repository without both stacks has no order to keep
    if prod > dev:
        yield Finding(f"Pulumi.prod.yaml is at phase {prod}, ahead of Pulumi.dev.yaml at phase {dev}")


@rules.stack(
    "POG-STK-002",
    Severity.HIGH,
    "The API runs in the phase profile's number of regions; multi-region phases fail over automatically",
    "Set pot-of-gold:failoverRegions (two regions for phase 3) and keep every region behind one load"
    " balancer backend with outlier detection and a warm instance (infra/stacks/compute/load_balancer.py).",
)
def api_regions(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    profile = ctx.profile
    if profile is None:
        return
    failover = api_failover(stack)
    if len(failover.regions) != profile.api_region_count:
        found = ", ".join(failover.regions) or "none"
        yield Finding(
            f"phase {ctx.phase} runs the API in {profile.api_region_count} region(s); the stack declares"
            f" Cloud Run in {len(failover.regions)} ({found})"
        )
    elif profile.multi_region and failover.automatic is False:
        yield Finding(f"no failover path between the API regions: {failover.basis}")


@rules.stack(
    "POG-STK-003",
    Severity.HIGH,
    "Prod meets the disaster-recovery targets: RPO 5 min, RTO 1 h (regional failover when multi-region)",
    "Turn on PITR on every database (RPO ~1 min); from phase 3 keep automatic failover across the API"
    " regions.",
)
def disaster_recovery(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    figures = dr_figures(stack, ctx)
    if figures.enforced:
        for problem in figures.problems:
            yield Finding(problem)
