"""The deploy contract (contract/backend.yaml) against the plan: what the backend needs, the stack provides.

Each rule reads the contract for this environment and phase and finds, in the plan, the piece that
provides each need: a setting on every process, a Cloud Run job and its schedule, an enabled API, a
project role, a consumer for every data resource, and the Redis client the provisioned topology needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import contract

from . import tokens as t
from .model import Finding, Resource, RuleContext, RuleSet, Severity, StackView
from .values import as_list, get, iam_grants, is_known, refers_to

rules = RuleSet()

RUN_JOB = "gcp:cloudrunv2/job:Job"
JOB_INVOKER = "gcp:cloudrunv2/jobIamMember:JobIamMember"
API_SERVICE = "gcp:projects/service:Service"
PROJECT_IAM_MEMBER = "gcp:projects/iAMMember:IAMMember"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
APP_CONTAINER = "api"  # the service's app container (infra/stacks/compute/service.py API_CONTAINER)
#: The Realtime Database shards every process writes to, in shard order (comma-separated URLs).
REALTIME_URLS = "POG_REALTIME_DATABASE_URLS"
OPS_COMMAND = ["python", "-m", "app.ops"]
CONTRACT = "contract/backend.yaml"
#: `consumers` kinds of the contract -> (type, the input holding the name, what to call one)
CONSUMED_KINDS = {
    "buckets": (t.BUCKET, "name", "bucket"),
    "topics": (t.PUBSUB_TOPIC, "name", "Pub/Sub topic"),
    "realtime_databases": (t.RTDB_INSTANCE, "instanceId", "Realtime Database instance"),
    "datasets": (t.BIGQUERY_DATASET, "datasetId", "BigQuery dataset"),
}


@dataclass(frozen=True)
class Process:
    """A Cloud Run service or job running the app, with the environment its app container receives."""

    resource: Resource
    region: str
    envs: Mapping[str, Any]  # name -> {"value": ...} or {"valueSource": ...}
    account: str | None

    @property
    def label(self) -> str:
        kind = "service" if self.resource.type == t.RUN_SERVICE else "job"
        return f"{kind} {self.resource.props.get('name', self.resource.name)}"

    def secret_of(self, name: str) -> str | None:
        ref = get(self.envs.get(name) or {}, "valueSource.secretKeyRef.secret")
        return ref if isinstance(ref, str) else None

    def value_of(self, name: str) -> Any:
        return (self.envs.get(name) or {}).get("value")


def processes(stack: StackView) -> list[Process]:
    """Every Cloud Run service and job of the stack, with its app container's environment."""
    found = []
    for resource in stack.of_type(t.RUN_SERVICE, RUN_JOB):
        template = get(resource.props, "template") or {}
        if resource.type == RUN_JOB:
            template = get(template, "template") or {}
        containers = [c for c in as_list(get(template, "containers")) if isinstance(c, Mapping)]
        if resource.type == t.RUN_SERVICE:
            containers = [c for c in containers if c.get("name") == APP_CONTAINER] or containers[:1]
        envs = {
            str(env["name"]): env
            for container in containers
            for env in as_list(container.get("envs"))
            if isinstance(env, Mapping) and isinstance(env.get("name"), str)
        }
        account = get(template, "serviceAccount")
        found.append(
            Process(
                resource,
                str(resource.props.get("location", "")),
                envs,
                account if is_known(account) else None,
            )
        )
    return found


def api_regions(stack: StackView) -> tuple[str, ...]:
    """The regions the API's services run in (the inventory does not say which one is primary)."""
    return tuple(sorted({str(s.props.get("location")) for s in stack.of_type(t.RUN_SERVICE)}))


# --- settings -----------------------------------------------------------------------------------------


