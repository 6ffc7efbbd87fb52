"""Each rule against the real plans: one property of one real resource broken, the rule must fire.

This is what keeps the rules honest about property names: the hand-built fixtures could agree with a
rule on a misspelled key; the program's own inventory cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from infra.policy import tokens as t
from infra.policy.check import check_inventory

from .helpers import entry, inventory_for, real_context

Inventory = dict[str, Any]


def inputs(type_: str, name: str | None = None) -> Callable[[Inventory], dict[str, Any]]:
    return lambda inventory: entry(inventory, type_, name)["inputs"]  # type: ignore[no-any-return]


def set_input(type_: str, name: str | None, path: str, value: Any) -> Callable[[Inventory], None]:
    def mutate(inventory: Inventory) -> None:
        target = inputs(type_, name)(inventory)
        *parents, last = path.split(".")
        for step in parents:
            target = target[int(step)] if step.isdigit() else target[step]
        target[last] = value  # type: ignore[index]

    return mutate


def remove(type_: str, name: str) -> Callable[[Inventory], None]:
    def mutate(inventory: Inventory) -> None:
        inventory["resources"].remove(entry(inventory, type_, name))

    return mutate


def unprotect(type_: str, name: str) -> Callable[[Inventory], None]:
    def mutate(inventory: Inventory) -> None:
        entry(inventory, type_, name)["protect"] = False

    return mutate


def plain_stripe_key(inventory: Inventory) -> None:
    envs = inputs(t.RUN_SERVICE)(inventory)["template"]["containers"][0]["envs"]
    for env in envs:
        if env["name"] == "POG_STRIPE_API_KEY":
            env.pop("valueSource")
            env["value"] = "sk_live_not_a_real_key"


def unknown_secret_ref(inventory: Inventory) -> None:
    envs = inputs(t.RUN_SERVICE)(inventory)["template"]["containers"][0]["envs"]
    next(e for e in envs if "valueSource" in e)["valueSource"]["secretKeyRef"]["secret"] = "pog-prod-gone"


def drop_admin_rate_limit(inventory: Inventory) -> None:
    rules = inputs(t.CF_RULESET, "pog-prod-rate-limits")(inventory)["rules"]
    rules[:] = [r for r in rules if r["ref"] != "admin"]


def armor_default_allows(inventory: Inventory) -> None:
    rules = inputs(t.SECURITY_POLICY, "pog-prod-api-armor")(inventory)["rules"]
    next(r for r in rules if r["priority"] == 2147483647)["action"] = "allow"


def drop_env(name: str, resource: str = "pog-prod-api-us-central1") -> Callable[[Inventory], None]:
    def mutate(inventory: Inventory) -> None:
        envs = inputs(t.RUN_SERVICE, resource)(inventory)["template"]["containers"][0]["envs"]
        envs[:] = [e for e in envs if e["name"] != name]

    return mutate


def add_env(name: str, value: str) -> Callable[[Inventory], None]:
    def mutate(inventory: Inventory) -> None:
        envs = inputs(t.RUN_SERVICE)(inventory)["template"]["containers"][0]["envs"]
        envs.append({"name": name, "value": value})

    return mutate


def add_bucket(inventory: Inventory) -> None:
    bucket = dict(entry(inventory, t.BUCKET, "pog-prod-firestore-exports"))
    inventory["resources"].append(
        {**bucket, "name": "pog-prod-scratch", "inputs": {"name": "pog-prod-scratch"}}
    )


def one_redis_secret_for_every_region(inventory: Inventory) -> None:
    for resource in inventory["resources"]:
        if resource["type"] == t.RUN_SERVICE:
            for env in resource["inputs"]["template"]["containers"][0]["envs"]:
                if env["name"] == "POG_REDIS_URL":
                    env["valueSource"]["secretKeyRef"]["secret"] = "pog-prod-redis-url"


EXPORTS = "pog-prod-firestore-exports"
EXPORT_JOB = "pog-prod-firestore-export-default"
API = "pog-prod-api-us-central1"
DB = "pog-prod-firestore-default"
ZONE_SSL = "pog-prod-zone-ssl"
APP_CHECK = "gcp:firebase/appCheckServiceConfig:AppCheckServiceConfig"
DATA_KEY = "pog-prod-data-key"
HEADS_KEY = "pog-prod-audit-heads"
ANCHORS = "pog-prod-audit-anchors"
KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"

MUTATIONS: list[tuple[str, int, Callable[[Inventory], None], str]] = [
    ("POG-GCS-001", 1, set_input(t.BUCKET, EXPORTS, "publicAccessPrevention", "inherited"), EXPORTS),
    ("POG-GCS-002", 1, set_input(t.BUCKET, EXPORTS, "uniformBucketLevelAccess", False), EXPORTS),
    ("POG-GCS-003", 1, set_input(t.BUCKET, EXPORTS, "versioning.enabled", False), EXPORTS),
    ("POG-KMS-001", 1, set_input(t.CRYPTO_KEY, DATA_KEY, "rotationPeriod", "31536000s"), DATA_KEY),
    ("POG-KMS-002", 1, unprotect(t.KEY_RING, "pog-prod-keyring"), "pog-prod-keyring"),
    (
        "POG-KMS-003",
        1,
        set_input(KEY_IAM, f"{DATA_KEY}-api-encrypter-decrypter", "member", "allUsers"),
        "encrypter",
    ),
    (
        "POG-IAM-001",
        1,
        set_input(BUCKET_IAM, f"{EXPORTS}-exporter-object-admin", "member", "allUsers"),
        "exports",
    ),
    (
        "POG-IAM-002",
        1,
        set_input(
            "gcp:projects/iAMMember:IAMMember", "pog-prod-api-logging-logwriter", "role", "roles/editor"
        ),
        "logwriter",
    ),
    (
        "POG-IAM-003",
        1,
        set_input(
            "gcp:projects/iAMMember:IAMMember",
            "pog-prod-api-logging-logwriter",
            "role",
            "roles/logging.admin",
        ),
        "logwriter",
    ),
    (
        "POG-IAM-004",
        1,
        set_input(
            "gcp:projects/iAMMember:IAMMember",
            "pog-prod-api-logging-logwriter",
            "role",
            "roles/iam.serviceAccountUser",
        ),
        "logwriter",
    ),
    ("POG-IAM-006", 1, remove(t.AUDIT_CONFIG, "pog-prod-audit-secretmanager"), "secretmanager"),
    ("POG-RUN-001", 1, set_input(t.RUN_SERVICE, API, "ingress", "INGRESS_TRAFFIC_ALL"), API),
    ("POG-RUN-002", 1, set_input(t.RUN_SERVICE, API, "ingress", "INGRESS_TRAFFIC_ALL"), API),
    (
        "POG-RUN-003",
        1,
        set_input(t.RUN_SERVICE, API, "template.serviceAccount", "1-compute@developer.gserviceaccount.com"),
        API,
    ),
    ("POG-RUN-004", 1, plain_stripe_key, "POG_STRIPE_API_KEY"),
    ("POG-RUN-005", 1, set_input(t.RUN_SERVICE, API, "template.scaling.minInstanceCount", 0), API),
    (
        "POG-FS-001",
        1,
        set_input(t.FIRESTORE_DATABASE, DB, "deleteProtectionState", "DELETE_PROTECTION_DISABLED"),
        DB,
    ),
    (
        "POG-FS-002",
        1,
        set_input(
            t.FIRESTORE_DATABASE, DB, "pointInTimeRecoveryEnablement", "POINT_IN_TIME_RECOVERY_DISABLED"
        ),
        DB,
    ),
    ("POG-FS-003", 1, set_input(t.FIRESTORE_DATABASE, DB, "deletionPolicy", "DELETE"), DB),
    (
        "POG-FS-004",
        1,
        set_input(t.BACKUP_SCHEDULE, "pog-prod-backup-daily-default", "retention", "1209600s"),
        "daily",
    ),
    ("POG-FS-005", 1, remove(t.BACKUP_SCHEDULE, "pog-prod-backup-weekly-default"), DB),
    ("POG-DATA-001", 1, unprotect(t.SECRET, "pog-prod-secret-stripe-api-key"), "stripe"),
    ("POG-BAK-001", 2, set_input(t.BUCKET, EXPORTS, "location", "us-east1"), EXPORTS),
    ("POG-BAK-002", 1, remove(t.SCHEDULER_JOB, EXPORT_JOB), DB),
    (
        "POG-SEC-001",
        1,
        set_input(
            t.SECRET,
            "pog-prod-secret-sentry-dsn",
            "replication",
            {"userManaged": {"replicas": [{"location": "us-central1"}]}},
        ),
        "sentry",
    ),
    (
        "POG-SEC-002",
        1,
        set_input(t.SECRET_IAM_MEMBER, None, "member", "serviceAccount:ci@x.iam.gserviceaccount.com"),
        "accessor",
    ),
    ("POG-SEC-003", 1, unknown_secret_ref, API),
    (
        "POG-LB-001",
        1,
        set_input(t.BACKEND_SERVICE, "pog-prod-api-backend", "securityPolicy", ""),
        "pog-prod-api-backend",
    ),
    ("POG-LB-002", 1, armor_default_allows, "pog-prod-api-armor"),
    ("POG-LB-003", 1, set_input(t.SSL_POLICY, None, "minTlsVersion", "TLS_1_0"), "pog-prod-api-tls"),
    (
        "POG-LB-004",
        1,
        set_input(t.BACKEND_SERVICE, "pog-prod-api-backend", "logConfig.enable", False),
        "pog-prod-api-backend",
    ),
    ("POG-VAL-001", 1, set_input(t.RUN_SERVICE, API, "location", "us-central9"), API),
    ("POG-VAL-002", 1, set_input(t.FIRESTORE_DATABASE, DB, "locationId", "nam9"), DB),
    ("POG-VAL-003", 1, set_input(t.RUN_SERVICE, API, "ingress", "INTERNAL"), API),
    ("POG-VAL-004", 1, set_input(t.SCHEDULER_JOB, EXPORT_JOB, "attemptDeadline", "3m"), "export"),
    ("POG-VAL-005", 1, set_input(t.SCHEDULER_JOB, EXPORT_JOB, "schedule", "every day at 3"), "export"),
    ("POG-RDS-001", 1, set_input(t.REDIS_DATABASE, None, "enableTls", False), "pog-prod-redis-db"),
    ("POG-RDS-002", 1, set_input(t.REDIS_DATABASE, None, "replication", False), "pog-prod-redis-db"),
    (
        "POG-RDS-003",
        3,
        set_input(t.REDIS_AA_DATABASE, None, "globalDataPersistence", "snapshot-every-1-hour"),
        "pog-prod-redis-aa-db",
    ),
    ("POG-RDS-004", 1, set_input(t.REDIS_DATABASE, None, "sourceIps", []), "pog-prod-redis-db"),
    (
        "POG-RDS-005",
        1,
        set_input(t.REDIS_DATABASE, None, "throughputMeasurementBy", "ops"),
        "pog-prod-redis-db",
    ),
    ("POG-CF-001", 1, set_input(t.CF_ZONE_SETTING, ZONE_SSL, "value", "full"), ZONE_SSL),
    (
        "POG-CF-002",
        1,
        set_input(t.CF_ZONE_SETTING, "pog-prod-zone-min-tls-version", "value", "1.1"),
        "min-tls",
    ),
    ("POG-CF-003", 1, set_input(t.CF_RULESET, "pog-prod-waf-managed", "rules.0.enabled", False), ""),
    ("POG-CF-004", 1, drop_admin_rate_limit, ""),
    ("POG-CF-005", 1, set_input(t.CF_ZONE_SETTING, "pog-prod-zone-brotli", "value", "yes"), "brotli"),
    (
        "POG-CF-006",
        1,
        set_input(t.CF_RULESET, "pog-prod-rate-limits", "rules.0.ratelimit.period", 45),
        "rate-limits",
    ),
    ("POG-CF-007", 1, set_input(t.CF_RULESET, "pog-prod-waf-custom", "rules.0.expression", "false"), ""),
    ("POG-CF-008", 1, set_input(t.CF_DNS_RECORD, "pog-prod-dns-api", "proxied", False), "pog-prod-dns-api"),
    (
        "POG-MON-001",
        1,
        set_input(t.ALERT_POLICY, "pog-prod-alert-api-uptime", "documentation.content", "see the wiki"),
        "api-uptime",
    ),
    (
        "POG-MON-002",
        1,
        set_input(t.ALERT_POLICY, "pog-prod-alert-api-uptime", "notificationChannels", []),
        "api-uptime",
    ),
    ("POG-CTR-001", 1, drop_env("POG_STRIPE_API_KEY"), "lacks POG_STRIPE_API_KEY"),
    (
        "POG-CTR-002",
        3,
        remove(t.SCHEDULER_JOB, "pog-prod-leaderboards-rewards-us-east4-schedule"),
        "leaderboards-rewards in us-east4",
    ),
    ("POG-CTR-003", 1, remove("gcp:projects/service:Service", "pog-prod-api-fcm"), "fcm.googleapis.com"),
    ("POG-CTR-004", 1, remove("gcp:projects/iAMMember:IAMMember", "pog-prod-api-fcmsender"), "fcmSender"),
    ("POG-CTR-005", 1, add_bucket, "pog-prod-scratch"),
    ("POG-CTR-007", 1, add_env("POG_REGION", "us-central1"), "POG_REGION"),
    ("POG-CTR-006", 2, drop_env("POG_REDIS_CLUSTER"), "clustered"),
    ("POG-CTR-006", 3, one_redis_secret_for_every_region, "other regions read too"),
    ("POG-STK-002", 3, set_input(t.BACKEND_SERVICE, "pog-prod-api-backend", "outlierDetection", None), ""),
    ("POG-STK-003", 3, set_input(t.BACKEND_SERVICE, "pog-prod-api-backend", "outlierDetection", None), ""),
    ("POG-APPCHECK-001", 1, set_input(APP_CHECK, "pog-prod-app-check-auth", "enforcementMode", "ON"), "'ON'"),
    (
        "POG-APPCHECK-002",
        1,
        set_input(APP_CHECK, "pog-prod-app-check-firestore", "enforcementMode", "UNENFORCED"),
        "firestore.googleapis.com is UNENFORCED",
    ),
    ("POG-APPCHECK-002", 1, remove(APP_CHECK, "pog-prod-app-check-rtdb"), "firebasedatabase.googleapis.com"),
    ("POG-APPCHECK-003", 1, drop_env("POG_APP_CHECK"), API),
    ("POG-AUDIT-001", 1, set_input(t.BUCKET, ANCHORS, "retentionPolicy.isLocked", False), ANCHORS),
    ("POG-AUDIT-001", 1, remove(t.BUCKET, ANCHORS), ANCHORS),
    (
        "POG-AUDIT-002",
        1,
        set_input(t.CRYPTO_KEY, HEADS_KEY, "versionTemplate.algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION"),
        HEADS_KEY,
    ),
    (
        "POG-AUDIT-003",
        1,
        set_input(
            KEY_IAM, f"{HEADS_KEY}-api-signer", "member", "serviceAccount:ci@p.iam.gserviceaccount.com"
        ),
        HEADS_KEY,
    ),
    ("POG-DDOS-001", 1, remove(t.CF_RULESET, "pog-prod-ddos-l7"), ""),
    ("POG-DDOS-002", 1, remove(t.CF_RULESET, "pog-prod-response-headers"), ""),
    (
        "POG-DDOS-003",
        1,
        set_input(t.SECURITY_POLICY, "pog-prod-api-armor", "adaptiveProtectionConfig", None),
        "armor",
    ),
    ("POG-COST-001", 1, remove("gcp:billing/budget:Budget", "pog-prod-budget"), "no billing budget"),
    (
        "POG-COST-001",
        2,
        set_input(
            "gcp:billing/budget:Budget",
            "pog-prod-budget",
            "allUpdatesRule.monitoringNotificationChannels",
            [],
        ),
        "pog-prod-budget",
    ),
]


# The capacity rules (rules_capacity.py): prod's sizing cut below the top of its phase.
MUTATIONS += [
    ("POG-CAP-001", 3, set_input(t.RUN_SERVICE, API, "template.scaling.maxInstanceCount", 1), API),
    ("POG-CAP-002", 2, set_input(t.RUN_SERVICE, API, "template.scaling.maxInstanceCount", 4), API),
    ("POG-CAP-003", 3, set_input(t.REDIS_AA_DATABASE, None, "memoryLimitInGb", 10), "pog-prod-redis-aa-db"),
    ("POG-CAP-005", 3, set_input(t.RUN_SERVICE, API, "template.scaling.maxInstanceCount", 200), "redis-aa"),
]


def keep_rtdb_shards(count: int) -> Callable[[Inventory], None]:
    """Phase 3's Realtime Database shards cut to ``count`` (the URLs the processes read stay as planned)."""

    def mutate(inventory: Inventory) -> None:
        inventory["resources"][:] = [
            r
            for r in inventory["resources"]
            if r["type"] != t.RTDB_INSTANCE or r["name"] == RTDB or int(r["name"].rsplit("-", 1)[1]) < count
        ]

    return mutate


