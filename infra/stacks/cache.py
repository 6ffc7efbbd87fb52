"""Cache: Redis Cloud per phase (replicated, clustered, Active-Active) with remote backups to GCS."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_rediscloud as rediscloud

from infra.phases import PhaseProfile, RedisSizing, RedisTopology
from infra.stacks.common import child, labels, private_bucket

LAYER = "cache"
# Redis Cloud writes backups as this account; it needs Storage Legacy Bucket Writer on the bucket
# (https://redis.io/docs/latest/operate/rc/databases/back-up-data/#google-cloud-storage).
REDIS_CLOUD_BACKUP_MEMBER = "serviceAccount:service@redislabs-prod-clusters.iam.gserviceaccount.com"
BACKUP_ROLE = "roles/storage.legacyBucketWriter"
BACKUP_RETENTION_DAYS = 30
BACKUP_INTERVAL = "every-24-hours"
BACKUP_TIME_UTC = "03:00"
BACKUP_STORAGE_TYPE = "google-blob-storage"

DATA_PERSISTENCE = "aof-every-1-second"
# Only keys with a TTL are evicted: caches go first, leaderboards and rate-limit state stay.
DATA_EVICTION = "volatile-lru"
THROUGHPUT_BY = "operations-per-second"
DATASET_SIZE_ALERT_PERCENT = 80
THROUGHPUT_ALERT_RATIO = 0.8

# Redis Cloud's deployment CIDRs must not overlap the VPC (10.10.x.0/20 subnets) in case of peering.
SUBSCRIPTION_CIDR = "10.20.0.0/24"


def active_active_cidr(index: int) -> str:
    return f"10.21.{index}.0/24"


def url_version(url: str) -> str:
    """A write-only value is not diffed: its version changes whenever the URL does, so it is rewritten."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _redis_url(password: str, endpoint: str) -> str:
    return f"rediss://default:{password}@{endpoint}"


@dataclass
class CacheArgs:
    prefix: str
    project: str
    api_regions: tuple[str, ...]
    backup_bucket_location: str
    payment_method_id: str
    source_cidrs: pulumi.Input[list[str]]
    #: API region -> the POG_REDIS_URL secret that region reads (one shared secret before phase 3)
    redis_url_secrets: Mapping[str, gcp.secretmanager.Secret]
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = ()


