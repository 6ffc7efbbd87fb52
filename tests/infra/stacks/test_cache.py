"""Cache layer: Redis Cloud per phase, TLS + AOF + allowlist + remote backups, URL written write-only."""

from __future__ import annotations

import ipaddress
import json

import pytest

from infra.phases import RedisTopology, profile_for
from infra.plan.engine import Plan, PlannedResource
from infra.plan.mocks import COMPUTED
from infra.stacks import cache
from tests.infra.conftest import plan_for
from tests.infra.stacks.layers import stack_config

SUBSCRIPTION = "rediscloud:index/subscription:Subscription"
DATABASE = "rediscloud:index/subscriptionDatabase:SubscriptionDatabase"
AA_SUBSCRIPTION = "rediscloud:index/activeActiveSubscription:ActiveActiveSubscription"
AA_DATABASE = "rediscloud:index/activeActiveSubscriptionDatabase:ActiveActiveSubscriptionDatabase"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
ADDRESS = "gcp:compute/address:Address"
SUBNET = "gcp:compute/subnetwork:Subnetwork"

PHASE3_REGIONS = ("us-central1", "us-east4", "europe-west4")


# Loading pulumi_gcp.compute imports its deprecated aliases (MangedSslCertificate, RouterStatus), which warn.


def _mine(plan: Plan, type_: str) -> list[PlannedResource]:
    """This layer's resources of a type, by name (the engine records them in completion order)."""
    parent = f"potgold:cache:Cache::pog-{plan.stack}-cache"
    return sorted((r for r in plan.of_type(type_) if r.parent == parent), key=lambda r: r.name)


def _nat_cidrs(plan: Plan) -> list[str]:
    address = COMPUTED[ADDRESS]
    return [f"{address(a.name, a.inputs)['address']}/32" for a in plan.of_type(ADDRESS)]


def _redis_cidrs(plan: Plan) -> list[str]:
    cidrs = [
        r["networkingDeploymentCidr"]
        for s in _mine(plan, SUBSCRIPTION)
        for r in s.inputs["cloudProvider"]["regions"]
    ]
    cidrs += [
        r["networkingDeploymentCidr"]
        for s in _mine(plan, AA_SUBSCRIPTION)
        for r in s.inputs["creationPlan"]["regions"]
    ]
    return cidrs


def test_one_redis_topology_per_phase(plan: Plan, stack_phase: tuple[str, int]) -> None:
    stack, phase = stack_phase
    topology = profile_for("prod" if stack == "prod" else "dev", phase).redis.topology
    counts = {t: len(_mine(plan, t)) for t in (SUBSCRIPTION, DATABASE, AA_SUBSCRIPTION, AA_DATABASE)}
    if topology is RedisTopology.ACTIVE_ACTIVE:
        assert counts == {SUBSCRIPTION: 0, DATABASE: 0, AA_SUBSCRIPTION: 1, AA_DATABASE: 1}
    else:
        assert counts == {SUBSCRIPTION: 1, DATABASE: 1, AA_SUBSCRIPTION: 0, AA_DATABASE: 0}


def test_single_region_subscription_follows_the_profile(plan: Plan, stack_phase: tuple[str, int]) -> None:
    stack, phase = stack_phase
    profile = profile_for("prod" if stack == "prod" else "dev", phase)
    if profile.redis.topology is RedisTopology.ACTIVE_ACTIVE:
        return
    clustered = profile.redis.topology is RedisTopology.CLUSTERED
    (subscription,) = _mine(plan, SUBSCRIPTION)
    assert subscription.name == f"pog-{stack}-redis"
    assert subscription.inputs["paymentMethodId"] == "48213"
    assert subscription.inputs["cloudProvider"] == {
        "provider": "GCP",
        "regions": [
            {
                "region": "us-central1",
                "networkingDeploymentCidr": "10.20.0.0/24",
                "multipleAvailabilityZones": profile.is_prod,
            }
        ],
    }
    plan_ = subscription.inputs["creationPlan"]
    assert plan_["memoryLimitInGb"] == profile.redis.memory_gb
    assert plan_["replication"] is profile.redis.replication
    assert plan_["supportOssClusterApi"] is clustered
    assert (plan_["throughputMeasurementBy"], plan_["throughputMeasurementValue"]) == (
        "operations-per-second",
        profile.redis.ops_per_second,
    )

    (database,) = _mine(plan, DATABASE)
    inputs = database.inputs
    assert inputs["subscriptionId"] == f"{subscription.name}-id"
    assert inputs["enableTls"] is True
    assert inputs["dataPersistence"] == "aof-every-1-second"
    assert inputs["replication"] is profile.redis.replication
    assert inputs["supportOssClusterApi"] is clustered
    assert inputs["externalEndpointForOssClusterApi"] is clustered
    assert inputs["memoryLimitInGb"] == profile.redis.memory_gb
    assert inputs["throughputMeasurementValue"] == profile.redis.ops_per_second
    assert sorted(inputs["sourceIps"]) == sorted(_nat_cidrs(plan))
    assert inputs["remoteBackup"] == {
        "interval": "every-24-hours",
        "timeUtc": "03:00",
        "storageType": "google-blob-storage",
        "storagePath": f"gs://pog-{stack}-redis-backups/pog-{stack}-redis-db",
    }
    assert {a["name"] for a in inputs["alerts"]} == {"dataset-size", "throughput-higher-than"}


