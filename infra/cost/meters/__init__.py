"""Meters: what each planned resource uses of which price line in a month, under a load.

One module per provider area; ``METERS`` maps each billed type to its meter and ``FREE`` each free type
to its reason. A type in neither is reported by the estimate as unpriced, never counted as $0.
"""

from __future__ import annotations

from infra.cost.meters import cloudflare, gcp_data, gcp_ops, gcp_serving, redis_cloud
from infra.cost.meters.base import (
    RTDB_INSTANCE,
    RUN_SERVICE,
    Charge,
    Context,
    FirestoreShare,
    Meter,
    gib,
    runs_per_month,
    vcpus,
)
from infra.cost.meters.free import FREE

METERS: dict[str, Meter] = {
    RUN_SERVICE: gcp_serving.cloud_run_service,
    "gcp:cloudrunv2/job:Job": gcp_serving.cloud_run_job,
    "gcp:compute/globalForwardingRule:GlobalForwardingRule": gcp_serving.forwarding_rule,
    "gcp:compute/backendService:BackendService": gcp_serving.backend_service,
    "gcp:compute/securityPolicy:SecurityPolicy": gcp_serving.security_policy,
    "gcp:compute/routerNat:RouterNat": gcp_serving.router_nat,
    "gcp:compute/address:Address": gcp_serving.static_address,
    "gcp:firestore/database:Database": gcp_data.firestore_database,
    "gcp:firestore/backupSchedule:BackupSchedule": gcp_data.backup_schedule,
    "gcp:storage/bucket:Bucket": gcp_data.bucket,
    RTDB_INSTANCE: gcp_data.realtime_database,
    "gcp:artifactregistry/repository:Repository": gcp_data.artifact_repository,
    "gcp:cloudscheduler/job:Job": gcp_ops.scheduler_job,
    "gcp:kms/cryptoKey:CryptoKey": gcp_ops.crypto_key,
    "gcp:secretmanager/secret:Secret": gcp_ops.secret,
    "gcp:logging/metric:Metric": gcp_ops.log_metric,
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": gcp_ops.uptime_check,
    "gcp:monitoring/alertPolicy:AlertPolicy": gcp_ops.alert_policy,
    "gcp:pubsub/topic:Topic": gcp_ops.pubsub_topic,
    "gcp:pubsub/subscription:Subscription": gcp_ops.pubsub_subscription,
    "gcp:bigquery/table:Table": gcp_data.bigquery_table,
    "gcp:certificatemanager/certificate:Certificate": gcp_ops.certificate,
    "gcp:identityplatform/config:Config": gcp_ops.identity_platform,
    "rediscloud:index/subscriptionDatabase:SubscriptionDatabase": redis_cloud.database,
    "rediscloud:index/activeActiveSubscriptionDatabase:ActiveActiveSubscriptionDatabase": (
        redis_cloud.active_active_database
    ),
    "cloudflare:index/ruleset:Ruleset": cloudflare.ruleset,
}


def is_component(type_: str) -> bool:
    """Our own component resources (``potgold:<area>:<Thing>``) and Pulumi's providers group or configure."""
    return type_.startswith(("potgold:", "pulumi:providers:"))


__all__ = [
    "FREE",
    "METERS",
    "RUN_SERVICE",
    "Charge",
    "Context",
    "FirestoreShare",
    "Meter",
    "gib",
    "is_component",
    "runs_per_month",
    "vcpus",
]