@rules.stack(
    "POG-CTR-001",
    Severity.HIGH,
    "Every setting the backend requires in this environment and phase reaches every process",
    f"Pass the setting to the API service and the jobs (infra/stacks/compute/settings.py env_values;"
    f" secrets are created from {CONTRACT} by infra/stacks/foundation.py), or narrow the setting's"
    f" `required` in {CONTRACT} if the app does not need it here.",
)
def settings_provided(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    declared_secrets = {str(s.props.get("secretId")) for s in stack.of_type(t.SECRET)}
    for process in processes(stack):
        for setting in contract.load().settings_in(ctx.environment, ctx.phase):
            env = process.envs.get(setting.name)
            if env is None:
                yield Finding(
                    f"{process.label} lacks {setting.name} ({setting.why}), which the backend needs in"
                    f" {ctx.environment} phase {ctx.phase}",
                    process.resource.key,
                )
                continue
            secret = process.secret_of(setting.name)
            if setting.secret and secret is None:
                yield Finding(
                    f"{process.label} sets {setting.name} as a plain value: it is a secret, read it from"
                    " Secret Manager (valueSource.secretKeyRef)",
                    process.resource.key,
                )
            elif secret is not None and is_known(secret) and secret not in declared_secrets:
                yield Finding(
                    f"{process.label} reads {setting.name} from secret {secret}, which the stack does not"
                    " declare: the revision would not start",
                    process.resource.key,
                )


@rules.stack(
    "POG-CTR-007",
    Severity.MEDIUM,
    "Every POG_* setting the stack passes is one the backend reads",
    f"Stop passing it (infra/__main__.py plain_env, infra/stacks/compute/settings.py plain_env_for), or"
    f" list it under `settings` in {CONTRACT} with what the app uses it for.",
)
def settings_read(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    known = contract.load().settings
    for process in processes(stack):
        for name in sorted(n for n in process.envs if n.startswith("POG_") and n not in known):
            yield Finding(
                f"{process.label} passes {name}, which the backend does not read", process.resource.key
            )


# --- jobs and schedules -------------------------------------------------------------------------------


@rules.stack(
    "POG-CTR-002",
    Severity.HIGH,
    "Every job of the backend has its Cloud Run job in each of its regions, and its schedule",
    f"Declare the job from {CONTRACT} (infra/stacks/compute/schedules.py contract_job builds the Cloud Run"
    " job, the run.invoker grant and the Cloud Scheduler job of every entry).",
)
def jobs_and_schedules(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    regions = api_regions(stack)
    if not regions:
        return
    run_jobs = stack.of_type(RUN_JOB)
    schedulers = stack.of_type(t.SCHEDULER_JOB)
    invokers = stack.of_type(JOB_INVOKER)
    for job in contract.load().jobs:
        found = {region: _run_job(run_jobs, job, region) for region in regions}
        present = {region: resource for region, resource in found.items() if resource is not None}
        # The inventory does not say which region is primary: a primary-only job must be in one of them.
        missing = sorted(set(found) - set(present)) if job.regions == "every" or not present else []
        for region in missing:
            yield Finding(
                f"job {job.name} in {region}: no Cloud Run job runs `python -m app.ops {' '.join(job.args)}`"
                " there"
            )
        for region, resource in sorted(present.items()):
            timeout = get(resource.props, "template.template.timeout")
            if is_known(timeout) and timeout != job.timeout:
                yield Finding(
                    f"job {job.name} in {region}: timeout {timeout}, the contract says {job.timeout}",
                    resource.key,
                )
        if job.schedule is not None and present:
            yield from _schedule_findings(job, present, schedulers, invokers)


def _run_job(run_jobs: list[Resource], job: contract.Job, region: str) -> Resource | None:
    for candidate in run_jobs:
        if candidate.props.get("location") != region:
            continue
        for container in as_list(get(candidate.props, "template.template.containers")):
            if (
                isinstance(container, Mapping)
                and as_list(container.get("commands")) == OPS_COMMAND
                and as_list(container.get("args")) == list(job.args)
            ):
                return candidate
    return None


def _schedule_findings(
    job: contract.Job,
    run_jobs: Mapping[str, Resource],
    schedulers: list[Resource],
    invokers: list[Resource],
) -> Iterator[Finding]:
    """Each region's job is started by a scheduler allowed to run it; together they keep the schedule
    (staggered per region: the set of schedules, since the inventory does not order the regions)."""
    scheduled: list[str] = []
    for region, run_job in sorted(run_jobs.items()):
        job_name = str(run_job.props.get("name", run_job.name))
        target = f"/locations/{region}/jobs/{job_name}:run"
        scheduler = next(
            (s for s in schedulers if str(get(s.props, "httpTarget.uri", "")).endswith(target)), None
        )
        where = f"job {job.name} in {region}"
        if scheduler is None:
            yield Finding(
                f"{where}: no Cloud Scheduler job starts {job_name} (contract schedule {job.schedule!r})",
                run_job.key,
            )
            continue
        scheduled.append(str(scheduler.props.get("schedule")))
        caller = get(scheduler.props, "httpTarget.oauthToken.serviceAccountEmail")
        allowed = any(
            i.props.get("name") == job_name
            and i.props.get("role") == "roles/run.invoker"
            and i.props.get("member") == f"serviceAccount:{caller}"
            for i in invokers
        )
        if is_known(caller) and not allowed:
            yield Finding(
                f"{where}: the scheduler's account {caller} may not run {job_name} (no roles/run.invoker on"
                " the job)",
                scheduler.key,
            )
    expected = sorted(str(job.schedule_in(i)) for i in range(len(run_jobs)))
    if len(scheduled) == len(run_jobs) and sorted(scheduled) != expected:
        yield Finding(f"job {job.name} is scheduled {sorted(scheduled)}; the contract says {expected}")


# --- Google APIs and roles ----------------------------------------------------------------------------


@rules.stack(
    "POG-CTR-003",
    Severity.HIGH,
    "Every Google API the backend's clients call is enabled",
    f"Enable the API (infra/stacks/foundation.py enables every google_apis entry of {CONTRACT}).",
)
def apis_enabled(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    if not stack.of_type(t.RUN_SERVICE):
        return
    enabled = {s.props.get("service") for s in stack.of_type(API_SERVICE)}
    for api, caller in contract.load().google_apis.items():
        if api not in enabled:
            yield Finding(f"{api} is not enabled; {caller} would be refused")


@rules.stack(
    "POG-CTR-004",
    Severity.HIGH,
    "The backend's service account holds every project role the contract gives it, custom roles as declared",
    f"Grant the role to the account the API and jobs run as (infra/stacks/foundation.py _contract_roles"
    f" reads service_accounts and custom_roles of {CONTRACT}).",
)
def roles_granted(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    backend = contract.load()
    accounts = {p.account for p in processes(stack) if p.account}
    granted = {grant for m in stack.of_type(PROJECT_IAM_MEMBER) for grant in iam_grants(m.props)}
    custom = {str(r.props.get("roleId")): r for r in stack.of_type(CUSTOM_ROLE)}
    for role_id, spec in backend.custom_roles.items():
        declared = custom.get(role_id)
        if declared is None:
            yield Finding(f"custom role {role_id} ({spec.title}) is not declared")
        elif sorted(as_list(declared.props.get("permissions"))) != sorted(spec.permissions):
            yield Finding(
                f"custom role {role_id} grants {sorted(as_list(declared.props.get('permissions')))};"
                f" the contract says {sorted(spec.permissions)}",
                declared.key,
            )
    for account in sorted(accounts):
        for role, why in backend.roles.get("api", {}).items():
            declared = custom.get(role)
            name = (
                role if declared is None else contract.custom_role_name(str(declared.props["project"]), role)
            )
            if (name, f"serviceAccount:{account}") not in granted:
                yield Finding(f"{account} lacks {name} ({why})")


# --- consumers ----------------------------------------------------------------------------------------


def consumer_matches(physical: str, suffix: str) -> bool:
    """A resource's name ends with ``-<suffix>``, where ``{n}`` in the suffix stands for a shard's number."""
    if "{n}" not in suffix:
        return physical.endswith(f"-{suffix}")
    pattern = re.escape(f"-{suffix}").replace(re.escape("{n}"), r"\d+")
    return re.search(f"{pattern}$", physical) is not None


def _realtime_hosts(value: str) -> list[str]:
    """The instance ids of a POG_REALTIME_DATABASE_URLS value, in shard order (a URL's first host label)."""
    return [url.strip().removeprefix("https://").split(".", 1)[0] for url in value.split(",") if url.strip()]


def _realtime_shards_read(stack: StackView) -> Iterator[Finding]:
    """Every Realtime Database instance is a shard every process reads, and the processes agree on the
    shards' order: a player's shard is shard_for(uid, len(urls)), so two lists would split the players."""
    lists = {
        process.label: process.value_of(REALTIME_URLS)
        for process in processes(stack)
        if isinstance(process.value_of(REALTIME_URLS), str) and is_known(process.value_of(REALTIME_URLS))
    }
    distinct = sorted(set(lists.values()))
    if len(distinct) > 1:
        first = next(label for label, value in sorted(lists.items()) if value != distinct[0])
        yield Finding(
            f"processes disagree on {REALTIME_URLS}: {first} reads {lists[first]!r}, others"
            f" {distinct[0]!r}; every process must list the same shards in the same order"
        )
    read = {host for value in lists.values() for host in _realtime_hosts(value)}
    for instance in stack.of_type(t.RTDB_INSTANCE):
        instance_id = instance.props.get("instanceId")
        if lists and is_known(instance_id) and instance_id not in read:
            yield Finding(
                f"Realtime Database instance {instance_id} is in no process's {REALTIME_URLS}: the"
                " players hashed to it would have no server writes and no rules",
                instance.key,
            )


@rules.stack(
    "POG-CTR-005",
    Severity.MEDIUM,
    "Every provisioned data resource has a consumer in the backend or a stated reason",
    f"Point a process at it (POG_GAMES_DATABASE / POG_ALL_GAMES_DATABASES for databases, {REALTIME_URLS}"
    f" for Realtime Database shards), list its consumer under `consumers` in {CONTRACT}, or stop"
    " provisioning it.",
)
def data_resources_consumed(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    read: set[str] = {"(default)"}
    for process in processes(stack):
        for name in ("POG_GAMES_DATABASE", "POG_ALL_GAMES_DATABASES"):
            value = process.value_of(name)
            if isinstance(value, str) and is_known(value):
                read.update(json.loads(value) if value.startswith("[") else value.split(","))
    for database in stack.of_type(t.FIRESTORE_DATABASE):
        database_id = database.props.get("name")
        if is_known(database_id) and database_id not in read:
            yield Finding(
                f"Firestore database {database_id} is read by no process of the backend", database.key
            )
    consumers = contract.load().consumers
    for kind, (type_, key, label) in CONSUMED_KINDS.items():
        for resource in stack.of_type(type_):
            physical = resource.props.get(key)
            # BigQuery ids take underscores where the other names take dashes (pog_prod_analytics).
            if is_known(physical) and not any(
                consumer_matches(str(physical).replace("_", "-"), suffix)
                for suffix in consumers.get(kind, {})
            ):
                yield Finding(
                    f"{label} {physical} has no consumer in the backend and no stated reason", resource.key
                )
    yield from _realtime_shards_read(stack)


# --- Redis topology -----------------------------------------------------------------------------------


def redis_topology(stack: StackView) -> str | None:
    """What the plan provisions: active_active, clustered (OSS Cluster API) or replicated."""
    if stack.of_type(t.REDIS_AA_DATABASE):
        return "active_active"
    databases = stack.of_type(t.REDIS_DATABASE)
    if not databases:
        return None
    clustered = any(d.props.get("supportOssClusterApi") in (True, "true") for d in databases)
    return "clustered" if clustered else "replicated"


@rules.stack(
    "POG-CTR-006",
    Severity.HIGH,
    "The Redis client each process is configured for matches the provisioned topology",
    f"Set POG_REDIS_CLUSTER=true exactly where the OSS Cluster API is provisioned, and give each phase-3"
    f" region its own POG_REDIS_URL secret with a version (`redis` in {CONTRACT};"
    " infra/stacks/foundation.py regional_secrets, infra/stacks/cache.py).",
)
def redis_client_matches(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    topology = redis_topology(stack)
    if topology is None:
        return
    expected = contract.load().redis[topology]
    secrets_by_region: dict[str, set[str]] = {}
    for process in processes(stack):
        cluster = process.value_of("POG_REDIS_CLUSTER") in ("true", "1")
        if cluster != (expected.client == "cluster"):
            client = "the cluster client" if cluster else "a single-node client"
            yield Finding(
                f"{process.label} uses {client} against {topology} Redis, which needs the"
                f" {expected.client} client",
                process.resource.key,
            )
        secret = process.secret_of("POG_REDIS_URL")
        if secret is not None:
            secrets_by_region.setdefault(process.region, set()).add(secret)
    yield from _redis_urls(stack, topology, expected.url, secrets_by_region)


def _redis_urls(
    stack: StackView, topology: str, url: str, secrets_by_region: Mapping[str, set[str]]
) -> Iterator[Finding]:
    all_secrets = set().union(*secrets_by_region.values()) if secrets_by_region else set()
    if url == "regional":
        for region, names in sorted(secrets_by_region.items()):
            shared = sorted(names & set().union(*(n for r, n in secrets_by_region.items() if r != region)))
            if shared:
                yield Finding(
                    f"{region} reads POG_REDIS_URL from {shared}, which other regions read too: with"
                    f" {topology} Redis each region must reach its own endpoint"
                )
    elif len(all_secrets) > 1:
        yield Finding(
            f"processes read POG_REDIS_URL from {sorted(all_secrets)}; {topology} Redis has one URL"
        )
    secrets = {str(s.props.get("secretId")): s for s in stack.of_type(t.SECRET)}
    versions = stack.of_type(SECRET_VERSION)
    for name in sorted(all_secrets):
        secret = secrets.get(name)
        if secret is not None and not any(refers_to(v.props.get("secret"), secret) for v in versions):
            yield Finding(
                f"secret {name} (POG_REDIS_URL) has no version: nothing writes the endpoint", secret.key
            )
