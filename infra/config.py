"""Typed stack configuration: the only module that reads ``pulumi.Config``.

Every key is validated before any resource is declared. All problems are reported at once,
each naming the key and the fix, so one ``pulumi preview`` shows everything to correct.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import pulumi

from infra.locations import FIRESTORE_LOCATIONS, GCP_REGIONS, firestore_spans
from infra.phases import ENVIRONMENTS, PHASES, Environment, profile_for

NAMESPACE = "pot-of-gold"
NAME_PREFIX = "pog"

SECRET_KEYS: tuple[str, ...] = (
    "cloudflareApiToken",
    "redisCloudApiKey",
    "redisCloudSecretKey",
    "pagerdutyServiceKey",
)
LIST_KEYS: tuple[str, ...] = ("failoverRegions", "alertEmails", "adminIpAllowlist")
PLAIN_KEYS: tuple[str, ...] = (
    "environment",
    "phase",
    "gcpProject",
    "region",
    "failoverRegions",
    "firestoreLocation",
    "backupRegion",
    "domain",
    "apiHostname",
    "cloudflareZoneId",
    "cloudflareAccountId",
    "alertEmails",
    "adminIpAllowlist",
    "appImage",
    "redisCloudPaymentMethodId",
    "ciWorkloadIdentityPool",
    "ciRepository",
)
# Cloud Armor's admin rule tests the path plus one subexpression per range, five at most.
MAX_ADMIN_RANGES = 4
REQUIRED_SECRETS: tuple[str, ...] = ("cloudflareApiToken", "redisCloudApiKey", "redisCloudSecretKey")

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_CLOUDFLARE_ID = re.compile(r"^[0-9a-f]{32}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,63}$")
#: Workload identity pools are global; principals name the pool by project *number*.
_WORKLOAD_IDENTITY_POOL = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/workloadIdentityPools/(?P<pool>[^/]+)"
    r"(?P<rest>/.*)?$"
)
_POOL_ID = re.compile(r"^[a-z0-9-]{4,32}$")
#: GitHub: owner 1-39 letters, digits or inner hyphens; repository name of letters, digits, ".", "_", "-".
_GITHUB_REPOSITORY = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?/[A-Za-z0-9._-]{1,100}(?<!\.git)$"
)
_IMAGE_BY_DIGEST = re.compile(
    r"^(?P<registry>[a-z0-9-]+-docker\.pkg\.dev)/(?P<project>[a-z][a-z0-9-]+)/(?P<repo>[a-z0-9-]+)"
    r"/(?P<name>[a-z0-9._/-]+)@sha256:(?P<digest>[0-9a-f]{64})$"
)


class ConfigError(pulumi.RunError):
    """Raised before any resource is declared; ``pulumi`` prints it without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"stack configuration has {len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class StackConfig:
    environment: Environment
    phase: int
    gcp_project: str
    region: str
    failover_regions: tuple[str, ...]
    firestore_location: str
    backup_region: str
    domain: str
    api_hostname: str
    cloudflare_zone_id: str
    cloudflare_account_id: str
    alert_emails: tuple[str, ...]
    admin_ip_allowlist: tuple[str, ...]
    app_image: str
    redis_payment_method_id: str
    cloudflare_api_token: pulumi.Input[str]
    redis_cloud_api_key: pulumi.Input[str]
    redis_cloud_secret_key: pulumi.Input[str]
    pagerduty_service_key: pulumi.Input[str] | None
    #: Full resource name of the CI's workload identity pool, and the GitHub repository (owner/name) whose
    #: workflows may act as the exporter account (.github/workflows/snapshot.yml); both or neither.
    ci_workload_identity_pool: str | None = None
    ci_repository: str | None = None

    @property
    def prefix(self) -> str:
        return f"{NAME_PREFIX}-{self.environment}"

    @property
    def api_regions(self) -> tuple[str, ...]:
        """The regions serving the API in this phase, primary first."""
        return (self.region, *self.failover_regions)

    @property
    def ci_principal_set(self) -> str | None:
        """Every workflow run of the CI repository, named through the pool's repository attribute."""
        if self.ci_workload_identity_pool is None or self.ci_repository is None:
            return None
        return repository_principal_set(self.ci_workload_identity_pool, self.ci_repository)

    @property
    def artifact_registry_location(self) -> str:
        match = _IMAGE_BY_DIGEST.match(self.app_image)
        assert match is not None  # validated in parse()
        return match["registry"].removesuffix("-docker.pkg.dev")


