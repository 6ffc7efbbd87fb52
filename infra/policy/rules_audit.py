"""Stack rules for the audit log's tamper evidence (infra/stacks/audit.py, app/core/signing.py).

The audit chains are only tamper-evident if their heads are signed with a key no Firestore writer holds
and copied to a bucket nobody can rewrite: the anchors bucket exists with versioning and a retention
policy (locked in prod), the signing key is an asymmetric P-256 signing key, and only the runtime account
may sign with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatch

from . import tokens as t
from .model import Finding, Resource, RuleContext, RuleSet, Severity, StackView
from .values import DAY, enabled, iam_grants, is_known, refers_to

rules = RuleSet()

ANCHORS_BUCKET = "audit-anchors"
SIGNING_KEY = "audit-heads"
SIGNING_ALGORITHM = "EC_SIGN_P256_SHA256"
MIN_ANCHOR_RETENTION = 365 * DAY
#: Roles that can sign with a key (cloudkms.cryptoKeyVersions.useToSign).
SIGNING_ROLES = frozenset(
    {
        "roles/cloudkms.signer",
        "roles/cloudkms.signerVerifier",
        "roles/cloudkms.cryptoOperator",
        "roles/cloudkms.admin",
        "roles/owner",
        "roles/editor",
    }
)


def _named(stack: StackView, type_: str, ctx: RuleContext, thing: str) -> list[Resource]:
    wanted = f"pog-{ctx.environment}-{thing}"
    return [r for r in stack.of_type(type_) if r.props.get("name") == wanted]


@rules.stack(
    "POG-AUDIT-001",
    Severity.HIGH,
    "The audit anchors bucket is versioned and retains objects a year or more, locked in prod",
    "Declare pog-<env>-audit-anchors in infra/stacks/audit.py with versioning, retention_policy"
    " (retention_period >= 365 days) and is_locked=True in prod.",
)
def anchors_bucket(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    found = _named(stack, t.BUCKET, ctx, ANCHORS_BUCKET)
    if not found:
        yield Finding(f"no pog-{ctx.environment}-{ANCHORS_BUCKET} bucket: the audit chains have no anchors")
        return
    bucket = found[0]
    versioning = bucket.props.get("versioning")
    if is_known(versioning) and not (isinstance(versioning, dict) and enabled(versioning.get("enabled"))):
        yield Finding("versioning is off: an anchor could be replaced without a trace", bucket.key)
    policy = bucket.props.get("retentionPolicy")
    if not is_known(policy):
        return
    if not isinstance(policy, dict):
        yield Finding("no retention policy: anchors could be deleted", bucket.key)
        return
    period = policy.get("retentionPeriod")
    if is_known(period) and (not str(period).isdigit() or int(str(period)) < MIN_ANCHOR_RETENTION):
        yield Finding(f"retentionPeriod {period}s is under 365 days", bucket.key)
    if ctx.is_prod and is_known(policy.get("isLocked")) and not enabled(policy.get("isLocked")):
        yield Finding("the retention policy is not locked in prod: an owner could shorten it", bucket.key)


@rules.stack(
    "POG-AUDIT-002",
    Severity.HIGH,
    "The audit signing key is an asymmetric EC_SIGN_P256_SHA256 key",
    "Declare pog-<env>-audit-heads with purpose='ASYMMETRIC_SIGN' and algorithm 'EC_SIGN_P256_SHA256'"
    " (infra/stacks/audit.py; app/core/signing.py verifies P-256 signatures).",
)
def signing_key(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    found = _named(stack, t.CRYPTO_KEY, ctx, SIGNING_KEY)
    if not found:
        yield Finding(f"no pog-{ctx.environment}-{SIGNING_KEY} key: the audit chain heads are unsigned")
        return
    key = found[0]
    purpose = key.props.get("purpose")
    template = key.props.get("versionTemplate")
    algorithm = template.get("algorithm") if isinstance(template, dict) else None
    if is_known(purpose) and purpose != "ASYMMETRIC_SIGN":
        yield Finding(f"purpose {purpose!r}, not ASYMMETRIC_SIGN", key.key)
    if is_known(algorithm) and algorithm != SIGNING_ALGORITHM:
        yield Finding(f"algorithm {algorithm!r}, not {SIGNING_ALGORITHM}", key.key)


@rules.stack(
    "POG-AUDIT-003",
    Severity.CRITICAL,
    "Only the runtime account may sign with the audit signing key",
    "Grant roles/cloudkms.signer on pog-<env>-audit-heads to the API's account alone; verifiers need"
    " roles/cloudkms.publicKeyViewer, never a signing role.",
)
def only_runtime_signs(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    keys = _named(stack, t.CRYPTO_KEY, ctx, SIGNING_KEY)
    runtime = f"serviceAccount:pog-{ctx.environment}-api@"
    for grant in stack.resources:
        if not any(fnmatch(grant.type, pattern) for pattern in t.KMS_IAM_TYPES):
            continue
        if not any(refers_to(grant.props.get("cryptoKeyId"), key) for key in keys):
            continue
        for role, member in iam_grants(grant.props):
            if role in SIGNING_ROLES and is_known(member) and not member.startswith(runtime):
                yield Finding(f"{member} holds {role} on the audit signing key", grant.key)
