"""Fixtures of the deploy-contract rules (POG-CTR-*): small stacks built from contract/backend.yaml, each
failing case the passing one with one piece taken away or changed."""

from __future__ import annotations

from typing import Any

import contract
from infra.policy import tokens as t
from infra.policy.model import Resource
from infra.policy.rules_contract import (
    API_SERVICE,
    CUSTOM_ROLE,
    JOB_INVOKER,
    PROJECT_IAM_MEMBER,
    RUN_JOB,
)

from .cases import Case, bad, ok
from .helpers import res

BACKEND = contract.load()
PROJECT = "pot-of-gold-prod"
PREFIX = "pog-prod"
SA = f"pog-prod-api@{PROJECT}.iam.gserviceaccount.com"
REGIONS = ("us-central1", "us-east4", "europe-west4")


def rtdb_url(shard: int) -> str:
    instance = f"{PROJECT}-default-rtdb" if shard == 0 else f"{PROJECT}-rtdb-{shard}"
    return f"https://{instance}.firebaseio.com"


def rtdb_urls(shards: int) -> str:
    return ",".join(rtdb_url(shard) for shard in range(shards))


#: Plain settings whose value a rule reads; every other plain setting is "x".
PLAIN_VALUES = {"POG_REDIS_CLUSTER": "true", "POG_REALTIME_DATABASE_URLS": rtdb_urls(1)}


def secret_name(env_var: str, region: str | None = None) -> str:
    slug = f"{PREFIX}-{env_var.removeprefix('POG_').lower().replace('_', '-')}"
    return slug if region is None else f"{slug}-{region}"


def envs(
    environment: str = "prod", phase: int = 1, region: str = "us-central1", **overrides: Any
) -> list[dict[str, Any]]:
    """Every setting the contract requires here: secrets by reference, the rest as plain values.
    ``overrides``: a value to use instead (a dict is used as the whole entry), or None to leave it out."""
    entries = []
    for setting in BACKEND.settings_in(environment, phase):
        override = overrides.get(setting.name, ...)
        if override is None:
            continue
        if isinstance(override, dict):
            entries.append({"name": setting.name, **override})
        elif override is not ...:
            entries.append({"name": setting.name, "value": override})
        elif setting.secret:
            ref = {"secret": secret_name(setting.name), "version": "latest"}
            entries.append({"name": setting.name, "valueSource": {"secretKeyRef": ref}})
        else:
            entries.append({"name": setting.name, "value": PLAIN_VALUES.get(setting.name, "x")})
    required = {s.name for s in BACKEND.settings_in(environment, phase)}
    entries += [{"name": n, **o} for n, o in overrides.items() if n not in required and isinstance(o, dict)]
    return entries


def service(region: str = "us-central1", phase: int = 1, **env_overrides: Any) -> Resource:
    env_list = envs(phase=phase, region=region, **env_overrides)
    return process(t.RUN_SERVICE, f"{PREFIX}-api-{region}", region, env_list)


def process(type_: str, name: str, region: str, env_list: list[dict[str, Any]], **props: Any) -> Resource:
    container = {"name": "api", "envs": env_list, **props.pop("container", {})}
    template = {"serviceAccount": SA, "containers": [container]}
    if type_ == RUN_JOB:
        template = {"template": {**template, "timeout": props.pop("timeout")}}
    return res(type_, name, name=name, location=region, template=template, **props)


def secrets(*names: str) -> tuple[Resource, ...]:
    names = names or tuple(secret_name(s) for s in BACKEND.secrets)
    return tuple(res(t.SECRET, f"secret-{n}", secretId=n) for n in names)


def run_job(job: contract.Job, region: str = "us-central1", **overrides: Any) -> Resource:
    name = f"{PREFIX}-{job.name}-{region}"
    container = {"commands": ["python", "-m", "app.ops"], "args": list(job.args)}
    return process(
        RUN_JOB,
        name,
        region,
        envs(region=region),
        container=container,
        timeout=overrides.get("timeout", job.timeout),
    )


def scheduler(job: contract.Job, region: str = "us-central1", schedule: str | None = None) -> Resource:
    target = f"https://run.googleapis.com/v2/projects/{PROJECT}/locations/{region}/jobs/{PREFIX}-{job.name}-{region}:run"
    return res(
        t.SCHEDULER_JOB,
        f"{PREFIX}-{job.name}-{region}-schedule",
        schedule=schedule or job.schedule_in(0),
        httpTarget={"uri": target, "oauthToken": {"serviceAccountEmail": SA}},
    )


def invoker(job: contract.Job, region: str = "us-central1") -> Resource:
    name = f"{PREFIX}-{job.name}-{region}"
    return res(
        JOB_INVOKER, f"{name}-invoker", name=name, role="roles/run.invoker", member=f"serviceAccount:{SA}"
    )


def all_jobs(
    region: str = "us-central1", *, leave_out: str = "", unscheduled: str = "", uninvoked: str = ""
) -> tuple[Resource, ...]:
    found: list[Resource] = []
    for job in BACKEND.jobs:
        if job.name == leave_out:
            continue
        found.append(run_job(job, region))
        if job.schedule is not None and job.name != unscheduled:
            found.append(scheduler(job, region))
            if job.name != uninvoked:
                found.append(invoker(job, region))
    return tuple(found)