def key(name: str) -> str:
    return f"{NAMESPACE}:{name}"


def repository_principal_set(pool: str, repository: str) -> str:
    """The principal set of a GitHub repository's workflows (the provider maps attribute.repository)."""
    return f"principalSet://iam.googleapis.com/{pool}/attribute.repository/{repository}"


def _pool_problem(pool: str) -> str | None:
    """What is wrong with a workload identity pool's full resource name, with the fix; None if nothing."""
    name = key("ciWorkloadIdentityPool")
    example = "projects/123456789012/locations/global/workloadIdentityPools/github"
    match = _WORKLOAD_IDENTITY_POOL.match(pool)
    if match is None:
        return (
            f"{name} must be the pool's full resource name, e.g. {example}"
            " (`gcloud iam workload-identity-pools describe POOL --location global --format 'value(name)'`);"
            f" got {pool!r}"
        )
    if match["rest"]:
        return (
            f"{name} names the pool, not one of its providers: drop {match['rest']!r}"
            f" (GCP_WORKLOAD_IDENTITY_PROVIDER is the provider); got {pool!r}"
        )
    if not match["project"].isdigit():
        return (
            f"{name} must name the project by number, not id: `gcloud projects describe"
            f" {match['project']} --format 'value(projectNumber)'`; got {pool!r}"
        )
    if match["location"] != "global":
        return f"{name}: workload identity pools live in locations/global; got {pool!r}"
    if not _POOL_ID.match(match["pool"]):
        return f"{name}: the pool id must be 4-32 lowercase letters, digits or hyphens; got {pool!r}"
    return None


def _list(raw: str | None, name: str, problems: list[str]) -> tuple[str, ...]:
    if raw is None or raw == "":
        return ()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(
            f"{key(name)} must be a list of strings, e.g. `pulumi config set --path '{key(name)}[0]' VALUE`;"
            f" got {raw!r}"
        )
        return ()
    return tuple(value)


