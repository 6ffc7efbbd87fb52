"""The Compute component: the API on Cloud Run per region behind one global external Application Load
Balancer, and the deploy contract's ops jobs beside it."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.stacks.common import child
from infra.stacks.compute import load_balancer as lb
from infra.stacks.compute.args import ComputeArgs, Scope
from infra.stacks.compute.armor import admin_rule_expression, api_armor
from infra.stacks.compute.assets import assets_backend, assets_hostname_for
from infra.stacks.compute.jobs import REBUILD_JOB
from infra.stacks.compute.schedules import contract_job
from infra.stacks.compute.service import api_service
from infra.stacks.compute.settings import BACKEND


class Compute(pulumi.ComponentResource):
    """Public attributes:

    services: dict[str, gcp.cloudrunv2.Service]  keyed by region
    jobs: dict[str, dict[str, gcp.cloudrunv2.Job]]  job name (contract/backend.yaml) -> region -> job
    schedules: dict[str, dict[str, gcp.cloudscheduler.Job]]  the same, for the scheduled jobs
    rebuild_jobs: dict[str, gcp.cloudrunv2.Job]  keyed by region: `pog leaderboards rebuild` behind the NAT
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
        self._args = args
        self._scope = Scope(self, args)
        admin_expression = admin_rule_expression(args.admin_ip_allowlist)

        self.api_url = f"https://{args.api_hostname}"
        self.probe_header = lb.PROBE_HEADER
        self.dns_authorizations: list[gcp.certificatemanager.DnsAuthorization] = []
        self.assets_bucket: gcp.storage.Bucket | None = None
        self.assets_hostname: str | None = None

        self.services: dict[str, gcp.cloudrunv2.Service] = {
            region: api_service(self._scope, region) for region in args.api_regions
        }
        # Every job of the contract, in each of its regions, with its schedule where it has one.
        self.jobs: dict[str, dict[str, gcp.cloudrunv2.Job]] = {}
        self.schedules: dict[str, dict[str, gcp.cloudscheduler.Job]] = {}
        for job in BACKEND.jobs:
            self.jobs[job.name], self.schedules[job.name] = contract_job(self._scope, job)
        self.rebuild_jobs = self.jobs[REBUILD_JOB.name]

        self.lb_address = self._load_balancer(admin_expression)
        self.register_outputs(
            {
                "apiUrl": self.api_url,
                "lbAddress": self.lb_address.address,
                "services": {region: service.name for region, service in self.services.items()},
                "rebuildJobs": {region: job.name for region, job in self.rebuild_jobs.items()},
                "assetsHostname": self.assets_hostname,
            }
        )

    def _load_balancer(self, admin_expression: str) -> gcp.compute.GlobalAddress:
        """Backends behind Cloud Armor, the hostnames' routing and certificates; returns the address."""
        scope, args, p = self._scope, self._args, self._args.prefix
        negs = lb.serverless_negs(scope, self.services)
        armor = api_armor(scope, admin_expression)
        backend = lb.backend_service(
            scope, f"{p}-api-backend", list(negs.values()), armor, outlier_detection=True
        )
        # Phase 3 probes: one backend per region, so an uptime check can pin a region with PROBE_HEADER.
        region_backends = (
            {
                region: lb.backend_service(
                    scope, f"{p}-api-backend-{region}", [neg], armor, outlier_detection=False
                )
                for region, neg in negs.items()
            }
            if args.profile.multi_region
            else {}
        )
        address = lb.lb_address(scope)
        cert_map = lb.certificate_map(scope)
        cert_entries = [self._certificate("api", args.api_hostname, cert_map)]
        host_rules = [gcp.compute.URLMapHostRuleArgs(hosts=[args.api_hostname], path_matcher="api")]
        path_matchers = [lb.api_path_matcher(backend, region_backends)]
        if args.profile.edge_asset_caching:
            self.assets_hostname = assets_hostname_for(args.api_hostname)
            self.assets_bucket, assets = assets_backend(scope)
            cert_entries.append(self._certificate("assets", self.assets_hostname, cert_map))
            host_rules.append(
                gcp.compute.URLMapHostRuleArgs(hosts=[self.assets_hostname], path_matcher="assets")
            )
            path_matchers.append(gcp.compute.URLMapPathMatcherArgs(name="assets", default_service=assets.id))
        url_map = gcp.compute.URLMap(
            f"{p}-api-urlmap",
            name=f"{p}-api-urlmap",
            project=args.project,
            description="API and assets hostnames",
            default_service=backend.id,
            host_rules=host_rules,
            path_matchers=path_matchers,
            opts=child(self),
        )
        lb.https_frontend(scope, url_map, cert_map, cert_entries, address)
        return address

    def _certificate(
        self, key: str, hostname: str, cert_map: gcp.certificatemanager.CertificateMap
    ) -> gcp.certificatemanager.CertificateMapEntry:
        entry, authorization = lb.certificate(self._scope, key, hostname, cert_map)
        self.dns_authorizations.append(authorization)
        return entry
