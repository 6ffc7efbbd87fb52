"""Edge: Cloudflare DNS, TLS, WAF, rate limits, admin allowlist, caching (phase 2+)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile


@dataclass
class EdgeArgs:
    prefix: str
    zone_id: str
    account_id: str
    domain: str
    api_hostname: str
    origin_address: pulumi.Input[str]
    admin_ip_allowlist: tuple[str, ...]
    dns_authorizations: list[gcp.certificatemanager.DnsAuthorization]
    assets_hostname: str | None
    profile: PhaseProfile


class Edge(pulumi.ComponentResource):
    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:edge:Edge", name, None, opts)
        self.register_outputs({})