def one_service_drops_the_last_shard(inventory: Inventory) -> None:
    envs = inputs(t.RUN_SERVICE, API)(inventory)["template"]["containers"][0]["envs"]
    urls = next(e for e in envs if e["name"] == "POG_REALTIME_DATABASE_URLS")
    urls["value"] = ",".join(urls["value"].split(",")[:-1])


# The Realtime Database shards (issue 20): fewer shards than the design point needs (connections at 7, the
# writes at 19), a shard id Firebase refuses, and a process that hashes players over other shards.
RTDB = "pog-prod-rtdb"
MUTATIONS += [
    ("POG-CAP-006", 3, keep_rtdb_shards(7), "needs 142,857 connections"),
    ("POG-CAP-007", 3, keep_rtdb_shards(19), "needs 711 writes/s"),
    (
        "POG-RTDB-001",
        3,
        set_input(t.RTDB_INSTANCE, f"{RTDB}-1", "instanceId", "pot-of-gold-production-eu-rtdb-1"),
        f"{RTDB}-1",
    ),
    ("POG-CTR-005", 3, one_service_drops_the_last_shard, "processes disagree on POG_REALTIME_DATABASE_URLS"),
]

# The API's request timeout back to Cloud Run's 300 s default: every live stream cut (issue 20).
MUTATIONS += [("POG-RUN-006", 1, set_input(t.RUN_SERVICE, API, "template.timeout", "300s"), API)]