def apis(*leave_out: str) -> tuple[Resource, ...]:
    return tuple(res(API_SERVICE, f"api-{a}", service=a) for a in BACKEND.google_apis if a not in leave_out)


def grants(*leave_out: str, permissions: tuple[str, ...] | None = None) -> tuple[Resource, ...]:
    found = [
        res(
            CUSTOM_ROLE,
            f"role-{role_id}",
            project=PROJECT,
            roleId=role_id,
            permissions=list(permissions or role.permissions),
        )
        for role_id, role in BACKEND.custom_roles.items()
    ]
    for role in BACKEND.roles["api"]:
        if role in leave_out:
            continue
        name = role if role.startswith("roles/") else contract.custom_role_name(PROJECT, role)
        found.append(res(PROJECT_IAM_MEMBER, f"grant-{role}", role=name, member=f"serviceAccount:{SA}"))
    return tuple(found)


def consumed(*extra: Resource) -> tuple[Resource, ...]:
    buckets = tuple(res(t.BUCKET, f"b-{s}", name=f"{PREFIX}-{s}") for s in BACKEND.consumers["buckets"])
    return (
        *buckets,
        res(t.PUBSUB_TOPIC, "topic", name=f"{PREFIX}-secret-rotation"),
        res(t.RTDB_INSTANCE, "rtdb", instanceId=f"{PROJECT}-default-rtdb"),
        res(t.FIRESTORE_DATABASE, "db-default", name="(default)"),
        *extra,
    )


def rtdb_shards(count: int) -> tuple[Resource, ...]:
    """The shards after the default instance (consumed() declares shard 0)."""
    return tuple(
        res(t.RTDB_INSTANCE, f"rtdb-{shard}", instanceId=f"{PROJECT}-rtdb-{shard}")
        for shard in range(1, count)
    )


def redis(topology: str) -> Resource:
    if topology == "active_active":
        return res(t.REDIS_AA_DATABASE, "redis-aa-db")
    return res(t.REDIS_DATABASE, "redis-db", supportOssClusterApi=topology == "clustered")


def url_version(secret: str) -> Resource:
    return res(
        "gcp:secretmanager/secretVersion:SecretVersion", f"version-{secret}", secret=f"secret-{secret}-id"
    )


def regional_services(*, shared: bool = False) -> tuple[Resource, ...]:
    """Phase 3: a service per region, each reading its own POG_REDIS_URL secret (or all the primary's)."""
    found: list[Resource] = []
    for index, region in enumerate(REGIONS):
        own = secret_name("POG_REDIS_URL", None if index == 0 or shared else region)
        ref = {"valueSource": {"secretKeyRef": {"secret": own, "version": "latest"}}}
        found.append(
            process(
                t.RUN_SERVICE,
                f"{PREFIX}-api-{region}",
                region,
                envs(phase=3, region=region, POG_REDIS_URL=ref),
            )
        )
        if not shared or index == 0:
            found += [*secrets(own), url_version(own)]
    return tuple(found)


REWARDS = BACKEND.job("leaderboards-rewards")

