"""Foundation layer: APIs, service accounts, KMS, secrets, registry, network, audit logs."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest

from infra.phases import profile_for
from infra.plan.engine import Plan
from infra.plan.mocks import PROJECT_NUMBER
from infra.stacks.foundation import APP_SECRETS, next_rotation_time, secret_id
from tests.infra.stacks.layers import Layer, api_member, prefix, project

SERVICE = "gcp:projects/service:Service"
ACCOUNT = "gcp:serviceaccount/account:Account"
KEY_RING = "gcp:kms/keyRing:KeyRing"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
AUDIT = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
ROUTER = "gcp:compute/router:Router"
NAT = "gcp:compute/routerNat:RouterNat"
ADDRESS = "gcp:compute/address:Address"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
TOPIC = "gcp:pubsub/topic:Topic"
TOPIC_IAM = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"

REGIONS_BY_PHASE = {1: ["us-central1"], 2: ["us-central1"], 3: ["us-central1", "us-east4", "europe-west4"]}


LAYER = Layer("potgold:foundation:Foundation", "foundation")
children = LAYER.children
mine = LAYER.mine


def test_children_are_parented_prefixed_and_use_the_inherited_provider(plan: Plan) -> None:
    kids = children(plan)
    assert kids
    for r in kids:
        assert r.name.startswith(f"{prefix(plan)}-"), r.name
        assert r.provider == f"pulumi:providers:gcp::{prefix(plan)}-gcp", r.name


def test_resource_counts(plan: Plan, stack_phase: tuple[str, int]) -> None:
    regions = len(REGIONS_BY_PHASE[stack_phase[1]])
    counts: dict[str, int] = {}
    for r in children(plan):
        counts[r.type] = counts.get(r.type, 0) + 1
    # Phase 3: the Redis URL has a secret per further API region (each region's Active-Active endpoint).
    secrets = 8 + (regions - 1)
    assert counts == {
        SERVICE: 23,
        ACCOUNT: 2,
        PROJECT_IAM: 6,
        CUSTOM_ROLE: 1,
        KEY_RING: 1,
        CRYPTO_KEY: 1,
        KEY_IAM: 1,
        SECRET: secrets,
        SECRET_IAM: secrets,
        TOPIC: 1,
        TOPIC_IAM: 1,
        SUBSCRIPTION: 1,
        REPOSITORY: 1,
        NETWORK: 1,
        SUBNET: regions,
        ADDRESS: regions,
        ROUTER: regions,
        NAT: regions,
        AUDIT: 4,
    }


def test_every_api_the_layers_use_is_enabled_and_never_disabled_on_destroy(plan: Plan) -> None:
    services = {r.inputs["service"]: r for r in mine(plan, SERVICE)}
    required = {
        f"{name}.googleapis.com"
        for name in (
            "firebase", "firestore", "firebasedatabase", "firebaserules", "identitytoolkit", "compute",
            "cloudkms", "artifactregistry", "iam", "storage", "cloudresourcemanager", "run",
            "cloudscheduler", "secretmanager", "monitoring", "logging", "certificatemanager", "cloudtrace",
            "fcm", "pubsub",
        )
    }  # fmt: skip
    assert required <= set(services)
    for r in services.values():
        assert r.inputs["disableOnDestroy"] is False
        assert r.inputs["project"] == project(plan)


def test_workload_service_accounts_and_no_keys(plan: Plan) -> None:
    assert {r.inputs["accountId"] for r in mine(plan, ACCOUNT)} == {
        f"{prefix(plan)}-api",
        f"{prefix(plan)}-exporter",
    }
    assert plan.of_type("gcp:serviceaccount/key:Key") == []


def test_api_project_roles_are_only_those_without_a_resource_level_grant(plan: Plan) -> None:
    grants = {(r.inputs["role"], r.inputs["member"]) for r in mine(plan, PROJECT_IAM)}
    assert grants == {
        ("roles/logging.logWriter", api_member(plan)),
        ("roles/monitoring.metricWriter", api_member(plan)),
        ("roles/cloudtrace.agent", api_member(plan)),
        ("roles/firebaseappcheck.tokenVerifier", api_member(plan)),  # consumes limited-use App Check tokens
        # Realtime Database instances have no IAM of their own; the server writes messages and mirrors.
        ("roles/firebasedatabase.admin", api_member(plan)),
        (f"projects/{project(plan)}/roles/fcmSender", api_member(plan)),
    }


def test_pushes_need_only_a_custom_role_that_sends(plan: Plan) -> None:
    """roles/firebasecloudmessaging.admin adds delivery data and project listing; the app only sends."""
    (role,) = mine(plan, CUSTOM_ROLE)
    assert role.inputs["roleId"] == "fcmSender"
    assert role.inputs["permissions"] == [
        "cloudmessaging.messages.create",
        "cloudmessaging.topicSubscriptions.create",
    ]
    grant = plan.get(PROJECT_IAM, f"{prefix(plan)}-api-fcmsender")
    assert role.key in grant.depends_on
    assert "fcm.googleapis.com" in {r.inputs["service"] for r in mine(plan, SERVICE)}


def test_every_secret_rotates_every_30_days_through_the_rotation_topic(plan: Plan) -> None:
    topic = plan.get(TOPIC, f"{prefix(plan)}-secret-rotation")
    secrets = mine(plan, SECRET)
    assert len(secrets) >= len(APP_SECRETS)
    for secret in secrets:
        assert secret.inputs["rotation"]["rotationPeriod"] == "2592000s", secret.name
        assert secret.inputs["topics"] == [{"name": f"{topic.name}-id"}], secret.name
        publisher = plan.get(TOPIC_IAM, f"{prefix(plan)}-secret-rotation-secretmanager-publisher")
        # Secret Manager checks it may publish when the secret is created.
        assert publisher.key in secret.depends_on
    publisher = plan.get(TOPIC_IAM, f"{prefix(plan)}-secret-rotation-secretmanager-publisher")
    assert publisher.inputs["role"] == "roles/pubsub.publisher"
    assert publisher.inputs["member"] == (
        f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-secretmanager.iam.gserviceaccount.com"
    )
    (due,) = mine(plan, SUBSCRIPTION)
    assert due.inputs["topic"] == f"{topic.name}-id"
    assert due.inputs["expirationPolicy"] == {"ttl": ""}  # never expires while nobody pulls
    assert plan.outputs["secretRotationSubscription"] == due.inputs["name"]


def test_the_next_rotation_is_the_next_30_day_mark_stable_within_a_window() -> None:
    first = datetime(2026, 12, 7, 12, tzinfo=UTC)
    mark = next_rotation_time(first)
    assert mark == next_rotation_time(first + timedelta(days=3))
    due = datetime.strptime(mark, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert first < due <= first + timedelta(days=30)
    assert next_rotation_time(due) != mark  # at the mark itself, the next one


def test_kms_key_rotates_every_30_days_and_is_protected_in_every_environment(plan: Plan) -> None:
    ring = plan.get(KEY_RING, f"{prefix(plan)}-keyring")
    assert ring.protect
    assert ring.inputs["name"] == f"{prefix(plan)}-keyring"
    assert ring.inputs["location"] == "us-central1"
    key = plan.get(CRYPTO_KEY, f"{prefix(plan)}-data-key")
    assert key.protect
    assert key.inputs["rotationPeriod"] == "2592000s"
    assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    assert key.inputs["versionTemplate"]["algorithm"] == "GOOGLE_SYMMETRIC_ENCRYPTION"
    assert key.inputs["keyRing"] == f"{prefix(plan)}-keyring-id"


def test_api_uses_the_key_through_a_key_level_grant(plan: Plan) -> None:
    (grant,) = mine(plan, KEY_IAM)
    assert grant.inputs["cryptoKeyId"] == f"{prefix(plan)}-data-key-id"
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.inputs["member"] == api_member(plan)


def test_one_secret_per_app_secret_readable_by_the_api_only(plan: Plan, stack_phase: tuple[str, int]) -> None:
    secrets = {r.inputs["secretId"]: r for r in mine(plan, SECRET)}
    further_regions = REGIONS_BY_PHASE[stack_phase[1]][1:] if stack_phase[1] == 3 else []
    assert set(secrets) == {secret_id(prefix(plan), name) for name in APP_SECRETS} | {
        secret_id(prefix(plan), "POG_REDIS_URL", region) for region in further_regions
    }
    assert f"{prefix(plan)}-stripe-api-key" in secrets
    assert f"{prefix(plan)}-redis-url" in secrets
    grants = mine(plan, SECRET_IAM)
    by_secret = {g.inputs["secretId"]: g for g in grants}
    assert len(by_secret) == len(grants) == len(secrets)
    for r in secrets.values():
        grant = by_secret[f"{r.name}-id"]
        assert grant.inputs["role"] == "roles/secretmanager.secretAccessor"
        assert grant.inputs["member"] == api_member(plan)
        assert r.protect is (plan.stack == "prod")
        # Replication is immutable: auto keeps the secret (and its values) across phase changes.
        assert r.inputs["replication"] == {"auto": {}}
    for grant in plan.of_type(SECRET_IAM):
        if grant.inputs["role"] == "roles/secretmanager.secretAccessor":
            assert grant.inputs["member"] == api_member(plan), grant.name


def test_no_secret_version_except_the_redis_url_written_by_the_cache_layer(plan: Plan) -> None:
    assert mine(plan, SECRET_VERSION) == []
    for version in plan.of_type(SECRET_VERSION):
        assert "redis-url" in str(version.inputs["secret"]), version.name


def test_artifact_registry_cleans_up_old_images(plan: Plan) -> None:
    repo = plan.get(REPOSITORY, f"{prefix(plan)}-images")
    assert repo.inputs["repositoryId"] == f"{prefix(plan)}-images"
    assert repo.inputs["format"] == "DOCKER"
    assert repo.inputs["location"] == "us-central1"
    assert repo.inputs["cleanupPolicyDryRun"] is False
    assert repo.inputs["cleanupPolicies"] == [
        {"id": "keep-recent", "action": "KEEP", "mostRecentVersions": {"keepCount": 10}},
        {
            "id": "delete-untagged",
            "action": "DELETE",
            "condition": {"tagState": "UNTAGGED", "olderThan": "1209600s"},
        },
    ]


def test_one_private_subnet_per_api_region(plan: Plan, stack_phase: tuple[str, int]) -> None:
    regions = REGIONS_BY_PHASE[stack_phase[1]]
    assert len(regions) == profile_for(plan.stack, stack_phase[1]).api_region_count  # type: ignore[arg-type]
    (network,) = mine(plan, NETWORK)
    assert network.inputs["autoCreateSubnetworks"] is False
    assert network.inputs["name"] == f"{prefix(plan)}-vpc"
    subnets = {r.inputs["region"]: r for r in mine(plan, SUBNET)}
    assert set(subnets) == set(regions)
    ranges = [ipaddress.ip_network(s.inputs["ipCidrRange"]) for s in subnets.values()]
    # The primary region is first in every phase, so its range never changes on promotion.
    assert subnets["us-central1"].inputs["ipCidrRange"] == "10.10.0.0/20"
    if stack_phase[1] == 3:
        assert subnets["us-east4"].inputs["ipCidrRange"] == "10.10.16.0/20"
        assert subnets["europe-west4"].inputs["ipCidrRange"] == "10.10.32.0/20"
    for i, a in enumerate(ranges):
        assert a.subnet_of(ipaddress.ip_network("10.10.0.0/16"))
        # Direct VPC egress takes ~2 addresses per instance: room for 200 instances and a rollout.
        assert a.num_addresses >= 1024
        assert not any(a.overlaps(b) for b in ranges[i + 1 :])
    for s in subnets.values():
        assert s.inputs["privateIpGoogleAccess"] is True
        assert s.inputs["network"] == f"{prefix(plan)}-vpc-id"


def test_nat_per_region_egresses_through_its_static_address(plan: Plan, stack_phase: tuple[str, int]) -> None:
    regions = REGIONS_BY_PHASE[stack_phase[1]]
    addresses = {r.inputs["region"]: r for r in mine(plan, ADDRESS)}
    routers = {r.inputs["region"]: r for r in mine(plan, ROUTER)}
    nats = {r.inputs["region"]: r for r in mine(plan, NAT)}
    assert set(addresses) == set(routers) == set(nats) == set(regions)
    for region in regions:
        address, nat = addresses[region], nats[region]
        assert address.inputs["addressType"] == "EXTERNAL"
        assert nat.inputs["natIpAllocateOption"] == "MANUAL_ONLY"
        assert nat.inputs["natIps"] == [
            f"https://www.googleapis.com/compute/v1/projects/{project(plan)}/regions/{region}"
            f"/addresses/{prefix(plan)}-nat-ip-{region}"
        ]
        assert nat.inputs["router"] == routers[region].inputs["name"]
        assert nat.inputs["sourceSubnetworkIpRangesToNat"] == "LIST_OF_SUBNETWORKS"
        assert nat.inputs["subnetworks"] == [
            {"name": f"{prefix(plan)}-subnet-{region}-id", "sourceIpRangesToNats": ["ALL_IP_RANGES"]}
        ]


def test_data_access_audit_logs_for_firestore_secrets_kms_and_storage(plan: Plan) -> None:
    configs = {r.inputs["service"]: r for r in mine(plan, AUDIT)}
    assert set(configs) == {
        "datastore.googleapis.com",
        "secretmanager.googleapis.com",
        "cloudkms.googleapis.com",
        "storage.googleapis.com",
    }
    for r in configs.values():
        assert sorted(c["logType"] for c in r.inputs["auditLogConfigs"]) == [
            "ADMIN_READ",
            "DATA_READ",
            "DATA_WRITE",
        ]
        assert not any(c.get("exemptedMembers") for c in r.inputs["auditLogConfigs"])


@pytest.mark.parametrize("type_", [PROJECT_IAM, KEY_IAM, SECRET_IAM])
def test_no_basic_roles_and_no_public_members(plan: Plan, type_: str) -> None:
    grants = mine(plan, type_)
    assert grants
    for r in grants:
        assert r.inputs["role"] not in {"roles/owner", "roles/editor", "roles/viewer"}
        assert r.inputs["member"] not in {"allUsers", "allAuthenticatedUsers"}
        assert r.inputs["member"].startswith("serviceAccount:")
