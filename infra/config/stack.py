"""The validated stack configuration the components read, and how config keys are named."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

from infra.phases import Environment

NAMESPACE = "pot-of-gold"
NAME_PREFIX = "pog"

IMAGE_BY_DIGEST = re.compile(
    r"^(?P<registry>[a-z0-9-]+-docker\.pkg\.dev)/(?P<project>[a-z][a-z0-9-]+)/(?P<repo>[a-z0-9-]+)"
    r"/(?P<name>[a-z0-9._/-]+)@sha256:(?P<digest>[0-9a-f]{64})$"
)


def key(name: str) -> str:
    """A key as written in Pulumi.<stack>.yaml: ``pot-of-gold:backupRegion``."""
    return f"{NAMESPACE}:{name}"


def repository_principal_set(pool: str, repository: str) -> str:
    """The principal set of a GitHub repository's workflows (the provider maps attribute.repository)."""
    return f"principalSet://iam.googleapis.com/{pool}/attribute.repository/{repository}"


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
    #: The Cloud Billing account paying for gcp_project (the budget is declared on it).
    billing_account: str
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
        match = IMAGE_BY_DIGEST.match(self.app_image)
        assert match is not None  # validated by the appImage key
        return match["registry"].removesuffix("-docker.pkg.dev")