CONTRACT_CASES: list[Case] = [
    ok("POG-CTR-001", "prod-every-setting", service(), *secrets()),
    ok("POG-CTR-001", "dev-needs-no-sentry", service(POG_SENTRY_DSN=None), *secrets(), environment="dev"),
    bad(
        "POG-CTR-001",
        "prod-without-stripe-key",
        service(POG_STRIPE_API_KEY=None),
        *secrets(),
        expect="lacks POG_STRIPE_API_KEY",
    ),
    bad(
        "POG-CTR-001",
        "secret-as-plain-value",
        service(POG_SENTRY_DSN="https://k@sentry"),
        *secrets(),
        expect="plain value",
    ),
    bad(
        "POG-CTR-001",
        "secret-not-declared",
        service(),
        *secrets(*(secret_name(s) for s in BACKEND.secrets if s != "POG_REDIS_URL")),
        expect="which the stack does not declare",
    ),
    bad(
        "POG-CTR-001",
        "phase-2-without-cluster-flag",
        service(phase=2, POG_REDIS_CLUSTER=None),
        *secrets(),
        phase=2,
        expect="lacks POG_REDIS_CLUSTER",
    ),
    ok("POG-CTR-007", "only-settings-the-backend-reads", service()),
    bad(
        "POG-CTR-007",
        "a-setting-nothing-reads",
        service(POG_REGION={"value": "us-central1"}),
        expect="passes POG_REGION, which the backend does not read",
    ),
    ok("POG-CTR-002", "every-job-scheduled", service(), *all_jobs()),
    bad(
        "POG-CTR-002",
        "no-rewards-job",
        service(),
        *all_jobs(leave_out=REWARDS.name),
        expect="no Cloud Run job runs",
    ),
    bad(
        "POG-CTR-002",
        "rewards-never-scheduled",
        service(),
        *all_jobs(unscheduled=REWARDS.name),
        expect="no Cloud Scheduler job starts",
    ),
    bad(
        "POG-CTR-002",
        "scheduler-may-not-run-it",
        service(),
        *all_jobs(uninvoked=REWARDS.name),
        expect="may not run pog-prod-leaderboards-rewards-us-central1",
    ),
    bad(
        "POG-CTR-002",
        "wrong-schedule",
        service(),
        *all_jobs(unscheduled=REWARDS.name),
        scheduler(REWARDS, schedule="0 12 * * *"),
        invoker(REWARDS),
        expect="the contract says ['5 0 * * *']",
    ),
    bad(
        "POG-CTR-002",
        "wrong-timeout",
        service(),
        *all_jobs(leave_out=REWARDS.name),
        run_job(REWARDS, timeout="60s"),
        scheduler(REWARDS),
        invoker(REWARDS),
        expect="timeout 60s",
    ),
    ok("POG-CTR-003", "every-api", service(), *apis()),
    bad(
        "POG-CTR-003",
        "no-fcm",
        service(),
        *apis("fcm.googleapis.com"),
        expect="fcm.googleapis.com is not enabled",
    ),
    ok("POG-CTR-004", "every-role", service(), *grants()),
    bad(
        "POG-CTR-004",
        "cannot-push",
        service(),
        *grants("fcmSender"),
        expect="lacks projects/pot-of-gold-prod/roles/fcmSender",
    ),
    bad(
        "POG-CTR-004",
        "custom-role-too-wide",
        service(),
        *grants(
            permissions=(
                "cloudmessaging.messages.create",
                "cloudmessaging.topicSubscriptions.delete",
                "resourcemanager.projects.list",
            )
        ),
        expect="the contract says",
    ),
    ok("POG-CTR-005", "every-resource-consumed", service(), *consumed()),
    ok(
        "POG-CTR-005",
        "games-database-read",
        service(POG_GAMES_DATABASE="game-sessions"),
        *consumed(res(t.FIRESTORE_DATABASE, "db-games", name="game-sessions")),
    ),
    bad(
        "POG-CTR-005",
        "bucket-nobody-reads",
        service(),
        *consumed(res(t.BUCKET, "b-scratch", name=f"{PREFIX}-scratch")),
        expect="bucket pog-prod-scratch has no consumer",
    ),
    ok(
        "POG-CTR-005",
        "every-realtime-shard-read",
        service(POG_REALTIME_DATABASE_URLS=rtdb_urls(3)),
        service("us-east4", POG_REALTIME_DATABASE_URLS=rtdb_urls(3)),
        *consumed(*rtdb_shards(3)),
    ),
    bad(
        "POG-CTR-005",
        "realtime-shard-nobody-reads",
        service(POG_REALTIME_DATABASE_URLS=rtdb_urls(2)),
        *consumed(*rtdb_shards(3)),
        expect=f"Realtime Database instance {PROJECT}-rtdb-2 is in no process's POG_REALTIME_DATABASE_URLS",
    ),
    bad(
        "POG-CTR-005",
        "realtime-shards-in-another-order",
        service(POG_REALTIME_DATABASE_URLS=rtdb_urls(3)),
        service("us-east4", POG_REALTIME_DATABASE_URLS=",".join(rtdb_url(s) for s in (0, 2, 1))),
        *consumed(*rtdb_shards(3)),
        expect="processes disagree on POG_REALTIME_DATABASE_URLS",
    ),
    bad(
        "POG-CTR-005",
        "realtime-instance-not-a-shard",
        service(),
        *consumed(res(t.RTDB_INSTANCE, "rtdb-scratch", instanceId=f"{PROJECT}-scratch")),
        violations=2,  # no consumer in the contract, and no process reads it
        expect=f"Realtime Database instance {PROJECT}-scratch has no consumer",
    ),
    bad(
        "POG-CTR-005",
        "database-nobody-reads",
        service(),
        *consumed(res(t.FIRESTORE_DATABASE, "db-games", name="game-sessions")),
        expect="database game-sessions is read by no process",
    ),
    ok(
        "POG-CTR-006",
        "replicated-single-client",
        service(),
        redis("replicated"),
        *secrets(),
        url_version(secret_name("POG_REDIS_URL")),
    ),
    ok(
        "POG-CTR-006",
        "clustered-cluster-client",
        service(phase=2),
        redis("clustered"),
        *secrets(),
        url_version(secret_name("POG_REDIS_URL")),
        phase=2,
    ),
    bad(
        "POG-CTR-006",
        "clustered-single-client",
        service(),
        redis("clustered"),
        *secrets(),
        url_version(secret_name("POG_REDIS_URL")),
        phase=2,
        expect="a single-node client against clustered Redis",
    ),
    ok("POG-CTR-006", "active-active-regional", *regional_services(), redis("active_active"), phase=3),
    bad(
        "POG-CTR-006",
        "active-active-one-endpoint",
        *regional_services(shared=True),
        redis("active_active"),
        phase=3,
        violations=3,
        expect="which other regions read too",
    ),
    bad(
        "POG-CTR-006",
        "url-never-written",
        service(),
        redis("replicated"),
        *secrets(),
        expect="has no version",
    ),
]
