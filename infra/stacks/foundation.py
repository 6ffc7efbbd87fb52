"""Foundation: APIs, workload service accounts, KMS, Secret Manager, Artifact Registry, network."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile

# Secret Manager secrets the app reads, keyed by the environment variable Cloud Run maps them to.
APP_SECRETS: tuple[str, ...] = (
    "POG_STRIPE_API_KEY",
    "POG_STRIPE_WEBHOOK_SECRET",
    "POG_REVENUECAT_API_KEY",
    "POG_REVENUECAT_WEBHOOK_AUTH",
    "POG_SENTRY_DSN",
    "POG_REDIS_URL",  # version written by the cache layer, write-only
)


@dataclass
class FoundationArgs:
    prefix: str
    project: str
    primary_region: str
    api_regions: tuple[str, ...]
    profile: PhaseProfile


class Foundation(pulumi.ComponentResource):
    """Public attributes other layers use:

    apis: dict[str, gcp.projects.Service]          keyed by service name, e.g. "run.googleapis.com"
    service_accounts: dict[str, gcp.serviceaccount.Account]   keys "api", "exporter"
    key_ring: gcp.kms.KeyRing; crypto_key: gcp.kms.CryptoKey
    secrets: dict[str, gcp.secretmanager.Secret]   keyed by APP_SECRETS
    artifact_repository: gcp.artifactregistry.Repository
    network: gcp.compute.Network; subnets: dict[str, gcp.compute.Subnetwork] keyed by region
    egress_addresses: list[gcp.compute.Address]   static NAT egress IPs (Redis allowlist)
    """

    def __init__(self, name: str, args: FoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:foundation:Foundation", name, None, opts)
        self.apis: dict[str, gcp.projects.Service] = {}
        self.service_accounts: dict[str, gcp.serviceaccount.Account] = {}
        self.secrets: dict[str, gcp.secretmanager.Secret] = {}
        self.subnets: dict[str, gcp.compute.Subnetwork] = {}
        self.egress_addresses: list[gcp.compute.Address] = []
        self.register_outputs({})