def parse(values: Mapping[str, str], secrets: Mapping[str, pulumi.Input[str]]) -> StackConfig:
    """Validate raw config strings (as ``pulumi config`` stores them) into a StackConfig.

    ``values`` holds the plain keys without namespace; ``secrets`` the secure ones that are set.
    """
    problems: list[str] = []

    def required(name: str, hint: str) -> str:
        value = values.get(name, "")
        if not value:
            problems.append(f"{key(name)} is required: `pulumi config set {key(name)} {hint}`")
        return value

    def check(name: str, ok: bool, fix: str) -> None:
        if values.get(name) and not ok:
            problems.append(f"{key(name)} {fix}; got {values[name]!r}")

    environment = required("environment", "dev")
    check("environment", environment in ENVIRONMENTS, "must be dev or prod")

    raw_phase = required("phase", "1")
    phase = int(raw_phase) if raw_phase.isdigit() else 0
    check("phase", phase in PHASES, "must be 1, 2 or 3")

    gcp_project = required("gcpProject", "my-game-dev")
    check(
        "gcpProject",
        bool(_PROJECT_ID.match(gcp_project)),
        "must be a GCP project id: 6-30 lowercase letters, digits or hyphens, starting with a letter",
    )

    def region_fix(name: str) -> str:
        return f"{key(name)}: unknown GCP region; use one of e.g. us-central1, europe-west1, asia-northeast1"

    region = required("region", "us-central1")
    if region and region not in GCP_REGIONS:
        problems.append(f"{region_fix('region')} (got {region!r})")

    failover_regions = _list(values.get("failoverRegions"), "failoverRegions", problems)
    for r in failover_regions:
        if r not in GCP_REGIONS:
            problems.append(f"{region_fix('failoverRegions')} (got {r!r})")
    if len(set(failover_regions) | {region}) != len(failover_regions) + 1:
        problems.append(
            f"{key('failoverRegions')} must list regions other than {key('region')}, each once;"
            f" got {list(failover_regions)} with region {region!r}"
        )
    if phase == 3 and len(failover_regions) < 2:
        problems.append(
            f"{key('failoverRegions')} needs 2 regions for phase 3 (the API runs in 3 regions);"
            f" got {len(failover_regions)}. Set e.g. `pulumi config set --path"
            f" '{key('failoverRegions')}[0]' europe-west1` and `[1]` asia-northeast1"
        )

    firestore_location = required("firestoreLocation", "nam5")
    check(
        "firestoreLocation",
        firestore_location in FIRESTORE_LOCATIONS,
        "must be a Firestore location id: nam5 or eur3 (multi-region) or a region such as us-central1",
    )

    backup_region = values.get("backupRegion", "") or region
    if backup_region and backup_region not in GCP_REGIONS:
        problems.append(f"{region_fix('backupRegion')} (got {backup_region!r})")
    outside_required = (
        environment in ENVIRONMENTS
        and phase in PHASES
        and (profile_for(environment, phase).backups_in_other_region)
    )
    if outside_required and firestore_location and backup_region in firestore_spans(firestore_location):
        problems.append(
            f"{key('backupRegion')} must be outside the Firestore location {firestore_location!r}"
            " from phase 2 (a regional outage must not take the exports with it); got {backup_region!r}."
            f" Set e.g. `pulumi config set {key('backupRegion')} europe-west1`"
        )

    if phase == 3 and backup_region in failover_regions[:2]:
        problems.append(
            f"{key('backupRegion')} must not be one of the API regions in phase 3 (each holds a regional"
            f" game database whose exports must survive its region); got {backup_region!r}."
            f" Pick another region for {key('failoverRegions')} or the backups"
        )

    domain = required("domain", "potofgold.example")
    check("domain", bool(_HOSTNAME.match(domain)), "must be a DNS zone apex such as potofgold.example")
    api_hostname = required("apiHostname", "api.potofgold.example")
    check(
        "apiHostname",
        bool(_HOSTNAME.match(api_hostname)) and api_hostname.endswith("." + domain),
        f"must be a hostname inside {key('domain')} ({domain!r}), e.g. api.{domain}",
    )

    zone_id = required("cloudflareZoneId", "<32-hex zone id from the Cloudflare dashboard>")
    check("cloudflareZoneId", bool(_CLOUDFLARE_ID.match(zone_id)), "must be 32 lowercase hex characters")
    account_id = required("cloudflareAccountId", "<32-hex account id from the Cloudflare dashboard>")
    check(
        "cloudflareAccountId", bool(_CLOUDFLARE_ID.match(account_id)), "must be 32 lowercase hex characters"
    )

    alert_emails = _list(values.get("alertEmails"), "alertEmails", problems)
    for email in alert_emails:
        if not _EMAIL.match(email):
            problems.append(f"{key('alertEmails')} has an invalid address {email!r}")
    if not alert_emails:
        problems.append(
            f"{key('alertEmails')} needs at least one address so alerts reach someone:"
            f" `pulumi config set --path '{key('alertEmails')}[0]' oncall@example.com`"
        )
    if environment == "prod" and "pagerdutyServiceKey" not in secrets:
        problems.append(
            f"{key('pagerdutyServiceKey')} is required in prod so alerts page on-call:"
            f" `pulumi config set --secret {key('pagerdutyServiceKey')} <integration key>`"
        )

    admin_ips = _list(values.get("adminIpAllowlist"), "adminIpAllowlist", problems)
    for cidr in admin_ips:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            problems.append(
                f"{key('adminIpAllowlist')} has {cidr!r}, which is not a CIDR such as 203.0.113.7/32"
            )
            continue
        if network.prefixlen == 0:
            problems.append(f"{key('adminIpAllowlist')} must not allow every address ({cidr!r})")
    if len(admin_ips) > MAX_ADMIN_RANGES:
        problems.append(
            f"{key('adminIpAllowlist')} may list at most {MAX_ADMIN_RANGES} ranges (a Cloud Armor expression"
            f" holds five subexpressions); got {len(admin_ips)}: merge them into wider ranges"
        )
    if not admin_ips:
        problems.append(
            f"{key('adminIpAllowlist')} needs at least one CIDR (admin paths are closed to everyone else):"
            f" `pulumi config set --path '{key('adminIpAllowlist')}[0]' 203.0.113.7/32`"
        )

    app_image = required("appImage", "us-central1-docker.pkg.dev/PROJECT/pot-of-gold/api@sha256:<digest>")
    check(
        "appImage",
        bool(_IMAGE_BY_DIGEST.match(app_image)),
        "must be an Artifact Registry image pinned by digest:"
        " REGION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE@sha256:<64 hex>",
    )

    payment_method = required("redisCloudPaymentMethodId", "<id from `Account settings > Payment methods`>")
    check("redisCloudPaymentMethodId", payment_method.isdigit(), "must be the numeric payment method id")

    ci_pool = values.get("ciWorkloadIdentityPool", "")
    ci_repository = values.get("ciRepository", "")
    if ci_pool and (pool_problem := _pool_problem(ci_pool)):
        problems.append(pool_problem)
    check(
        "ciRepository",
        bool(_GITHUB_REPOSITORY.match(ci_repository)),
        "must be the GitHub repository as owner/name, e.g. potofgold/platform (no URL, no .git)",
    )
    pool_hint = "projects/<number>/locations/global/workloadIdentityPools/<id>"
    for name, other, hint in (
        ("ciRepository", "ciWorkloadIdentityPool", "<owner>/<name>"),
        ("ciWorkloadIdentityPool", "ciRepository", pool_hint),
    ):
        if values.get(other) and not values.get(name):
            problems.append(
                f"{key(name)} is required with {key(other)} (together they let CI act as the exporter):"
                f" `pulumi config set {key(name)} {hint}`"
            )

    for name in REQUIRED_SECRETS:
        if name not in secrets and not values.get(name):
            problems.append(f"{key(name)} is required: `pulumi config set --secret {key(name)} <value>`")
    for name in SECRET_KEYS:
        if values.get(name):
            problems.append(
                f"{key(name)} is stored in plain text; remove it and set it with"
                f" `pulumi config set --secret {key(name)} <value>`"
            )

    unknown = sorted(set(values) - set(PLAIN_KEYS) - set(SECRET_KEYS))
    for name in unknown:
        problems.append(f"{key(name)} is not a known key (typo?); see the config reference in README.md")

    if problems:
        raise ConfigError(problems)

    return StackConfig(
        environment=cast(Environment, environment),
        phase=phase,
        gcp_project=gcp_project,
        region=region,
        failover_regions=failover_regions[:2] if phase == 3 else (),
        firestore_location=firestore_location,
        backup_region=backup_region,
        domain=domain,
        api_hostname=api_hostname,
        cloudflare_zone_id=zone_id,
        cloudflare_account_id=account_id,
        alert_emails=alert_emails,
        admin_ip_allowlist=admin_ips,
        app_image=app_image,
        redis_payment_method_id=payment_method,
        cloudflare_api_token=secrets["cloudflareApiToken"],
        redis_cloud_api_key=secrets["redisCloudApiKey"],
        redis_cloud_secret_key=secrets["redisCloudSecretKey"],
        pagerduty_service_key=secrets.get("pagerdutyServiceKey"),
        ci_workload_identity_pool=ci_pool or None,
        ci_repository=ci_repository or None,
    )


def load() -> StackConfig:
    """Read this stack's config through the Pulumi runtime and validate it."""
    from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

    config = pulumi.Config(NAMESPACE)
    prefix = NAMESPACE + ":"
    present = {k[len(prefix) :] for k in [*CONFIG.get(), *get_config_env()] if k.startswith(prefix)}
    secret_names = set(SECRET_KEYS)
    # Unknown keys and secrets stored in plain text reach parse() as plain values so it can name them.
    # Empty strings are schema defaults (backupRegion, pagerdutyServiceKey): parse() treats them as unset.
    values = {
        name: config.get(name) or ""
        for name in present
        if name not in secret_names or not is_config_secret(prefix + name)
    }
    secrets: dict[str, pulumi.Input[str]] = {
        name: secret
        for name in SECRET_KEYS
        if is_config_secret(prefix + name) and (secret := config.get_secret(name)) is not None
    }
    return parse(values, secrets)
