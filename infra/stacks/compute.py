"""Compute: the API on Cloud Run per region behind one global external Application Load Balancer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile


@dataclass
class ComputeArgs:
    prefix: str
    project: str
    api_regions: tuple[str, ...]
    image: str
    api_hostname: str
    admin_ip_allowlist: tuple[str, ...]
    service_account: gcp.serviceaccount.Account
    secrets: dict[str, gcp.secretmanager.Secret]
    plain_env: dict[str, pulumi.Input[str]]
    network: gcp.compute.Network
    subnets: dict[str, gcp.compute.Subnetwork]
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = ()


class Compute(pulumi.ComponentResource):
    """Public attributes:

    services: dict[str, gcp.cloudrunv2.Service]  keyed by region
    lb_address: gcp.compute.GlobalAddress        the only public entry; Cloudflare proxies to it
    api_url: str                                 https://<api hostname>
    dns_authorizations: list[gcp.certificatemanager.DnsAuthorization]  CNAMEs Cloudflare must publish
    probe_header: str                            phase 3: header whose value (a region) routes a request
                                                 to that region only, for per-region uptime checks
    assets_bucket: gcp.storage.Bucket | None     phase 2+, served through the load balancer
    assets_hostname: str | None
    """

    def __init__(self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:compute:Compute", name, None, opts)
        self.services: dict[str, gcp.cloudrunv2.Service] = {}
        self.api_url = f"https://{args.api_hostname}"
        self.dns_authorizations: list[gcp.certificatemanager.DnsAuthorization] = []
        self.probe_header = "x-pog-probe-region"
        self.assets_bucket: gcp.storage.Bucket | None = None
        self.assets_hostname: str | None = None
        self.register_outputs({})