@pytest.mark.parametrize(
    ("stack", "phase", "memory_gb", "ops", "replication", "clustered"),
    [
        ("dev", 1, 1, 1_000, False, False),
        ("prod", 1, 2, 10_000, True, False),
        ("prod", 2, 10, 50_000, True, True),
    ],
)
def test_pinned_sizes(
    stack: str, phase: int, memory_gb: int, ops: int, replication: bool, clustered: bool
) -> None:
    (database,) = _mine(plan_for(stack, phase), DATABASE)
    inputs = database.inputs
    assert (inputs["memoryLimitInGb"], inputs["throughputMeasurementValue"]) == (memory_gb, ops)
    assert (inputs["replication"], inputs["supportOssClusterApi"]) == (replication, clustered)


def test_active_active_spans_the_api_regions() -> None:
    for stack in ("dev", "prod"):
        plan = plan_for(stack, 3)
        profile = profile_for("prod" if stack == "prod" else "dev", 3)
        (subscription,) = _mine(plan, AA_SUBSCRIPTION)
        assert subscription.inputs["cloudProvider"] == "GCP"
        regions = subscription.inputs["creationPlan"]["regions"]
        assert [r["region"] for r in regions] == list(PHASE3_REGIONS)
        assert [r["networkingDeploymentCidr"] for r in regions] == [
            "10.21.0.0/24",
            "10.21.1.0/24",
            "10.21.2.0/24",
        ]
        assert all(r["writeOperationsPerSecond"] == profile.redis.ops_per_second for r in regions)

        (database,) = _mine(plan, AA_DATABASE)
        inputs = database.inputs
        assert inputs["subscriptionId"] == f"{subscription.name}-id"
        assert inputs["enableTls"] is True
        assert inputs["globalDataPersistence"] == "aof-every-1-second"
        assert sorted(inputs["globalSourceIps"]) == sorted(_nat_cidrs(plan))
        assert len(inputs["globalSourceIps"]) == 3
        backups = {o["name"]: o["remoteBackup"] for o in inputs["overrideRegions"]}
        assert list(backups) == list(PHASE3_REGIONS)
        for region, backup in backups.items():
            assert backup["storageType"] == "google-blob-storage"
            assert backup["interval"] == "every-24-hours"
            assert backup["storagePath"] == f"gs://pog-{stack}-redis-backups/pog-{stack}-redis-aa-db/{region}"


def test_redis_networks_never_overlap_the_vpc(plan: Plan) -> None:
    redis = [ipaddress.ip_network(c) for c in _redis_cidrs(plan)]
    vpc = [ipaddress.ip_network(s.inputs["ipCidrRange"]) for s in plan.of_type(SUBNET)]
    assert redis
    assert vpc
    assert all(n.prefixlen == 24 for n in redis)
    assert [(a, b) for a in redis for b in vpc + [r for r in redis if r is not a] if a.overlaps(b)] == []


def test_backup_bucket_and_the_grant_redis_cloud_needs(plan: Plan) -> None:
    p = f"pog-{plan.stack}"
    (bucket,) = _mine(plan, BUCKET)
    assert bucket.name == f"{p}-redis-backups"
    assert bucket.inputs["location"] == "europe-west1"
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    # Redis Cloud refuses a bucket with a retention policy.
    assert "retentionPolicy" not in bucket.inputs
    deletes = [r["condition"] for r in bucket.inputs["lifecycleRules"] if r["action"]["type"] == "Delete"]
    assert {"age": 30} in deletes
    assert bucket.protect is (plan.stack == "prod")

    (grant,) = _mine(plan, BUCKET_IAM)
    assert (grant.inputs["bucket"], grant.inputs["role"], grant.inputs["member"]) == (
        f"{p}-redis-backups",
        "roles/storage.legacyBucketWriter",
        "serviceAccount:service@redislabs-prod-clusters.iam.gserviceaccount.com",
    )
    for database in _mine(plan, DATABASE) + _mine(plan, AA_DATABASE):
        assert grant.key in database.depends_on, "Redis Cloud checks the backup path when backups are enabled"


def test_prod_protects_the_redis_subscription_and_database(plan: Plan) -> None:
    redis = [r for r in plan.resources if r.type.startswith("rediscloud:index/")]
    assert len(redis) == 2
    assert all(r.protect is (plan.stack == "prod") for r in redis)


def test_redis_url_is_written_write_only(plan: Plan) -> None:
    """One URL secret before phase 3; then one per API region, each holding its region's endpoint."""
    p = f"pog-{plan.stack}"
    failover = stack_config(plan, "failoverRegions")
    regions = [
        stack_config(plan, "region"),
        *(json.loads(failover) if isinstance(failover, str) else failover),
    ]
    others = regions[1:] if plan.outputs["phase"] == 3 else []
    versions = {v.name: v for v in _mine(plan, SECRET_VERSION)}
    expected = {f"{p}-redis-url-version": f"{p}-secret-redis-url-id"} | {
        f"{p}-redis-url-version-{r}": f"{p}-secret-redis-url-{r}-id" for r in others
    }
    assert {name: v.inputs["secret"] for name, v in versions.items()} == expected
    for version in versions.values():
        assert "secretData" not in version.inputs
        assert version.inputs["secretDataWo"] == "[secret]"
        assert {"secretDataWo", "secretDataWoVersion"} <= set(version.secret_paths)
    assert plan.outputs["redisEndpoints"] == "[secret]"


def test_url_version_changes_with_the_url() -> None:
    first = cache.url_version("rediss://default:a@host:1")
    assert first == cache.url_version("rediss://default:a@host:1")
    assert first != cache.url_version("rediss://default:b@host:1")
    assert len(first) == 16
