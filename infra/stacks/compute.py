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
    dns_authorization_records: pulumi.Output[list[dict[str, str]]]  {name, type, data} for Cloudflare
    assets_bucket: gcp.storage.Bucket | None     phase 2+, served through the load balancer
    assets_hostname: str | None
    """

    def __init__(self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:compute:Compute", name, None, opts)
        self.services: dict[str, gcp.cloudrunv2.Service] = {}
        self.api_url = f"https://{args.api_hostname}"
        self.dns_authorization_records: pulumi.Output[list[dict[str, str]]] = pulumi.Output.from_input([])
        self.assets_bucket: gcp.storage.Bucket | None = None
        self.assets_hostname: str | None = None
        self.register_outputs({})