# The live boards' cache rules (POG-CF-009, issue 20): the latest document held an hour at the edge, the
# immutable rule caching errors, the zone's cache-settings ruleset gone.
CACHE_RULES = "pog-prod-cache-rules"
MUTATIONS += [
    (
        "POG-CF-009",
        1,
        set_input(t.CF_RULESET, CACHE_RULES, "rules.0.actionParameters.edgeTtl.default", 3600),
        "edge TTL is 3600 s",
    ),
    (
        "POG-CF-009",
        2,
        set_input(t.CF_RULESET, CACHE_RULES, "rules.1.actionParameters.edgeTtl.statusCodeTtls", []),
        "may cache error answers",
    ),
    ("POG-CF-009", 3, remove(t.CF_RULESET, CACHE_RULES), "no cache rule"),
]


def add_dataset(inventory: Inventory) -> None:
    dataset = dict(entry(inventory, ANALYTICS_DATASET_TYPE, ANALYTICS_DATASET))
    inventory["resources"].append(
        {
            **dataset,
            "name": "pog-prod-scratch",
            "inputs": {**dataset["inputs"], "datasetId": "pog_prod_scratch"},
        }
    )


# The analytics pipeline (rules_analytics.py, issue 21): a public dataset, prod's data under Google's key,
# the dead letters dropped or never sent, an unbounded table, a topic that takes any message.
ANALYTICS_DATASET_TYPE = "gcp:bigquery/dataset:Dataset"
ANALYTICS_DATASET = "pog-prod-analytics-dataset"
ANALYTICS_TOPIC = "pog-prod-analytics"
ANALYTICS_TO_BIGQUERY = "pog-prod-analytics-bigquery"
PUBSUB_TOPIC = "gcp:pubsub/topic:Topic"
PUBSUB_SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
MUTATIONS += [
    (
        "POG-ANL-001",
        1,
        set_input(
            ANALYTICS_DATASET_TYPE,
            ANALYTICS_DATASET,
            "accesses",
            [{"role": "READER", "specialGroup": "allAuthenticatedUsers"}],
        ),
        "allAuthenticatedUsers",
    ),
    (
        "POG-ANL-002",
        1,
        set_input(ANALYTICS_DATASET_TYPE, ANALYTICS_DATASET, "defaultEncryptionConfiguration", None),
        ANALYTICS_DATASET,
    ),
    ("POG-ANL-002", 3, set_input(PUBSUB_TOPIC, ANALYTICS_TOPIC, "kmsKeyName", None), ANALYTICS_TOPIC),
    (
        "POG-ANL-003",
        1,
        remove(PUBSUB_SUBSCRIPTION, "pog-prod-analytics-dead-letter-inspect"),
        "nothing subscribes to dead-letter topic pog-prod-analytics-dead-letter",
    ),
    (
        "POG-ANL-003",
        2,
        set_input(PUBSUB_SUBSCRIPTION, ANALYTICS_TO_BIGQUERY, "deadLetterPolicy", None),
        ANALYTICS_TO_BIGQUERY,
    ),
    (
        "POG-ANL-004",
        1,
        set_input("gcp:bigquery/table:Table", "pog-prod-analytics-events", "requirePartitionFilter", False),
        "pog-prod-analytics-events",
    ),
    (
        "POG-ANL-005",
        1,
        set_input(PUBSUB_TOPIC, ANALYTICS_TOPIC, "schemaSettings", None),
        "enforces no schema",
    ),
    ("POG-CTR-005", 1, add_dataset, "BigQuery dataset pog_prod_scratch"),
]


