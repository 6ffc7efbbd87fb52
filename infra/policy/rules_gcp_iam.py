"""Resource rules for Google Cloud's identities and keys: IAM grants, service accounts, Cloud KMS."""

from __future__ import annotations

from collections.abc import Iterator

from . import tokens as t
from .model import Resource, RuleContext, RuleSet, Severity
from .values import (
    DAY,
    human_duration,
    iam_grants,
    is_known,
    parse_duration,
    public_members,
)

rules = RuleSet()

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
    # KMS, Cloud Run and BigQuery grants have their own rules (POG-KMS-003, POG-RUN-001, POG-ANL-001).
    exclude=[*t.KMS_IAM_TYPES, *t.RUN_IAM_TYPES, *t.BIGQUERY_IAM_TYPES],
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
    # Realtime Database instances have no IAM of their own, and the only predefined role that writes
    # data (the server's messages and mirrors, the rules deployment) is the admin one (contract/backend.yaml).
    "roles/firebasedatabase.admin": "the only predefined role that writes Realtime Database data",
}


@rules.resource(
    "POG-IAM-003",
    Severity.HIGH,
    "Service accounts hold no admin roles on the project",
    "Grant a narrower role, or on the resource; list unavoidable ones in PROJECT_ADMIN_ROLES_ALLOWED"
    " (infra/policy/rules_gcp_iam.py) with the reason.",
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
