"""Resource rules for Google Cloud: storage, KMS, IAM, Cloud Run, Firestore, secrets, load balancing."""

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
    iam_grants,
    is_known,
    parse_duration,
    public_members,
    values_at,
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


# --- Cloud KMS -----------------------------------------------------------------------------------

MIN_ROTATION = DAY
MAX_ROTATION = 90 * DAY


@rules.resource(
    "POG-KMS-001",
    Severity.HIGH,
    "Symmetric KMS keys rotate automatically, every 1 to 90 days",
    "Set rotation_period between '86400s' and '7776000s' (the seed asks for 30 days: '2592000s').",
    types=[t.CRYPTO_KEY],
    checkov="CKV_GCP_43",
)
def kms_rotation(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.props.get("purpose", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return  # only symmetric keys rotate automatically
    value = r.props.get("rotationPeriod")
    if not is_known(value):
        return
    if value is None:
        yield "no rotationPeriod: the key never rotates"
        return
    seconds = parse_duration(value)
    if seconds is not None and not MIN_ROTATION <= seconds <= MAX_ROTATION:
        yield f"rotationPeriod {value} ({human_duration(seconds)}) is outside 1 to 90 days"


@rules.resource(
    "POG-KMS-002",
    Severity.HIGH,
    "KMS key rings and keys are protected",
    "Pass protect=True: Cloud KMS cannot delete key rings or keys, and a destroyed key loses its data.",
    types=[t.KEY_RING, t.CRYPTO_KEY],
    checkov="CKV_GCP_82",
)
def kms_protected(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if not r.protect:
        yield "not protected: `pulumi destroy` would schedule the key material for destruction"


@rules.resource(
    "POG-KMS-003",
    Severity.CRITICAL,
    "KMS keys are never granted to allUsers or allAuthenticatedUsers",
    "Grant KMS roles to named service accounts only.",
    types=t.KMS_IAM_TYPES,
    checkov="CKV_GCP_112",
)
def kms_not_public(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for member in public_members(r.props):
        yield f"grants {r.props.get('role', 'a role')} on a KMS key to {member}"


# --- IAM -----------------------------------------------------------------------------------------


@rules.resource(
    "POG-IAM-001",
    Severity.CRITICAL,
    "No IAM grant to allUsers or allAuthenticatedUsers",
    "Grant to named principals; public content goes through Cloudflare and the load balancer.",
    types=t.IAM_TYPES,
    checkov="CKV_GCP_28",
    # KMS and Cloud Run grants have their own rules (POG-KMS-003, POG-RUN-001).
    exclude=[*t.KMS_IAM_TYPES, *t.RUN_IAM_TYPES],
)
def iam_not_public(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for member in public_members(r.props):
        yield f"grants {r.props.get('role', 'a role')} to {member}"


BASIC_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})


@rules.resource(
    "POG-IAM-002",
    Severity.HIGH,
    "No basic roles (owner, editor, viewer) on the project",
    "Grant the predefined role the workload needs, on the resource when it has IAM.",
    types=t.PROJECT_IAM_TYPES,
    checkov="CKV_GCP_117",
)
def no_basic_roles(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for role, member in iam_grants(r.props):
        if role in BASIC_ROLES:
            yield f"grants the basic role {role} to {member}"


# Admin roles a service account may hold on the project, each with the reason no narrower grant exists.
PROJECT_ADMIN_ROLES_ALLOWED: dict[str, str] = {
    "roles/datastore.importExportAdmin": "exportDocuments is authorised on the project only",
}


@rules.resource(
    "POG-IAM-003",
    Severity.HIGH,
    "Service accounts hold no admin roles on the project",
    "Grant a narrower role, or on the resource; list unavoidable ones in PROJECT_ADMIN_ROLES_ALLOWED"
    " (infra/policy/rules_gcp.py) with the reason.",
    types=t.PROJECT_IAM_TYPES,
    checkov="CKV_GCP_42",
)
def no_admin_service_accounts(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for role, member in iam_grants(r.props):
        if not member.startswith("serviceAccount:") or role in PROJECT_ADMIN_ROLES_ALLOWED:
            continue
        if role in ("roles/owner", "roles/editor") or "admin" in role.lower():
            yield f"grants the admin role {role} on the project to {member}"


IMPERSONATION_ROLES = frozenset({"roles/iam.serviceAccountUser", "roles/iam.serviceAccountTokenCreator"})


@rules.resource(
    "POG-IAM-004",
    Severity.HIGH,
    "No Service Account User or Token Creator on the project",
    "Grant the role on the one service account to be used (gcp.serviceaccount.IAMMember).",
    types=t.PROJECT_IAM_TYPES,
    checkov="CKV_GCP_41, CKV_GCP_49",
)
def no_project_impersonation(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for role, member in iam_grants(r.props):
        if role in IMPERSONATION_ROLES:
            yield f"grants {role} on the whole project to {member}: it can act as every service account"


@rules.resource(
    "POG-IAM-005",
    Severity.HIGH,
    "No user-managed service account or HMAC keys",
    "Use the attached service account (Cloud Run, Cloud Scheduler OIDC/OAuth) or workload identity"
    " federation; never a downloadable key.",
    types=[t.SA_KEY, t.HMAC_KEY],
    checkov="CKV2_GCP_3",
)
def no_service_account_keys(r: Resource, ctx: RuleContext) -> Iterator[str]:
    yield "declares a long-lived key: it can leak and does not expire"


# --- Cloud Run -----------------------------------------------------------------------------------

INTERNAL_INGRESS = frozenset({"INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "INGRESS_TRAFFIC_INTERNAL_ONLY"})
# Cloud Run services that may be invoked by anyone (none: the API is reached through the load balancer).
PUBLIC_SERVICES: frozenset[str] = frozenset()


@rules.resource(
    "POG-RUN-001",
    Severity.CRITICAL,
    "Cloud Run is not invokable by allUsers unless listed",
    "Remove the public invoker grant; reach the service through the load balancer (ingress internal and"
    " LB), or list it in PUBLIC_SERVICES (infra/policy/rules_gcp.py) with the reason.",
    types=[t.RUN_SERVICE, *t.RUN_IAM_TYPES],
)
def run_invoker_not_public(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.type == t.RUN_SERVICE:
        ingress = r.props.get("ingress", "INGRESS_TRAFFIC_ALL")
        public = enabled(r.props.get("invokerIamDisabled")) and is_known(ingress)
        if public and ingress not in INTERNAL_INGRESS and r.props.get("name", r.name) not in PUBLIC_SERVICES:
            yield f"invokerIamDisabled with ingress {ingress}: anyone on the internet can invoke it"
        return
    service = r.props.get("name", r.props.get("service"))
    if service in PUBLIC_SERVICES:
        return
    for member in public_members(r.props):
        yield f"grants {r.props.get('role', 'a role')} on Cloud Run service {service!r} to {member}"


@rules.resource(
    "POG-RUN-002",
    Severity.HIGH,
    "Cloud Run ingress is internal and load balancer only",
    "Set ingress='INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER' so the origin is not reachable around"
    " Cloudflare and Cloud Armor.",
    types=[t.RUN_SERVICE],
)
def run_ingress(r: Resource, ctx: RuleContext) -> Iterator[str]:
    ingress = r.props.get("ingress", "INGRESS_TRAFFIC_ALL")
    if is_known(ingress) and ingress not in INTERNAL_INGRESS:
        yield f"ingress is {ingress}: the service's own URL bypasses Cloudflare, the WAF and Cloud Armor"


_DEFAULT_SERVICE_ACCOUNT = re.compile(r"(-compute@developer|@appspot)\.gserviceaccount\.com$")


@rules.resource(
    "POG-RUN-003",
    Severity.HIGH,
    "Cloud Run runs as a dedicated service account",
    "Set template.service_account to the workload's own account (Foundation's 'api' account),"
    " never the default compute account (project Editor).",
    types=[t.RUN_SERVICE],
)
def run_dedicated_service_account(r: Resource, ctx: RuleContext) -> Iterator[str]:
    account = get(r.props, "template.serviceAccount")
    if account is None:
        yield "no template.serviceAccount: the revision runs as the default compute service account"
    elif is_known(account) and _DEFAULT_SERVICE_ACCOUNT.search(str(account)):
        yield f"runs as the default service account {account}"


_SECRET_ENV = re.compile(r"^POG_\w*(KEY|SECRET|TOKEN|DSN|PASSWORD|AUTH)$")
# Variables named like secrets that hold identifiers, each with the reason.
NOT_SECRET_ENV: dict[str, str] = {
    "POG_AUDIT_KMS_KEY": "the KMS key's resource name; the key material never leaves Cloud KMS",
}
# Other variables that carry credentials (a password inside a URL).
SECRET_ENV_EXTRA = frozenset({"POG_REDIS_URL"})
_CREDENTIAL_VALUE = re.compile(r"^(sk|rk)_(live|test)_|^whsec_|^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]+@")


@rules.resource(
    "POG-RUN-004",
    Severity.CRITICAL,
    "Secrets reach Cloud Run as Secret Manager references, never as plain values",
    "Map the variable with value_source.secret_key_ref to a Secret Manager secret"
    " (Foundation.secrets; add it to APP_SECRETS).",
    types=[t.RUN_SERVICE],
)
def run_secrets_from_secret_manager(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for where, env in values_at(r.props, "template.containers[].envs[]"):
        if not isinstance(env, dict) or "value" not in env:
            continue
        name, value = str(env.get("name", "")), env["value"]
        by_name = (_SECRET_ENV.match(name) or name in SECRET_ENV_EXTRA) and name not in NOT_SECRET_ENV
        by_value = isinstance(value, str) and bool(_CREDENTIAL_VALUE.search(value))
        if by_name or by_value:
            # Never print the value: it may be the secret itself.
            yield f"{where} sets {name} as a plain value, visible to anyone who can read the service"


@rules.resource(
    "POG-RUN-005",
    Severity.HIGH,
    "Prod keeps at least one warm instance per Cloud Run service",
    "Set template.scaling.min_instance_count >= 1 in prod (infra/phases.py _RUN_SCALING).",
    types=[t.RUN_SERVICE],
)
def run_min_instances_in_prod(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if not ctx.is_prod:
        return
    value = get(r.props, "template.scaling.minInstanceCount", 0)
    if is_known(value) and (not isinstance(value, int | float) or value < 1):
        yield f"minInstanceCount is {value}: a cold start on every scale-up, and no warm failover target"


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


# --- Load balancing --------------------------------------------------------------------------------

DEFAULT_RULE_PRIORITY = 2147483647


@rules.resource(
    "POG-LB-001",
    Severity.HIGH,
    "Public backends are guarded by Cloud Armor",
    "Attach the Cloud Armor policy that admits Cloudflare's ranges only (security_policy on backend"
    " services, edge_security_policy on backend buckets).",
    types=[t.BACKEND_SERVICE, t.BACKEND_BUCKET],
)
def backend_cloud_armor(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.type == t.BACKEND_BUCKET:
        if not r.props.get("edgeSecurityPolicy"):
            yield "no edgeSecurityPolicy: the bucket is served to anyone, around Cloudflare"
        return
    if str(r.props.get("loadBalancingScheme", "EXTERNAL")).startswith("EXTERNAL") and not r.props.get(
        "securityPolicy"
    ):
        yield "no securityPolicy: the origin answers requests that did not come through Cloudflare"


@rules.resource(
    "POG-LB-002",
    Severity.HIGH,
    "Cloud Armor policies deny by default",
    f"Give the policy a rule at priority {DEFAULT_RULE_PRIORITY} with action deny(403) matching '*'.",
    types=[t.SECURITY_POLICY],
)
def armor_default_deny(r: Resource, ctx: RuleContext) -> Iterator[str]:
    rules_ = as_list(r.props.get("rules"))
    if not is_known(r.props.get("rules")):
        return
    default = [x for x in rules_ if isinstance(x, dict) and x.get("priority") == DEFAULT_RULE_PRIORITY]
    if not default:
        yield "no default rule: Cloud Armor's implicit default allows every request"
    elif not str(default[0].get("action", "")).startswith("deny"):
        yield f"the default rule's action is {default[0].get('action')!r}, not deny"


TLS_VERSIONS = ("TLS_1_0", "TLS_1_1", "TLS_1_2", "TLS_1_3")


@rules.resource(
    "POG-LB-003",
    Severity.HIGH,
    "The load balancer accepts TLS 1.2 or newer only",
    "Attach an SSLPolicy with min_tls_version='TLS_1_2' (profile RESTRICTED or MODERN) to the HTTPS proxy.",
    types=[t.SSL_POLICY, t.HTTPS_PROXY],
)
def lb_min_tls(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.type == t.HTTPS_PROXY:
        if not r.props.get("sslPolicy"):
            yield "no sslPolicy: Google's default policy accepts TLS 1.0"
        return
    version = r.props.get("minTlsVersion", "TLS_1_0")
    if is_known(version) and version in TLS_VERSIONS and TLS_VERSIONS.index(version) < 2:
        yield f"minTlsVersion is {version}"


@rules.resource(
    "POG-LB-004",
    Severity.LOW,
    "Backend services log requests",
    "Set log_config=BackendServiceLogConfigArgs(enable=True, sample_rate=...).",
    types=[t.BACKEND_SERVICE],
)
def backend_logging(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = get(r.props, "logConfig.enable")
    if is_known(value) and not enabled(value):
        yield "request logging is off: no record of Cloud Armor verdicts or of who called the API"
