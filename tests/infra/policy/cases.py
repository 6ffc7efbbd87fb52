"""Positive and negative fixtures per rule (KICS style): small hand-built resources or stacks.

``ok(...)`` must produce no violation; ``bad(...)`` exactly ``violations`` of them (default 1), the first
message containing ``expect``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.policy import tokens as t
from infra.policy.model import Resource

from .helpers import FIXTURES, res

SA = "pog-prod-api@pot-of-gold-prod.iam.gserviceaccount.com"
ZONE = "a4cc31f1079298613da36f44c761faea"


@dataclass(frozen=True)
class Case:
    rule: str
    label: str
    resources: tuple[Resource, ...]
    violations: int = 0
    expect: str = ""
    environment: str = "prod"
    phase: int = 1
    root: Path | None = field(default=None)

    @property
    def id(self) -> str:
        verdict = "fails" if self.violations else "passes"
        return f"{self.rule}-{verdict}-{self.label}"


def ok(rule: str, label: str, *resources: Resource, **kw: Any) -> Case:
    return Case(rule, label, resources, **kw)


def bad(rule: str, label: str, *resources: Resource, expect: str, violations: int = 1, **kw: Any) -> Case:
    return Case(rule, label, resources, violations=violations, expect=expect, **kw)


# --- builders of compliant resources ------------------------------------------------------------------


def bucket(name: str = "pog-prod-assets", **overrides: Any) -> Resource:
    props: dict[str, Any] = {
        "name": name,
        "location": "europe-west1",
        "publicAccessPrevention": "enforced",
        "uniformBucketLevelAccess": True,
        "versioning": {"enabled": True},
    }
    props.update(overrides)
    return res(t.BUCKET, name, protect=True, **props)


def env(name: str, value: str | None = None, secret: str | None = None) -> dict[str, Any]:
    if secret is not None:
        return {"name": name, "valueSource": {"secretKeyRef": {"secret": secret, "version": "latest"}}}
    return {"name": name, "value": value}


def run_service(
    region: str = "us-central1", *, envs: list[dict[str, Any]] | None = None, **overrides: Any
) -> Resource:
    name = f"pog-prod-api-{region}"
    props: dict[str, Any] = {
        "name": name,
        "location": region,
        "ingress": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
        "invokerIamDisabled": True,
        "template": {
            "serviceAccount": SA,
            "scaling": {"minInstanceCount": 1, "maxInstanceCount": 20},
            "containers": [{"name": "api", "envs": envs or [env("POG_REGION", region)]}],
        },
    }
    props.update(overrides)
    return res(t.RUN_SERVICE, name, **props)


def firestore(
    database: str = "(default)", location: str = "nam5", protect: bool = True, **overrides: Any
) -> Resource:
    slug = database.strip("()")
    props: dict[str, Any] = {
        "name": database,
        "locationId": location,
        "type": "FIRESTORE_NATIVE",
        "pointInTimeRecoveryEnablement": "POINT_IN_TIME_RECOVERY_ENABLED",
        "deleteProtectionState": "DELETE_PROTECTION_ENABLED",
        "deletionPolicy": "ABANDON",
    }
    props.update(overrides)
    return res(t.FIRESTORE_DATABASE, f"pog-prod-firestore-{slug}", protect=protect, **props)


def schedule(database: str = "(default)", kind: str = "daily", name: str = "") -> Resource:
    recurrence = {"dailyRecurrence": {}} if kind == "daily" else {"weeklyRecurrence": {"day": "SUNDAY"}}
    retention = "604800s" if kind == "daily" else "8467200s"
    slug = database.strip("()")
    return res(
        t.BACKUP_SCHEDULE,
        name or f"backup-{kind}-{slug}",
        database=database,
        retention=retention,
        **recurrence,
    )


def export_job(database: str = "(default)", bucket_name: str = "pog-prod-firestore-exports") -> Resource:
    body = base64.b64encode(json.dumps({"outputUriPrefix": f"gs://{bucket_name}/x"}).encode()).decode()
    uri = f"https://firestore.googleapis.com/v1/projects/p/databases/{database}:exportDocuments"
    return res(
        t.SCHEDULER_JOB,
        f"export-{database.strip('()')}",
        schedule="0 3 * * *",
        timeZone="Etc/UTC",
        httpTarget={"uri": uri, "httpMethod": "POST", "body": body},
    )


def audit(service: str, *log_types: str) -> Resource:
    types = log_types or ("ADMIN_READ", "DATA_READ", "DATA_WRITE")
    return res(
        t.AUDIT_CONFIG,
        f"audit-{service.split('.')[0]}",
        service=service,
        auditLogConfigs=[{"logType": x} for x in types],
    )


def secret(secret_id: str = "pog-prod-stripe-api-key", **overrides: Any) -> Resource:
    props: dict[str, Any] = {"secretId": secret_id, "replication": {"auto": {}}}
    props.update(overrides)
    return res(t.SECRET, f"secret-{secret_id}", protect=True, **props)


def accessor(secret_id: str = "pog-prod-stripe-api-key", member: str = f"serviceAccount:{SA}") -> Resource:
    return res(
        t.SECRET_IAM_MEMBER,
        f"secret-{secret_id}-accessor",
        secretId=f"secret-{secret_id}-id",
        role="roles/secretmanager.secretAccessor",
        member=member,
    )


def failover_topology(*regions: str, outlier: bool = True, warm: bool = True) -> tuple[Resource, ...]:
    """Cloud Run per region, a serverless NEG each, one backend service over all of them."""
    resources: list[Resource] = []
    for region in regions:
        minimum = 2 if warm else 0
        resources.append(
            run_service(region, template={"serviceAccount": SA, "scaling": {"minInstanceCount": minimum}})
        )
        resources.append(
            res(
                t.NEG,
                f"pog-prod-api-neg-{region}",
                name=f"pog-prod-api-neg-{region}",
                region=region,
                networkEndpointType="SERVERLESS",
                cloudRun={"service": f"pog-prod-api-{region}"},
            )
        )
    backend: dict[str, Any] = {
        "name": "pog-prod-api-backend",
        "loadBalancingScheme": "EXTERNAL_MANAGED",
        "securityPolicy": "armor-id",
        "backends": [{"group": f"pog-prod-api-neg-{r}-id"} for r in regions],
    }
    if outlier:
        backend["outlierDetection"] = {"consecutiveErrors": 5, "interval": {"seconds": 10}}
    resources.append(res(t.BACKEND_SERVICE, "pog-prod-api-backend", **backend))
    return tuple(resources)


def zone_setting(setting: str, value: Any) -> Resource:
    return res(t.CF_ZONE_SETTING, f"zone-{setting}", zoneId=ZONE, settingId=setting, value=value)


def ruleset(phase: str, *rules: dict[str, Any], name: str = "") -> Resource:
    return res(t.CF_RULESET, name or phase, zoneId=ZONE, kind="zone", phase=phase, rules=list(rules))


def ratelimit_rule(expression: str, counting: str | None = None, **limit: Any) -> dict[str, Any]:
    ratelimit: dict[str, Any] = {
        "characteristics": ["cf.colo.id", "ip.src"],
        "period": 60,
        "requestsPerPeriod": 60,
        "mitigationTimeout": 600,
    }
    ratelimit.update(limit)
    if counting:
        ratelimit["countingExpression"] = counting
    return {"action": "block", "enabled": True, "expression": expression, "ratelimit": ratelimit}


WEBHOOKS = 'starts_with(http.request.uri.path, "/v1/webhooks/")'
ADMIN = 'starts_with(http.request.uri.path, "/v1/admin")'
AUTH_FAILURES = 'starts_with(http.request.uri.path, "/v1/") and http.response.code in {401 403}'
MANAGED = {
    "action": "execute",
    "enabled": True,
    "expression": "true",
    "actionParameters": {"id": "efb7b8c949ac4650a09736fc376e9aee"},
}
ADMIN_BLOCK = 'starts_with(lower(http.request.uri.path), "/v1/admin") and not ip.src in {198.51.100.0/28}'
DNS = res(t.CF_DNS_RECORD, "dns-api", zoneId=ZONE, name="api.potofgold.games", type="A", proxied=True)


def alert(
    *channels: str, runbook: str = "runbooks/alerts/complete.md", severity: str = "CRITICAL"
) -> Resource:
    return res(
        t.ALERT_POLICY,
        "alert-x",
        severity=severity,
        notificationChannels=list(channels),
        documentation={"content": f"## X\n\n- **Runbook:** `{runbook}` in the repository"},
    )


EMAIL = res(t.NOTIFICATION_CHANNEL, "email-oncall", type="email", labels={"email_address": "a@b.games"})
PAGERDUTY = res(t.NOTIFICATION_CHANNEL, "pagerduty", type="pagerduty")
RUNBOOKS = FIXTURES / "runbooks-repo"

APP_CHECK_CONFIG = "gcp:firebase/appCheckServiceConfig:AppCheckServiceConfig"
APP_CHECKED_SERVICES = (
    firestore(),
    res(t.RTDB_INSTANCE, "pog-prod-rtdb", type="DEFAULT_DATABASE"),
    res(t.IDENTITY_PLATFORM, "pog-prod-identity-platform"),
)


def app_check_config(service: str, mode: str = "ENFORCED") -> Resource:
    short = service.split(".", 1)[0]
    return res(APP_CHECK_CONFIG, f"pog-prod-app-check-{short}", serviceId=service, enforcementMode=mode)


def app_check_configs(mode: str = "ENFORCED") -> list[Resource]:
    services = (
        "firestore.googleapis.com",
        "firebasedatabase.googleapis.com",
        "identitytoolkit.googleapis.com",
    )
    return [app_check_config(service, mode) for service in services]


CASES: list[Case] = [
    # --- storage
    ok("POG-GCS-001", "enforced", bucket()),
    bad("POG-GCS-001", "inherited", bucket(publicAccessPrevention="inherited"), expect="not 'enforced'"),
    bad("POG-GCS-001", "unset", res(t.BUCKET, "b", location="US"), expect="not 'enforced'"),
    ok("POG-GCS-002", "uniform", bucket()),
    bad("POG-GCS-002", "acls", bucket(uniformBucketLevelAccess=False), expect="object ACLs"),
    ok("POG-GCS-003", "versioned-backups", bucket("pog-prod-firestore-exports")),
    ok("POG-GCS-003", "assets-need-not", bucket("pog-prod-assets", versioning={"enabled": False})),
    bad(
        "POG-GCS-003",
        "unversioned-backups",
        bucket("pog-prod-redis-backups", versioning=None),
        expect="versioning",
    ),
    ok(
        "POG-GCS-004",
        "storage-audited",
        bucket("pog-prod-firestore-exports"),
        audit("storage.googleapis.com"),
    ),
    ok("POG-GCS-004", "bucket-logging", bucket("pog-prod-firestore-exports", logging={"logBucket": "logs"})),
    ok("POG-GCS-004", "no-backup-bucket", bucket("pog-prod-assets")),
    bad(
        "POG-GCS-004",
        "unlogged-backups",
        bucket("pog-prod-firestore-exports"),
        audit("storage.googleapis.com", "ADMIN_READ"),
        expect="reads are not logged",
    ),
    # --- KMS
    ok("POG-KMS-001", "30-days", res(t.CRYPTO_KEY, "k", protect=True, rotationPeriod="2592000s")),
    ok("POG-KMS-001", "asymmetric", res(t.CRYPTO_KEY, "k", protect=True, purpose="ASYMMETRIC_SIGN")),
    bad(
        "POG-KMS-001",
        "91-days",
        res(t.CRYPTO_KEY, "k", rotationPeriod="7862400s"),
        expect="outside 1 to 90 days",
    ),
    bad("POG-KMS-001", "never", res(t.CRYPTO_KEY, "k"), expect="never rotates"),
    ok("POG-KMS-002", "protected", res(t.KEY_RING, "ring", protect=True, location="us-central1")),
    bad(
        "POG-KMS-002",
        "unprotected",
        res(t.CRYPTO_KEY, "k", rotationPeriod="2592000s"),
        expect="not protected",
    ),
    ok(
        "POG-KMS-003",
        "service-account",
        res(
            "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember",
            "g",
            role="roles/x",
            member=f"serviceAccount:{SA}",
        ),
    ),
    bad(
        "POG-KMS-003",
        "all-users",
        res(
            "gcp:kms/keyRingIAMBinding:KeyRingIAMBinding",
            "g",
            role="roles/x",
            members=["allUsers", "user:a@b.c"],
        ),
        expect="to allUsers",
    ),
    # --- IAM
    ok(
        "POG-IAM-001",
        "named",
        res("gcp:storage/bucketIAMMember:BucketIAMMember", "g", role="r", member="user:a@b.c"),
    ),
    ok(
        "POG-IAM-001",
        "kms-has-its-own-rule",
        res("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "g", role="r", member="allUsers"),
    ),
    bad(
        "POG-IAM-001",
        "bucket-public",
        res(
            "gcp:storage/bucketIAMBinding:BucketIAMBinding",
            "g",
            role="r",
            members=["allAuthenticatedUsers", "user:a@b.c"],
        ),
        expect="allAuthenticatedUsers",
    ),
    ok(
        "POG-IAM-002",
        "predefined",
        res("gcp:projects/iAMMember:IAMMember", "g", role="roles/logging.logWriter", member="user:a"),
    ),
    bad(
        "POG-IAM-002",
        "editor",
        res("gcp:projects/iAMMember:IAMMember", "g", role="roles/editor", member="user:a"),
        expect="roles/editor",
    ),
    bad(
        "POG-IAM-002",
        "owner-in-policy",
        res(
            "gcp:projects/iAMPolicy:IAMPolicy",
            "p",
            policyData=json.dumps({"bindings": [{"role": "roles/owner", "members": ["user:a@b.c"]}]}),
        ),
        expect="roles/owner",
    ),
    ok(
        "POG-IAM-003",
        "allowlisted-export-admin",
        res(
            "gcp:projects/iAMMember:IAMMember",
            "g",
            role="roles/datastore.importExportAdmin",
            member=f"serviceAccount:{SA}",
        ),
    ),
    ok(
        "POG-IAM-003",
        "human-admin",
        res("gcp:projects/iAMMember:IAMMember", "g", role="roles/storage.admin", member="group:ops@x"),
    ),
    bad(
        "POG-IAM-003",
        "sa-storage-admin",
        res(
            "gcp:projects/iAMMember:IAMMember", "g", role="roles/storage.admin", member=f"serviceAccount:{SA}"
        ),
        expect="admin role roles/storage.admin",
    ),
    ok(
        "POG-IAM-004",
        "on-one-account",
        res(
            "gcp:serviceaccount/iAMMember:IAMMember",
            "g",
            role="roles/iam.serviceAccountUser",
            member="user:a",
        ),
    ),
    bad(
        "POG-IAM-004",
        "token-creator-on-project",
        res(
            "gcp:projects/iAMMember:IAMMember",
            "g",
            role="roles/iam.serviceAccountTokenCreator",
            member="user:a",
        ),
        expect="every service account",
    ),
    ok("POG-IAM-005", "account-without-key", res("gcp:serviceaccount/account:Account", "sa", accountId="x")),
    bad("POG-IAM-005", "key", res(t.SA_KEY, "key", serviceAccountId="x"), expect="long-lived key"),
    ok(
        "POG-IAM-006",
        "all-three",
        audit("datastore.googleapis.com"),
        audit("secretmanager.googleapis.com"),
        audit("cloudkms.googleapis.com"),
    ),
    ok("POG-IAM-006", "all-services", audit("allServices", "DATA_READ", "DATA_WRITE")),
    bad(
        "POG-IAM-006",
        "no-secretmanager",
        audit("datastore.googleapis.com"),
        audit("cloudkms.googleapis.com"),
        expect="secretmanager.googleapis.com",
    ),
    # --- Cloud Run
    ok("POG-RUN-001", "disabled-iam-behind-lb", run_service()),
    ok(
        "POG-RUN-001",
        "named-invoker",
        res(
            "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
            "i",
            name="svc",
            role="roles/run.invoker",
            member=f"serviceAccount:{SA}",
        ),
    ),
    bad(
        "POG-RUN-001",
        "all-users-invoker",
        res(
            "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
            "i",
            name="svc",
            role="roles/run.invoker",
            member="allUsers",
        ),
        expect="to allUsers",
    ),
    bad(
        "POG-RUN-001",
        "disabled-iam-open-ingress",
        run_service(ingress="INGRESS_TRAFFIC_ALL"),
        expect="anyone on the internet",
    ),
    ok("POG-RUN-002", "internal-lb", run_service()),
    bad("POG-RUN-002", "all", run_service(ingress="INGRESS_TRAFFIC_ALL"), expect="bypasses Cloudflare"),
    bad(
        "POG-RUN-002",
        "default",
        res(t.RUN_SERVICE, "s", location="us-central1"),
        expect="INGRESS_TRAFFIC_ALL",
    ),
    ok("POG-RUN-003", "dedicated", run_service()),
    bad(
        "POG-RUN-003",
        "unset",
        run_service(template={"scaling": {"minInstanceCount": 1}}),
        expect="default compute",
    ),
    bad(
        "POG-RUN-003",
        "compute-default",
        run_service(template={"serviceAccount": "123-compute@developer.gserviceaccount.com"}),
        expect="default service account",
    ),
    ok(
        "POG-RUN-004",
        "refs-and-identifiers",
        run_service(
            envs=[
                env("POG_STRIPE_API_KEY", secret="pog-prod-stripe-api-key"),
                env("POG_AUDIT_KMS_KEY", "projects/p/locations/l/keyRings/r/cryptoKeys/k"),
                env("POG_REGION", "us-central1"),
            ]
        ),
    ),
    bad(
        "POG-RUN-004",
        "plain-api-key",
        run_service(envs=[env("POG_STRIPE_API_KEY", "sk_live_abc"), env("POG_REGION", "x")]),
        expect="POG_STRIPE_API_KEY as a plain value",
    ),
    bad(
        "POG-RUN-004",
        "password-in-url",
        run_service(envs=[env("POG_CACHE_ENDPOINT", "rediss://default:hunter2@redis.example:12000")]),
        expect="POG_CACHE_ENDPOINT",
    ),
    ok("POG-RUN-005", "warm-prod", run_service()),
    ok(
        "POG-RUN-005",
        "cold-dev",
        run_service(template={"serviceAccount": SA, "scaling": {"minInstanceCount": 0}}),
        environment="dev",
    ),
    bad(
        "POG-RUN-005",
        "cold-prod",
        run_service(template={"serviceAccount": SA, "scaling": {"minInstanceCount": 0}}),
        expect="minInstanceCount is 0",
    ),
    bad(
        "POG-RUN-005",
        "unset-prod",
        run_service(template={"serviceAccount": SA}),
        expect="minInstanceCount is 0",
    ),
    # --- Firestore and data
    ok("POG-FS-001", "prod-protected", firestore()),
    ok(
        "POG-FS-001",
        "dev-unprotected",
        firestore(deleteProtectionState="DELETE_PROTECTION_DISABLED"),
        environment="dev",
    ),
    bad(
        "POG-FS-001",
        "prod-unprotected",
        firestore(deleteProtectionState="DELETE_PROTECTION_DISABLED"),
        expect="can be deleted",
    ),
    ok("POG-FS-002", "pitr", firestore()),
    bad(
        "POG-FS-002",
        "no-pitr",
        firestore(pointInTimeRecoveryEnablement="POINT_IN_TIME_RECOVERY_DISABLED"),
        expect="last backup",
        environment="dev",
    ),
    ok("POG-FS-003", "abandon", firestore()),
    ok("POG-FS-003", "dev-deletes", firestore(deletionPolicy="DELETE"), environment="dev"),
    bad("POG-FS-003", "prod-deletes", firestore(deletionPolicy="DELETE"), expect="deletes the data"),
    bad(
        "POG-FS-003",
        "rtdb-default-deletes",
        res(t.RTDB_INSTANCE, "rtdb", protect=True, region="us-central1"),
        expect="'DELETE'",
    ),
    ok("POG-FS-004", "daily-7d", schedule(kind="daily")),
    ok("POG-FS-004", "weekly-14w", schedule(kind="weekly")),
    bad(
        "POG-FS-004",
        "daily-14w",
        res(t.BACKUP_SCHEDULE, "s", database="(default)", retention="8467200s", dailyRecurrence={}),
        expect="daily retention 14w exceeds",
    ),
    bad(
        "POG-FS-004",
        "both-recurrences",
        res(
            t.BACKUP_SCHEDULE, "s", retention="86400s", dailyRecurrence={}, weeklyRecurrence={"day": "MONDAY"}
        ),
        expect="exactly one",
    ),
    ok("POG-FS-005", "daily-and-weekly", firestore(), schedule(kind="daily"), schedule(kind="weekly")),
    bad("POG-FS-005", "daily-only", firestore(), schedule(kind="daily"), expect="no weekly backup schedule"),
    bad(
        "POG-FS-005",
        "three-schedules",
        firestore(),
        schedule(kind="daily"),
        schedule(kind="weekly"),
        schedule(kind="daily", name="backup-daily-again"),
        expect="Firestore allows 2",
    ),
    ok("POG-DATA-001", "prod-protected", firestore(), secret(), bucket("pog-prod-redis-backups")),
    ok("POG-DATA-001", "dev-unprotected", firestore(protect=False), environment="dev"),
    ok("POG-DATA-001", "assets-may-be-rebuilt", res(t.BUCKET, "pog-prod-assets", name="pog-prod-assets")),
    bad(
        "POG-DATA-001",
        "prod-secret",
        res(t.SECRET, "s", secretId="x", replication={"auto": {}}),
        expect="not protected in prod",
    ),
    bad(
        "POG-DATA-001",
        "prod-backups",
        res(t.BUCKET, "pog-prod-firestore-exports"),
        expect="not protected in prod",
    ),
    # --- backups
    ok(
        "POG-BAK-001",
        "phase-2-elsewhere",
        firestore(),
        bucket("pog-prod-firestore-exports", location="europe-west1"),
        export_job(),
        phase=2,
    ),
    ok(
        "POG-BAK-001",
        "phase-1-not-required",
        firestore(),
        bucket("pog-prod-firestore-exports", location="us-east1"),
        export_job(),
    ),
    bad(
        "POG-BAK-001",
        "phase-2-inside-nam5",
        firestore(),
        bucket("pog-prod-firestore-exports", location="us-east1"),
        export_job(),
        expect="exports of database (default) (nam5)",
        phase=2,
    ),
    bad(
        "POG-BAK-001",
        "phase-3-regional-database",
        firestore(),
        firestore("games-europe-west1", location="europe-west1"),
        bucket("pog-prod-firestore-exports", location="europe-west1"),
        export_job(),
        export_job("games-europe-west1"),
        expect="games-europe-west1 (europe-west1)",
        phase=3,
    ),
    ok("POG-BAK-002", "exported", firestore(), export_job()),
    bad(
        "POG-BAK-002",
        "not-exported",
        firestore(),
        firestore("game-sessions"),
        export_job(),
        expect="game-sessions",
    ),
    # --- secrets
    ok("POG-SEC-001", "automatic", secret()),
    ok(
        "POG-SEC-001",
        "two-regions",
        secret(
            replication={"userManaged": {"replicas": [{"location": "us-central1"}, {"location": "us-east4"}]}}
        ),
    ),
    bad(
        "POG-SEC-001",
        "one-region",
        secret(replication={"userManaged": {"replicas": [{"location": "us-central1"}]}}),
        expect="us-central1 only",
    ),
    bad("POG-SEC-001", "none", secret(replication=None), expect="no replication policy"),
    ok("POG-SEC-002", "runtime-only", run_service(), secret(), accessor()),
    bad(
        "POG-SEC-002",
        "another-account",
        run_service(),
        secret(),
        accessor(member="serviceAccount:ci@p.iam.gserviceaccount.com"),
        expect="not the API runtime",
    ),
    bad(
        "POG-SEC-002",
        "project-wide",
        run_service(),
        res(
            "gcp:projects/iAMMember:IAMMember",
            "g",
            role="roles/secretmanager.secretAccessor",
            member="user:a",
        ),
        expect="every secret",
    ),
    ok(
        "POG-SEC-003",
        "declared-and-granted",
        run_service(envs=[env("POG_STRIPE_API_KEY", secret="pog-prod-stripe-api-key")]),
        secret(),
        accessor(),
    ),
    bad(
        "POG-SEC-003",
        "undeclared",
        run_service(envs=[env("POG_SENTRY_DSN", secret="pog-prod-sentry-dsn")]),
        secret(),
        accessor(),
        expect="does not declare",
    ),
    bad(
        "POG-SEC-003",
        "not-granted",
        run_service(envs=[env("POG_STRIPE_API_KEY", secret="pog-prod-stripe-api-key")]),
        secret(),
        expect="cannot read secret",
    ),
    # --- load balancing
    ok(
        "POG-LB-001",
        "armored",
        res(t.BACKEND_SERVICE, "b", loadBalancingScheme="EXTERNAL_MANAGED", securityPolicy="a"),
    ),
    ok("POG-LB-001", "internal", res(t.BACKEND_SERVICE, "b", loadBalancingScheme="INTERNAL_MANAGED")),
    bad(
        "POG-LB-001",
        "bare",
        res(t.BACKEND_SERVICE, "b", loadBalancingScheme="EXTERNAL_MANAGED"),
        expect="no securityPolicy",
    ),
    bad(
        "POG-LB-001",
        "bucket",
        res(t.BACKEND_BUCKET, "bb", bucketName="x", enableCdn=True),
        expect="edgeSecurityPolicy",
    ),
    ok(
        "POG-LB-002",
        "default-deny",
        res(t.SECURITY_POLICY, "p", rules=[{"priority": 2147483647, "action": "deny(403)"}]),
    ),
    bad(
        "POG-LB-002",
        "default-allow",
        res(t.SECURITY_POLICY, "p", rules=[{"priority": 2147483647, "action": "allow"}]),
        expect="not deny",
    ),
    bad("POG-LB-002", "no-default", res(t.SECURITY_POLICY, "p", rules=[]), expect="allows every request"),
    ok(
        "POG-LB-003",
        "tls-1-2",
        res(t.SSL_POLICY, "tls", minTlsVersion="TLS_1_2"),
        res(t.HTTPS_PROXY, "px", sslPolicy="tls-id"),
    ),
    bad("POG-LB-003", "tls-1-0", res(t.SSL_POLICY, "tls", minTlsVersion="TLS_1_0"), expect="TLS_1_0"),
    bad("POG-LB-003", "proxy-default", res(t.HTTPS_PROXY, "px", urlMap="u"), expect="no sslPolicy"),
    ok("POG-LB-004", "logged", res(t.BACKEND_SERVICE, "b", logConfig={"enable": True, "sampleRate": 0.1})),
    bad("POG-LB-004", "silent", res(t.BACKEND_SERVICE, "b"), expect="logging is off"),
    # --- values
    ok(
        "POG-VAL-001",
        "known",
        run_service("europe-west1"),
        bucket(location="EU"),
        res(t.KEY_RING, "ring", location="global"),
        res(t.GCP_PROVIDER, "gcp", region="us-central1"),
        res(
            t.REDIS_SUBSCRIPTION,
            "sub",
            cloudProvider={"provider": "GCP", "regions": [{"region": "us-east4"}]},
        ),
    ),
    bad("POG-VAL-001", "cloud-run", run_service("us-central9"), expect="location 'us-central9'"),
    bad("POG-VAL-001", "rtdb", res(t.RTDB_INSTANCE, "rtdb", region="us-east4"), expect="region 'us-east4'"),
    bad("POG-VAL-001", "provider", res(t.GCP_PROVIDER, "gcp", region="useast1"), expect="'useast1'"),
    bad(
        "POG-VAL-001",
        "redis",
        res(t.REDIS_AA_DATABASE, "db", overrideRegions=[{"name": "us-central1"}, {"name": "eu-west-1"}]),
        expect="overrideRegions[1].name 'eu-west-1'",
    ),
    ok("POG-VAL-002", "multi-region", firestore(location="eur3")),
    ok("POG-VAL-002", "region", firestore(location="asia-northeast1")),
    bad("POG-VAL-002", "typo", firestore(location="nam7"), expect="'nam7'"),
    ok("POG-VAL-003", "valid", run_service(), firestore(), schedule(kind="weekly")),
    bad(
        "POG-VAL-003",
        "ingress",
        run_service(ingress="INTERNAL_AND_LB"),
        expect="ingress is 'INTERNAL_AND_LB'",
    ),
    bad(
        "POG-VAL-003",
        "weekday",
        res(t.BACKUP_SCHEDULE, "s", retention="604800s", weeklyRecurrence={"day": "SUN"}),
        expect="weeklyRecurrence.day",
    ),
    bad(
        "POG-VAL-003",
        "uptime-region",
        res(t.UPTIME_CHECK, "u", period="60s", selectedRegions=["USA", "MARS"]),
        expect="selectedRegions[1]",
    ),
    ok("POG-VAL-004", "seconds", schedule(), res(t.UPTIME_CHECK, "u", period="300s", timeout="10s")),
    bad(
        "POG-VAL-004", "days", res(t.BACKUP_SCHEDULE, "s", retention="7d", dailyRecurrence={}), expect="'7d'"
    ),
    bad("POG-VAL-004", "too-often", res(t.UPTIME_CHECK, "u", period="30s"), expect="period 30s is outside"),
    bad(
        "POG-VAL-004",
        "nested",
        res(t.ALERT_POLICY, "a", conditions=[{"conditionThreshold": {"duration": "1m"}}]),
        expect="conditions[0].conditionThreshold.duration",
    ),
    ok("POG-VAL-005", "nightly", export_job()),
    bad("POG-VAL-005", "four-fields", res(t.SCHEDULER_JOB, "j", schedule="0 3 * *"), expect="five fields"),
    bad(
        "POG-VAL-005", "minute-61", res(t.SCHEDULER_JOB, "j", schedule="61 3 * * *"), expect="does not parse"
    ),
    bad(
        "POG-VAL-005",
        "time-zone",
        res(t.SCHEDULER_JOB, "j", schedule="0 3 * * *", timeZone="UTC+2"),
        expect="IANA",
    ),
    # --- Redis Cloud
    ok("POG-RDS-001", "tls", res(t.REDIS_DATABASE, "db", enableTls=True)),
    bad("POG-RDS-001", "plain", res(t.REDIS_AA_DATABASE, "db"), expect="enableTls"),
    ok("POG-RDS-002", "prod-replicated", res(t.REDIS_DATABASE, "db", replication=True)),
    ok("POG-RDS-002", "dev-single", res(t.REDIS_DATABASE, "db", replication=False), environment="dev"),
    bad(
        "POG-RDS-002",
        "prod-single",
        res(t.REDIS_DATABASE, "db", replication=False),
        expect="replication is off",
    ),
    bad(
        "POG-RDS-002",
        "prod-one-zone",
        res(
            t.REDIS_SUBSCRIPTION,
            "sub",
            creationPlan={"replication": True},
            cloudProvider={"regions": [{"region": "us-central1", "multipleAvailabilityZones": False}]},
        ),
        expect="one zone outage",
    ),
    ok("POG-RDS-003", "aof", res(t.REDIS_AA_DATABASE, "db", globalDataPersistence="aof-every-1-second")),
    bad(
        "POG-RDS-003",
        "snapshot",
        res(t.REDIS_DATABASE, "db", dataPersistence="snapshot-every-1-hour"),
        expect="snapshot",
    ),
    bad("POG-RDS-003", "none", res(t.REDIS_DATABASE, "db"), expect="'none'"),
    ok("POG-RDS-004", "nat-ips", res(t.REDIS_DATABASE, "db", sourceIps=["203.0.113.5/32"])),
    bad("POG-RDS-004", "missing", res(t.REDIS_DATABASE, "db"), expect="any address"),
    bad(
        "POG-RDS-004",
        "everyone",
        res(t.REDIS_AA_DATABASE, "db", globalSourceIps=["0.0.0.0/0"]),
        expect="every address",
    ),
    bad("POG-RDS-004", "not-cidr", res(t.REDIS_DATABASE, "db", sourceIps=["nat-ip"]), expect="not a CIDR"),
    ok(
        "POG-RDS-005",
        "valid",
        res(
            t.REDIS_DATABASE,
            "db",
            memoryLimitInGb=2,
            throughputMeasurementBy="number-of-shards",
            throughputMeasurementValue=2,
            dataPersistence="aof-every-1-second",
            dataEviction="volatile-lru",
            remoteBackup={
                "interval": "every-24-hours",
                "timeUtc": "03:00",
                "storageType": "google-blob-storage",
            },
        ),
        res(
            t.REDIS_SUBSCRIPTION,
            "sub",
            creationPlan={
                "memoryLimitInGb": 1,
                "throughputMeasurementBy": "operations-per-second",
                "throughputMeasurementValue": 1000,
            },
            cloudProvider={"regions": [{"networkingDeploymentCidr": "10.20.0.0/24"}]},
        ),
    ),
    bad(
        "POG-RDS-005",
        "throughput-unit",
        res(t.REDIS_DATABASE, "db", throughputMeasurementBy="ops", throughputMeasurementValue=1000),
        expect="throughputMeasurementBy is 'ops'",
    ),
    bad(
        "POG-RDS-005",
        "backup-time",
        res(t.REDIS_DATABASE, "db", remoteBackup={"interval": "every-6-hours", "timeUtc": "03:00"}),
        expect="timeUtc is only accepted",
    ),
    bad(
        "POG-RDS-005",
        "cidr",
        res(
            t.REDIS_AA_SUBSCRIPTION,
            "aa",
            creationPlan={"regions": [{"networkingDeploymentCidr": "10.21.0.0/16"}]},
        ),
        expect="must be a /24",
    ),
    bad(
        "POG-RDS-005",
        "eviction",
        res(t.REDIS_DATABASE, "db", dataEviction="lru"),
        expect="dataEviction 'lru'",
    ),
    # --- Cloudflare
    ok("POG-CF-001", "strict", DNS, zone_setting("ssl", "strict")),
    bad("POG-CF-001", "full", DNS, zone_setting("ssl", "full"), expect="does not validate the origin"),
    bad("POG-CF-001", "unset", DNS, expect="declares no ssl setting"),
    ok("POG-CF-002", "1.2", DNS, zone_setting("min_tls_version", "1.2")),
    ok("POG-CF-002", "1.3", DNS, zone_setting("min_tls_version", "1.3")),
    bad("POG-CF-002", "1.0", DNS, zone_setting("min_tls_version", "1.0"), expect="below 1.2"),
    bad("POG-CF-002", "unset", DNS, expect="no min_tls_version"),
    ok("POG-CF-003", "managed", DNS, ruleset("http_request_firewall_managed", MANAGED)),
    bad(
        "POG-CF-003",
        "disabled",
        DNS,
        ruleset("http_request_firewall_managed", {**MANAGED, "enabled": False}),
        expect="does not execute",
    ),
    bad(
        "POG-CF-003",
        "partial",
        DNS,
        ruleset("http_request_firewall_managed", {**MANAGED, "expression": 'http.host eq "x"'}),
        expect="part of the traffic",
    ),
    ok(
        "POG-CF-004",
        "all-three",
        DNS,
        ruleset(
            "http_ratelimit",
            ratelimit_rule(WEBHOOKS),
            ratelimit_rule(ADMIN),
            ratelimit_rule("true", AUTH_FAILURES),
        ),
    ),
    bad(
        "POG-CF-004",
        "no-admin",
        DNS,
        ruleset("http_ratelimit", ratelimit_rule(WEBHOOKS), ratelimit_rule("true", AUTH_FAILURES)),
        expect="on /v1/admin",
    ),
    bad("POG-CF-004", "none", DNS, violations=3, expect="/v1/webhooks"),
    ok(
        "POG-CF-005",
        "known",
        zone_setting("ssl", "strict"),
        zone_setting("tls_1_3", "zrt"),
        zone_setting("browser_cache_ttl", 3600),
    ),
    bad(
        "POG-CF-005", "bad-value", zone_setting("always_use_https", "yes"), expect="always_use_https is 'yes'"
    ),
    bad("POG-CF-005", "unknown-setting", zone_setting("sslmode", "strict"), expect="'sslmode'"),
    bad("POG-CF-005", "not-a-number", zone_setting("browser_cache_ttl", "1h"), expect="positive number"),
    ok("POG-CF-006", "valid", ruleset("http_ratelimit", ratelimit_rule(WEBHOOKS))),
    ok(
        "POG-CF-006",
        "other-phase",
        ruleset("http_request_firewall_custom", {"action": "block", "expression": "true"}),
    ),
    bad(
        "POG-CF-006",
        "period",
        ruleset("http_ratelimit", ratelimit_rule(WEBHOOKS, period=30)),
        expect="period 30",
    ),
    bad(
        "POG-CF-006",
        "no-colo",
        ruleset("http_ratelimit", ratelimit_rule(WEBHOOKS, characteristics=["ip.src"])),
        expect="lack cf.colo.id",
    ),
    ok(
        "POG-CF-007",
        "allowlist",
        DNS,
        ruleset("http_request_firewall_custom", {"action": "block", "expression": ADMIN_BLOCK}),
    ),
    bad(
        "POG-CF-007",
        "open",
        DNS,
        ruleset(
            "http_request_firewall_custom", {"action": "block", "expression": "ip.src in {192.0.2.0/24}"}
        ),
        expect="does not restrict /v1/admin",
    ),
    bad(
        "POG-CF-007",
        "everyone",
        DNS,
        ruleset(
            "http_request_firewall_custom",
            {"action": "block", "expression": ADMIN_BLOCK.replace("198.51.100.0/28", "0.0.0.0/0")},
        ),
        expect="includes every address",
    ),
    ok("POG-CF-008", "proxied", DNS),
    ok(
        "POG-CF-008",
        "validation-cname",
        res(t.CF_DNS_RECORD, "v", type="CNAME", name="_acme-challenge.api", proxied=False),
    ),
    bad(
        "POG-CF-008",
        "exposed",
        res(t.CF_DNS_RECORD, "a", type="A", name="api.x", proxied=False),
        expect="publishes the origin",
    ),
    # --- monitoring
    ok("POG-MON-001", "complete", alert("email-oncall"), root=RUNBOOKS),
    bad(
        "POG-MON-001",
        "no-link",
        res(t.ALERT_POLICY, "a", documentation={"content": "nothing"}),
        expect="names no runbook",
        root=RUNBOOKS,
    ),
    bad(
        "POG-MON-001",
        "missing-file",
        alert(runbook="runbooks/alerts/gone.md"),
        expect="does not exist",
        root=RUNBOOKS,
    ),
    bad(
        "POG-MON-001",
        "missing-sections",
        alert(runbook="runbooks/alerts/incomplete.md"),
        expect="lacks ## Diagnosis, ## Mitigation",
        root=RUNBOOKS,
    ),
    ok("POG-MON-002", "pages-in-prod", alert("email-oncall", "pagerduty"), EMAIL, PAGERDUTY),
    ok("POG-MON-002", "mail-in-dev", alert("email-oncall"), EMAIL, environment="dev"),
    bad("POG-MON-002", "no-channel", alert(), EMAIL, expect="nobody hears it"),
    bad(
        "POG-MON-002",
        "foreign-channel",
        alert("projects/other/notificationChannels/1"),
        EMAIL,
        expect="not channels of this stack",
    ),
    bad("POG-MON-002", "critical-mail-only", alert("email-oncall"), EMAIL, PAGERDUTY, expect="pages nobody"),
    # --- phases, regions, disaster recovery
    ok("POG-STK-001", "same-phase", root=FIXTURES / "phase-order-ok"),
    bad(
        "POG-STK-001",
        "prod-ahead",
        root=FIXTURES / "phase-order-ahead",
        expect="ahead of Pulumi.dev.yaml at phase 1",
    ),
    ok("POG-STK-002", "phase-1-one-region", run_service()),
    ok(
        "POG-STK-002",
        "phase-3-failover",
        *failover_topology("us-central1", "us-east4", "europe-west1"),
        phase=3,
    ),
    bad(
        "POG-STK-002",
        "phase-1-two-regions",
        run_service(),
        run_service("us-east4"),
        expect="runs the API in 1 region",
    ),
    bad(
        "POG-STK-002",
        "phase-3-no-outlier-detection",
        *failover_topology("us-central1", "us-east4", "europe-west1", outlier=False),
        expect="no failover path",
        phase=3,
    ),
    ok("POG-STK-003", "prod-pitr", firestore(), export_job()),
    ok(
        "POG-STK-003",
        "dev-is-informational",
        firestore(pointInTimeRecoveryEnablement="POINT_IN_TIME_RECOVERY_DISABLED"),
        export_job(),
        environment="dev",
    ),
    ok(
        "POG-STK-003",
        "prod-phase-3",
        firestore(),
        *failover_topology("us-central1", "us-east4", "europe-west1"),
        phase=3,
    ),
    bad(
        "POG-STK-003",
        "prod-daily-export-only",
        firestore(pointInTimeRecoveryEnablement="POINT_IN_TIME_RECOVERY_DISABLED"),
        export_job(),
        expect="RPO 1d",
    ),
    bad(
        "POG-STK-003",
        "prod-phase-3-cold-regions",
        firestore(),
        *failover_topology("us-central1", "us-east4", "europe-west1", warm=False),
        expect="no automatic regional failover",
        phase=3,
    ),
]

# The deploy-contract rules' fixtures live beside their builders; imported last (they use ok and bad).
from .contract_cases import CONTRACT_CASES  # noqa: E402

CASES += CONTRACT_CASES

# --- DDoS protection and security headers (rules_ddos.py) ------------------------------------------------

HTTP_DDOS = "4d21379b4f9f4bb088e0729962c8b3cf"


def ddos_rule(sensitivity: str = "default", expression: str = "true") -> dict[str, Any]:
    overrides = {"action": "block", "sensitivityLevel": sensitivity}
    return {
        "action": "execute",
        "enabled": True,
        "expression": expression,
        "actionParameters": {"id": HTTP_DDOS, "overrides": overrides},
    }


SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def headers_rule(expression: str = 'http.host eq "api.potofgold.games"', **changed: str) -> dict[str, Any]:
    values = {**SECURITY_HEADERS, **changed}
    headers = {name: {"operation": "set", "value": value} for name, value in values.items() if value}
    parameters = {"headers": headers}
    return {"action": "rewrite", "enabled": True, "expression": expression, "actionParameters": parameters}


def api_armor(adaptive: dict[str, Any] | None = None, policy_type: str = "CLOUD_ARMOR") -> Resource:
    props: dict[str, Any] = {"type": policy_type, "rules": []}
    if adaptive is not None:
        props["adaptiveProtectionConfig"] = {"layer7DdosDefenseConfig": adaptive}
    return res(t.SECURITY_POLICY, "api-armor", **props)


ADAPTIVE = {"enable": True, "ruleVisibility": "STANDARD"}

CASES += [
    ok("POG-DDOS-001", "prod-default", DNS, ruleset("ddos_l7", ddos_rule("default"))),
    ok("POG-DDOS-001", "dev-medium", DNS, ruleset("ddos_l7", ddos_rule("medium")), environment="dev"),
    bad("POG-DDOS-001", "none", DNS, expect="HTTP DDoS managed ruleset at settings no plan shows"),
    bad(
        "POG-DDOS-001",
        "prod-lowered",
        DNS,
        ruleset("ddos_l7", ddos_rule("low")),
        expect="prod phase 1 asks for 'default'",
    ),
    bad("POG-DDOS-001", "turned-off", DNS, ruleset("ddos_l7", ddos_rule("off")), expect="sensitivity 'off'"),
    bad(
        "POG-DDOS-001",
        "part-of-the-traffic",
        DNS,
        ruleset("ddos_l7", ddos_rule(expression='http.host eq "api.potofgold.games"')),
        expect="part of the traffic only",
    ),
    ok("POG-DDOS-002", "api-host", DNS, ruleset("http_response_headers_transform", headers_rule())),
    ok("POG-DDOS-002", "everything", DNS, ruleset("http_response_headers_transform", headers_rule("true"))),
    bad("POG-DDOS-002", "none", DNS, expect="no response-header rule covers api.potofgold.games"),
    bad(
        "POG-DDOS-002",
        "another-host",
        DNS,
        ruleset("http_response_headers_transform", headers_rule('http.host eq "www.potofgold.games"')),
        expect="no response-header rule covers",
    ),
    bad(
        "POG-DDOS-002",
        "no-nosniff-short-hsts",
        DNS,
        ruleset(
            "http_response_headers_transform",
            headers_rule(**{"X-Content-Type-Options": "", "Strict-Transport-Security": "max-age=300"}),
        ),
        expect="X-Content-Type-Options: nosniff; Strict-Transport-Security with max-age >= 31536000",
    ),
    ok("POG-DDOS-003", "prod-on", api_armor(ADAPTIVE)),
    ok("POG-DDOS-003", "dev-phase-1-off", api_armor(), environment="dev"),
    ok("POG-DDOS-003", "edge-policy", api_armor(policy_type="CLOUD_ARMOR_EDGE")),
    bad("POG-DDOS-003", "prod-off", api_armor(), expect="Adaptive Protection is off"),
    bad(
        "POG-DDOS-003",
        "dev-phase-2-disabled",
        api_armor({"enable": False}),
        expect="dev phase 2 asks for it",
        environment="dev",
        phase=2,
    ),
    bad(
        "POG-DDOS-003",
        "unknown-visibility",
        api_armor({"enable": True, "ruleVisibility": "GOLD"}),
        expect="ruleVisibility 'GOLD'",
    ),
    # --- App Check (infra/policy/rules_app_check.py) ---
    ok("POG-APPCHECK-001", "enforced", app_check_config("firestore.googleapis.com")),
    ok("POG-APPCHECK-001", "unenforced", app_check_config("firestore.googleapis.com", "UNENFORCED")),
    bad(
        "POG-APPCHECK-001",
        "typo",
        app_check_config("firestore.googleapis.com", "ENFORCE"),
        expect="enforcementMode 'ENFORCE'",
    ),
    ok("POG-APPCHECK-002", "prod-all-enforced", *APP_CHECKED_SERVICES, *app_check_configs()),
    ok(
        "POG-APPCHECK-002",
        "dev-unenforced",
        *APP_CHECKED_SERVICES,
        *app_check_configs("UNENFORCED"),
        environment="dev",
    ),
    ok("POG-APPCHECK-002", "dev-none", *APP_CHECKED_SERVICES, environment="dev"),
    bad(
        "POG-APPCHECK-002",
        "prod-unenforced",
        *APP_CHECKED_SERVICES,
        *app_check_configs("UNENFORCED"),
        expect="App Check on firestore.googleapis.com is UNENFORCED",
        violations=3,
    ),
    bad(
        "POG-APPCHECK-002",
        "prod-rtdb-missing",
        *APP_CHECKED_SERVICES,
        *[c for c in app_check_configs() if c.props["serviceId"] != "firebasedatabase.googleapis.com"],
        expect="firebasedatabase.googleapis.com has no App Check service config",
    ),
    ok("POG-APPCHECK-003", "prod-enforce", run_service(envs=[env("POG_APP_CHECK", "enforce")])),
    ok(
        "POG-APPCHECK-003",
        "dev-monitor",
        run_service(envs=[env("POG_APP_CHECK", "monitor")]),
        environment="dev",
    ),
    bad(
        "POG-APPCHECK-003",
        "prod-monitor",
        run_service(envs=[env("POG_APP_CHECK", "monitor")]),
        expect="POG_APP_CHECK='monitor'",
    ),
    bad("POG-APPCHECK-003", "prod-unset", run_service(), expect="POG_APP_CHECK is not set"),
]


# --- the audit log's anchors and signing key (infra/policy/rules_audit.py) -------------------------------


def anchors_bucket(env_name: str = "prod", **overrides: Any) -> Resource:
    props: dict[str, Any] = {
        "retentionPolicy": {"retentionPeriod": str(400 * 86_400), "isLocked": env_name == "prod"}
    }
    props.update(overrides)
    return bucket(f"pog-{env_name}-audit-anchors", **props)


def signing_key(**overrides: Any) -> Resource:
    props: dict[str, Any] = {
        "name": "pog-prod-audit-heads",
        "purpose": "ASYMMETRIC_SIGN",
        "versionTemplate": {"algorithm": "EC_SIGN_P256_SHA256", "protectionLevel": "SOFTWARE"},
    }
    props.update(overrides)
    return res(t.CRYPTO_KEY, "pog-prod-audit-heads", protect=True, **props)


def key_grant(member: str = f"serviceAccount:{SA}", role: str = "roles/cloudkms.signer") -> Resource:
    kind = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
    return res(
        kind, f"grant-{role}-{member}", cryptoKeyId="pog-prod-audit-heads-id", role=role, member=member
    )


CASES += [
    ok("POG-AUDIT-001", "prod-locked", anchors_bucket()),
    ok("POG-AUDIT-001", "dev-unlocked", anchors_bucket("dev"), environment="dev"),
    bad("POG-AUDIT-001", "missing", bucket(), expect="no pog-prod-audit-anchors bucket"),
    bad(
        "POG-AUDIT-001",
        "prod-unlocked",
        anchors_bucket(retentionPolicy={"retentionPeriod": str(400 * 86_400), "isLocked": False}),
        expect="not locked in prod",
    ),
    bad(
        "POG-AUDIT-001",
        "short-retention",
        anchors_bucket(retentionPolicy={"retentionPeriod": "86400", "isLocked": True}),
        expect="under 365 days",
    ),
    bad("POG-AUDIT-001", "no-retention", anchors_bucket(retentionPolicy=None), expect="no retention policy"),
    bad(
        "POG-AUDIT-001",
        "unversioned",
        anchors_bucket(versioning={"enabled": False}),
        expect="versioning is off",
    ),
    ok("POG-AUDIT-002", "p256-signing", signing_key()),
    bad("POG-AUDIT-002", "missing", expect="no pog-prod-audit-heads key"),
    bad(
        "POG-AUDIT-002",
        "symmetric",
        signing_key(purpose="ENCRYPT_DECRYPT", versionTemplate={"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"}),
        expect="purpose 'ENCRYPT_DECRYPT'",
        violations=2,
    ),
    ok("POG-AUDIT-003", "runtime-signs", signing_key(), key_grant()),
    ok(
        "POG-AUDIT-003",
        "viewer-may-read",
        signing_key(),
        key_grant(),
        key_grant("group:oncall@example.com", "roles/cloudkms.publicKeyViewer"),
    ),
    bad(
        "POG-AUDIT-003",
        "someone-else-signs",
        signing_key(),
        key_grant(),
        key_grant("user:mallory@example.com"),
        expect="user:mallory@example.com holds roles/cloudkms.signer on the audit signing key",
    ),
]

# The budget rule's fixtures (rules_cost.py) live beside their builders; imported last (they use ok and bad).
from .cost_cases import COST_CASES  # noqa: E402

CASES += COST_CASES

# The capacity rules' fixtures (rules_capacity.py), beside their builders.
from .capacity_cases import CAPACITY_CASES  # noqa: E402

CASES += CAPACITY_CASES

# The API's request timeout against the live stream's lifetime (rules_gcp_serving.py, issue 20).
CASES += [
    ok("POG-RUN-006", "an-hour", run_service(template={"serviceAccount": SA, "timeout": "3600s"})),
    ok(
        "POG-RUN-006",
        "not-the-api",
        res(t.RUN_SERVICE, "pog-prod-worker", name="pog-prod-worker", template={"serviceAccount": SA}),
    ),
    bad("POG-RUN-006", "default-300s", run_service(), expect="template.timeout is 300s"),
    bad(
        "POG-RUN-006",
        "ten-minutes",
        run_service(template={"serviceAccount": SA, "timeout": "600s"}),
        expect="cut before 3600 s",
    ),
]

# The live boards' cache rules (rules_cloudflare.py POG-CF-009, issue 20), beside their builders.
from .edge_cache_cases import EDGE_CACHE_CASES  # noqa: E402

CASES += EDGE_CACHE_CASES

# The Realtime Database shards' ids (rules_gcp.py POG-RTDB-001, issue 20).
from .realtime_cases import REALTIME_CASES  # noqa: E402

CASES += REALTIME_CASES

# The analytics pipeline (rules_analytics.py POG-ANL-*, issue 21), beside their builders.
from .analytics_cases import ANALYTICS_CASES  # noqa: E402

CASES += ANALYTICS_CASES
