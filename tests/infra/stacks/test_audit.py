"""Audit layer: the key that signs the audit chains' heads and the write-once anchors bucket."""

from __future__ import annotations

from infra.plan.engine import Plan
from infra.stacks.audit import ANCHOR_RETENTION_DAYS
from tests.infra.stacks.layers import Layer, api_member, prefix

BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
SERVICE = "gcp:cloudrunv2/service:Service"

LAYER = Layer("potgold:audit:Audit", "audit")


def test_the_signing_key_is_p256_protected_and_only_the_runtime_signs(plan: Plan) -> None:
    [key] = LAYER.mine(plan, KEY)
    assert key.inputs["name"] == f"{prefix(plan)}-audit-heads"
    assert key.inputs["purpose"] == "ASYMMETRIC_SIGN"
    assert key.inputs["versionTemplate"]["algorithm"] == "EC_SIGN_P256_SHA256"
    assert key.protect
    grants = [(g.inputs["role"], g.inputs["member"]) for g in LAYER.mine(plan, KEY_IAM)]
    assert grants == [("roles/cloudkms.signer", api_member(plan))]


def test_anchors_are_write_once_and_retained_locked_in_prod(plan: Plan) -> None:
    [bucket] = LAYER.mine(plan, BUCKET)
    assert bucket.inputs["name"] == f"{prefix(plan)}-audit-anchors"
    assert bucket.inputs["versioning"] == {"enabled": True}
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    retention = bucket.inputs["retentionPolicy"]
    assert retention["retentionPeriod"] == str(ANCHOR_RETENTION_DAYS * 86_400)
    assert retention["isLocked"] is (plan.stack == "prod")
    roles = sorted((g.inputs["role"], g.inputs["member"]) for g in LAYER.mine(plan, BUCKET_IAM))
    assert roles == [
        ("roles/storage.objectCreator", api_member(plan)),
        ("roles/storage.objectViewer", api_member(plan)),
    ]


def test_every_api_service_gets_the_signing_key_version_and_the_bucket(plan: Plan) -> None:
    services = plan.of_type(SERVICE)
    assert services
    envs = [
        {e["name"]: e.get("value") for e in s.inputs["template"]["containers"][0]["envs"]} for s in services
    ]
    expected_version = f"{prefix(plan)}-audit-heads-id/cryptoKeyVersions/1"
    assert {e["POG_AUDIT_SIGNING_KEY"] for e in envs} == {expected_version}
    assert {e["POG_AUDIT_ANCHOR_BUCKET"] for e in envs} == {f"{prefix(plan)}-audit-anchors"}
