"""Audit: the key that signs the audit chains' heads and the write-once bucket of their anchors.

The app signs each chain head with ``pog-<env>-audit-heads`` (EC_SIGN_P256_SHA256) and every 15 minutes
copies the signed heads to ``pog-<env>-audit-anchors`` (the ``audit-anchor`` job): someone who can write
Firestore can then neither rewrite a chain (no signing key) nor roll it back (the anchors are older than
the rollback, and they cannot touch them). See app/core/signing.py and docs/payments.md#the-audit-log.

- The runtime may only *use* the key to sign (``roles/cloudkms.signer`` on this key alone); verifying
  needs ``roles/cloudkms.publicKeyViewer`` (on-call's own role) or the exported public key.
- The runtime may create and read anchors, never delete or replace them (``objectCreator`` and
  ``objectViewer``; replacing an object needs ``storage.objects.delete``). The retention policy keeps
  each anchor ANCHOR_RETENTION_DAYS and is locked in prod (irreversible: not even an owner can shorten it
  or delete the bucket before its objects expire); dev's is unlocked so the stack can be torn down.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile
from infra.stacks.common import child, labels

SIGNING_ALGORITHM = "EC_SIGN_P256_SHA256"
#: A little over a year: the audit log's review period plus a quarter's slack.
ANCHOR_RETENTION_DAYS = 400
#: Anchors are small JSON objects written every 15 minutes: kept in Standard until they expire.
ANCHOR_DELETE_AFTER_DAYS = ANCHOR_RETENTION_DAYS + 1


@dataclass
class AuditArgs:
    prefix: str
    project: str
    bucket_location: str
    key_ring: gcp.kms.KeyRing
    runtime_account: gcp.serviceaccount.Account
    profile: PhaseProfile


def signing_key_version(key_id: str) -> str:
    """The key version the app signs with: the first, created with the key (a rotation adds versions and
    changes POG_AUDIT_SIGNING_KEY; older heads keep naming the version that signed them)."""
    return f"{key_id}/cryptoKeyVersions/1"


class Audit(pulumi.ComponentResource):
    """Public attributes:

    signing_key: gcp.kms.CryptoKey       signs the chain heads and the anchors (asymmetric)
    anchor_bucket: gcp.storage.Bucket    the anchors, write-once, retained ANCHOR_RETENTION_DAYS
    """

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:audit:Audit", name, None, opts)
        p = args.prefix
        member = args.runtime_account.member
        # Cloud KMS keys cannot be deleted: protected in every environment, like the data key.
        self.signing_key = gcp.kms.CryptoKey(
            f"{p}-audit-heads",
            name=f"{p}-audit-heads",
            key_ring=args.key_ring.id,
            purpose="ASYMMETRIC_SIGN",
            version_template=gcp.kms.CryptoKeyVersionTemplateArgs(
                algorithm=SIGNING_ALGORITHM, protection_level="SOFTWARE"
            ),
            labels=labels(p, "audit"),
            opts=child(self, protect=True),
        )
        gcp.kms.CryptoKeyIAMMember(
            f"{p}-audit-heads-api-signer",
            crypto_key_id=self.signing_key.id,
            role="roles/cloudkms.signer",
            member=member,
            opts=child(self),
        )
        locked = args.profile.is_prod
        self.anchor_bucket = gcp.storage.Bucket(
            f"{p}-audit-anchors",
            name=f"{p}-audit-anchors",
            project=args.project,
            location=args.bucket_location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            retention_policy=gcp.storage.BucketRetentionPolicyArgs(
                retention_period=str(ANCHOR_RETENTION_DAYS * 86_400), is_locked=locked
            ),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=ANCHOR_DELETE_AFTER_DAYS),
                )
            ],
            soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=7 * 86_400),
            force_destroy=False,
            labels=labels(p, "audit"),
            opts=child(self, protect=locked),
        )
        for role in ("roles/storage.objectCreator", "roles/storage.objectViewer"):
            gcp.storage.BucketIAMMember(
                f"{p}-audit-anchors-api-{role.removeprefix('roles/storage.').lower()}",
                bucket=self.anchor_bucket.name,
                role=role,
                member=member,
                opts=child(self),
            )
        self.signing_key_version = self.signing_key.id.apply(signing_key_version)
        self.register_outputs({"signingKey": self.signing_key.id, "anchorBucket": self.anchor_bucket.name})