@pytest.mark.parametrize(
    ("rule_id", "phase", "mutate", "where"), MUTATIONS, ids=[f"{m[0]}-p{m[1]}" for m in MUTATIONS]
)
def test_rule_fires_on_the_real_plan(
    rule_id: str, phase: int, mutate: Callable[[Inventory], None], where: str
) -> None:
    inventory = inventory_for("prod", phase)
    before = {
        (v.rule_id, v.resource, v.message)
        for v in check_inventory(inventory, real_context("prod", phase)).violations
    }

    mutate(inventory)
    after = check_inventory(inventory, real_context("prod", phase)).violations
    new = [v for v in after if (v.rule_id, v.resource, v.message) not in before and v.rule_id == rule_id]

    assert new, f"{rule_id} did not fire; new violations: {[(v.rule_id, v.message) for v in after]}"
    assert any(where in v.resource + v.message for v in new), [(v.resource, v.message) for v in new]


def test_every_rule_but_the_stack_file_one_is_exercised_on_the_real_plan() -> None:
    from infra.policy.rules import ALL_RULES

    exercised = {m[0] for m in MUTATIONS}
    # STK-001 reads stack files, IAM-005 a resource type the program never declares (fixtures cover
    # both); GCS-004 is exercised the other way round below. CAP-004 reads the usage model, which no
    # planned input moves past Firestore's limits (its fixtures carry a heavier model).
    unexercised = {"POG-STK-001", "POG-IAM-005", "POG-GCS-004", "POG-CAP-004"}
    assert {r.id for r in ALL_RULES} - exercised == unexercised


def test_backup_bucket_reads_are_logged_once_storage_has_data_access_logs() -> None:
    """POG-GCS-004 on the real plan, and the fix it asks for: storage.googleapis.com audit logs."""
    inventory = inventory_for("prod", 1)
    context = real_context("prod", 1)
    flagged = {
        v.resource for v in check_inventory(inventory, context).violations if v.rule_id == "POG-GCS-004"
    }
    audit = entry(inventory, t.AUDIT_CONFIG, "pog-prod-audit-cloudkms")

    inventory["resources"].append(
        {
            **audit,
            "name": "pog-prod-audit-storage",
            "inputs": {**audit["inputs"], "service": "storage.googleapis.com"},
        }
    )
    after = {v.resource for v in check_inventory(inventory, context).violations if v.rule_id == "POG-GCS-004"}

    assert after == set()
    assert flagged <= {f"{t.BUCKET}::pog-prod-firestore-exports", f"{t.BUCKET}::pog-prod-redis-backups"}