class Cache(pulumi.ComponentResource):
    """Public attributes:

    endpoints: pulumi.Output[list[str]]  (secret) host:port per region
    backup_bucket: gcp.storage.Bucket
    redis_url_versions: list[gcp.secretmanager.SecretVersion]  each URL secret's value, primary first;
                                                   Cloud Run needs them to start
    """

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:cache:Cache", name, None, opts)
        self._args = args
        p, profile = args.prefix, args.profile
        self._labels = labels(p, LAYER)

        self.backup_bucket = private_bucket(
            f"{p}-redis-backups",
            bucket_name=f"{p}-redis-backups",
            project=args.project,
            location=args.backup_bucket_location,
            labels=self._labels,
            protect=profile.is_prod,
            parent=self,
            delete_after_days=BACKUP_RETENTION_DAYS,
            depends_on=args.depends_on,
        )
        # Redis Cloud checks that it can write to the path when backups are turned on.
        self._backup_grant = gcp.storage.BucketIAMMember(
            f"{p}-redis-backups-rediscloud-writer",
            bucket=self.backup_bucket.name,
            role=BACKUP_ROLE,
            member=REDIS_CLOUD_BACKUP_MEMBER,
            opts=child(self),
        )

        if profile.redis.topology is RedisTopology.ACTIVE_ACTIVE:
            password, endpoints = self._active_active(profile.redis)
        else:
            password, endpoints = self._single_region(profile.redis)

        self.endpoints: pulumi.Output[list[str]] = pulumi.Output.secret(endpoints)
        # Each region's secret names the endpoint at the region's index: in phase 3 every region reads its
        # own Active-Active endpoint, so a regional outage leaves the others' Redis alone.
        self.redis_url_versions: list[gcp.secretmanager.SecretVersion] = []
        written: list[gcp.secretmanager.Secret] = []
        for index, (region, secret) in enumerate(args.redis_url_secrets.items()):
            if any(secret is done for done in written):  # phases 1-2: every region shares one secret
                continue
            written.append(secret)
            self.redis_url_versions.append(self._url_version(region, index, secret, password, endpoints))

        self.register_outputs({"backupBucket": self.backup_bucket.name, "endpoints": self.endpoints})

    def _url_version(
        self,
        region: str,
        index: int,
        secret: gcp.secretmanager.Secret,
        password: pulumi.Output[str],
        endpoints: pulumi.Output[list[str]],
    ) -> gcp.secretmanager.SecretVersion:
        p = self._args.prefix
        url: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(password, endpoints).apply(lambda pe: _redis_url(pe[0], pe[1][index]))
        )
        # Write-only: kept out of the resource's outputs (Pulumi still keeps the first value, encrypted,
        # in its state inputs: pulumi-terraform-bridge#3201).
        return gcp.secretmanager.SecretVersion(
            f"{p}-redis-url-version" if index == 0 else f"{p}-redis-url-version-{region}",
            secret=secret.id,
            secret_data_wo=url,
            secret_data_wo_version=url.apply(url_version),
            opts=child(self),
        )

    def _backup_path(self, suffix: str) -> pulumi.Output[str]:
        return self.backup_bucket.name.apply(lambda bucket: f"gs://{bucket}/{suffix}")

    def _single_region(self, sizing: RedisSizing) -> tuple[pulumi.Output[str], pulumi.Output[list[str]]]:
        args, p = self._args, self._args.prefix
        clustered = sizing.topology is RedisTopology.CLUSTERED
        subscription = self._subscription(sizing, clustered)
        database = rediscloud.SubscriptionDatabase(
            f"{p}-redis-db",
            name=f"{p}-redis-db",
            subscription_id=subscription.id,
            protocol="redis",
            memory_limit_in_gb=sizing.memory_gb,
            throughput_measurement_by=THROUGHPUT_BY,
            throughput_measurement_value=sizing.ops_per_second,
            replication=sizing.replication,
            support_oss_cluster_api=clustered,
            # The API connects through the public endpoint (from the NAT IPs), so the cluster topology
            # it is handed must name public addresses too.
            external_endpoint_for_oss_cluster_api=clustered,
            data_persistence=DATA_PERSISTENCE,
            data_eviction=DATA_EVICTION,
            enable_tls=True,
            source_ips=args.source_cidrs,
            remote_backup=rediscloud.SubscriptionDatabaseRemoteBackupArgs(
                interval=BACKUP_INTERVAL,
                time_utc=BACKUP_TIME_UTC,
                storage_type=BACKUP_STORAGE_TYPE,
                storage_path=self._backup_path(f"{p}-redis-db"),
            ),
            alerts=[
                rediscloud.SubscriptionDatabaseAlertArgs(
                    name="dataset-size", value=DATASET_SIZE_ALERT_PERCENT
                ),
                rediscloud.SubscriptionDatabaseAlertArgs(
                    name="throughput-higher-than", value=int(sizing.ops_per_second * THROUGHPUT_ALERT_RATIO)
                ),
            ],
            opts=child(self, protect=args.profile.is_prod, depends_on=[self._backup_grant]),
        )
        return database.password, database.public_endpoint.apply(lambda endpoint: [endpoint])

    def _subscription(self, sizing: RedisSizing, clustered: bool) -> rediscloud.Subscription:
        """The single-region subscription, in the primary API region."""
        args, p = self._args, self._args.prefix
        return rediscloud.Subscription(
            f"{p}-redis",
            name=f"{p}-redis",
            payment_method="credit-card",
            payment_method_id=args.payment_method_id,
            memory_storage="ram",
            cloud_provider=rediscloud.SubscriptionCloudProviderArgs(
                provider="GCP",
                regions=[
                    rediscloud.SubscriptionCloudProviderRegionArgs(
                        region=args.api_regions[0],
                        networking_deployment_cidr=SUBSCRIPTION_CIDR,
                        multiple_availability_zones=args.profile.is_prod,
                    )
                ],
            ),
            creation_plan=rediscloud.SubscriptionCreationPlanArgs(
                memory_limit_in_gb=sizing.memory_gb,
                quantity=1,
                replication=sizing.replication,
                support_oss_cluster_api=clustered,
                throughput_measurement_by=THROUGHPUT_BY,
                throughput_measurement_value=sizing.ops_per_second,
            ),
            opts=child(self, protect=args.profile.is_prod),
        )

    def _active_active(self, sizing: RedisSizing) -> tuple[pulumi.Output[str], pulumi.Output[list[str]]]:
        args, p = self._args, self._args.prefix
        subscription = rediscloud.ActiveActiveSubscription(
            f"{p}-redis-aa",
            name=f"{p}-redis-aa",
            payment_method="credit-card",
            payment_method_id=args.payment_method_id,
            cloud_provider="GCP",
            creation_plan=rediscloud.ActiveActiveSubscriptionCreationPlanArgs(
                memory_limit_in_gb=sizing.memory_gb,
                quantity=1,
                # Every write is replicated to every region, so each region is sized for all of them.
                regions=[
                    rediscloud.ActiveActiveSubscriptionCreationPlanRegionArgs(
                        region=region,
                        networking_deployment_cidr=active_active_cidr(index),
                        read_operations_per_second=sizing.ops_per_second,
                        write_operations_per_second=sizing.ops_per_second,
                    )
                    for index, region in enumerate(args.api_regions)
                ],
            ),
            opts=child(self, protect=args.profile.is_prod),
        )
        database = rediscloud.ActiveActiveSubscriptionDatabase(
            f"{p}-redis-aa-db",
            name=f"{p}-redis-aa-db",
            subscription_id=subscription.id,
            memory_limit_in_gb=sizing.memory_gb,
            data_eviction=DATA_EVICTION,
            enable_tls=True,
            global_data_persistence=DATA_PERSISTENCE,
            global_source_ips=args.source_cidrs,
            global_alerts=[
                rediscloud.ActiveActiveSubscriptionDatabaseGlobalAlertArgs(
                    name="dataset-size", value=DATASET_SIZE_ALERT_PERCENT
                ),
                rediscloud.ActiveActiveSubscriptionDatabaseGlobalAlertArgs(
                    name="throughput-higher-than", value=int(sizing.ops_per_second * THROUGHPUT_ALERT_RATIO)
                ),
            ],
            # Each region backs up its own copy, so losing one region does not stop the backups.
            override_regions=[
                rediscloud.ActiveActiveSubscriptionDatabaseOverrideRegionArgs(
                    name=region,
                    remote_backup=rediscloud.ActiveActiveSubscriptionDatabaseOverrideRegionRemoteBackupArgs(
                        interval=BACKUP_INTERVAL,
                        time_utc=BACKUP_TIME_UTC,
                        storage_type=BACKUP_STORAGE_TYPE,
                        storage_path=self._backup_path(f"{p}-redis-aa-db/{region}"),
                    ),
                )
                for region in args.api_regions
            ],
            opts=child(self, protect=args.profile.is_prod, depends_on=[self._backup_grant]),
        )
        regions = list(args.api_regions)
        endpoints = database.public_endpoint.apply(lambda by_region: [by_region[r] for r in regions])
        return database.global_password, endpoints
