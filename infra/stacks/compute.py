"""Compute: the API on Cloud Run per region behind one global external Application Load Balancer."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi
import pulumi_gcp as gcp

import contract
from infra.config import MAX_ADMIN_RANGES
from infra.phases import PhaseProfile
from infra.stacks.cloudflare_ranges import CLOUDFLARE_IPV4, CLOUDFLARE_IPV6
from infra.stacks.common import child, labels, private_bucket

LAYER = "compute"
_Env = TypeVar(
    "_Env", gcp.cloudrunv2.ServiceTemplateContainerEnvArgs, gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs
)
# The metrics sidecar's default RunMonitoring scrapes :8080/metrics every 30 s, so the API listens there
# and the sidecar needs no configuration of its own.
PORT = 8080
API_CONTAINER = "api"
#: Managed Service for Prometheus collector for Cloud Run: it writes the app's /metrics (app/core/metrics.py)
#: to Cloud Monitoring as prometheus.googleapis.com/... (monitoring/metrics/). Bump with the release notes.
METRICS_SIDECAR_IMAGE = (
    "us-docker.pkg.dev/cloud-ops-agents-artifacts/cloud-run-gmp-sidecar/cloud-run-gmp-sidecar:1.2.0"
)
#: A whole CPU: an instance's CPUs (the sum over its containers) above 1 must be a whole number.
METRICS_SIDECAR_LIMITS = {"cpu": "1", "memory": "256Mi"}
PROBE_HEADER = "x-pog-probe-region"
# Cloudflare puts the visitor's address here; Cloud Armor reads it as origin.user_ip.
CLIENT_IP_HEADER = "CF-Connecting-IP"
#: Google's external Application Load Balancer appends "<address it was connected from>, <its own address>"
#: to X-Forwarded-For; the app reads the connecting address one entry left of the end (app/core/net.py):
#: on Cloud Run the socket's peer is Google's infrastructure and proves nothing.
LB_FORWARDED_FOR_HOPS = 1

#: The jobs run the app image's ops commands instead of its server (the image's CMD): `pog`'s commands
#: that need only the app (app/ops/__main__.py), without the infra CLI (and Pulumi) that `pog` loads.
OPS_COMMAND = ("python", "-m", "app.ops")


BACKEND = contract.load()
#: A job of the contract: `python -m app.ops <args>` as a Cloud Run job (`gcloud run jobs execute` replaces
#: `args` for one execution with `--args=...`).
OpsJob = contract.Job
#: `pog leaderboards rebuild` behind the NAT, on demand.
REBUILD_JOB = BACKEND.job("leaderboards-rebuild")
#: `pog leaderboards rewards`: archive, rewards and checkpoints, daily in every region, staggered.
REWARDS_JOB = BACKEND.job("leaderboards-rewards")
#: `pog events announce`, every minute in the primary region (a Firestore mark makes overlapping runs safe).
ANNOUNCE_JOB = BACKEND.job("events-announce")

MAX_RANGES_PER_RULE = 10  # Cloud Armor: src_ip_ranges per rule
# Decoded and lower-cased so /v1/%61dmin or /V1//admin cannot slip past the rule to the app's router.
ADMIN_PATH_TEST = "request.path.urlDecodeUni().lower().matches('^/+v1/+admin')"
ADMIN_RULE_PRIORITY = 1000
CLOUDFLARE_RULE_PRIORITY = 2000
DEFAULT_RULE_PRIORITY = 2147483647
DENY = "deny(403)"


def assets_hostname_for(api_hostname: str) -> str:
    """api.dev.potofgold.games -> assets.dev.potofgold.games"""
    return "assets." + api_hostname.split(".", 1)[1]


def rebuild_job_name(prefix: str, region: str) -> str:
    """pog-prod-leaderboards-rebuild-us-central1: the job on-call executes in that region."""
    return ops_job_name(prefix, REBUILD_JOB, region)


def ops_job_name(prefix: str, job: OpsJob, region: str) -> str:
    return f"{prefix}-{job.name}-{region}"


def schedule_name(prefix: str, job: OpsJob, region: str) -> str:
    """pog-prod-events-announce for a primary-only job; pog-prod-leaderboards-rewards-<region> otherwise."""
    return f"{prefix}-{job.name}" if job.regions == "primary" else f"{prefix}-{job.name}-{region}"


def range_chunks(ranges: Sequence[str], size: int = MAX_RANGES_PER_RULE) -> list[list[str]]:
    return [list(ranges[i : i + size]) for i in range(0, len(ranges), size)]


def admin_rule_expression(allowlist: Sequence[str]) -> str:
    """Matches admin requests whose visitor address is outside the allowlist (all of them if it is empty)."""
    if len(allowlist) > MAX_ADMIN_RANGES:
        raise ValueError(
            f"pot-of-gold:adminIpAllowlist may list at most {MAX_ADMIN_RANGES} ranges (one Cloud Armor"
            f" expression holds five subexpressions); got {len(allowlist)}: merge them into wider ranges"
        )
    if not allowlist:
        return ADMIN_PATH_TEST
    allowed = " || ".join(f"inIpRange(origin.user_ip, '{cidr}')" for cidr in allowlist)
    return f"{ADMIN_PATH_TEST} && !({allowed})"


def _src_ips_rule(
    action: str, priority: int, ranges: list[str], description: str
) -> gcp.compute.SecurityPolicyRuleArgs:
    return gcp.compute.SecurityPolicyRuleArgs(
        action=action,
        priority=priority,
        description=description,
        match=gcp.compute.SecurityPolicyRuleMatchArgs(
            versioned_expr="SRC_IPS_V1",
            config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=ranges),
        ),
    )


def cloudflare_only_rules() -> list[gcp.compute.SecurityPolicyRuleArgs]:
    """Allow Cloudflare's edge ranges (matched on the connecting address), deny everything else."""
    chunks = range_chunks(CLOUDFLARE_IPV4) + range_chunks(CLOUDFLARE_IPV6)
    rules = [
        _src_ips_rule(
            "allow", CLOUDFLARE_RULE_PRIORITY + i, chunk, f"Cloudflare edge ranges ({i + 1}/{len(chunks)})"
        )
        for i, chunk in enumerate(chunks)
    ]
    rules.append(
        _src_ips_rule(DENY, DEFAULT_RULE_PRIORITY, ["*"], "Default: deny what does not come from Cloudflare")
    )
    return rules


@dataclass
class ComputeArgs:
    prefix: str
    project: str
    api_regions: tuple[str, ...]
    image: str
    api_hostname: str
    admin_ip_allowlist: tuple[str, ...]
    service_account: gcp.serviceaccount.Account
    #: environment variable -> API region -> the secret that region reads (Foundation.regional_secrets)
    secrets: Mapping[str, Mapping[str, gcp.secretmanager.Secret]]
    plain_env: dict[str, pulumi.Input[str]]
    #: API region -> the Firestore database that holds that region's game sessions (POG_GAMES_DATABASE).
    games_databases: dict[str, str]
    network: gcp.compute.Network
    subnets: dict[str, gcp.compute.Subnetwork]
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = ()
    #: Every database that may hold finished games: the regions' and those an earlier phase wrote to,
    #: whose games live out their TTL (POG_ALL_GAMES_DATABASES: leaderboard rebuilds, event progress).
    all_games_databases: Sequence[str] = ()


def plain_env_for(
    region: str,
    admin_ip_allowlist: Sequence[str],
    plain_env: Mapping[str, pulumi.Input[str]],
    games_databases: Mapping[str, str],
    all_games_databases: Sequence[str],
) -> dict[str, pulumi.Input[str]]:
    """The app's plain settings in ``region``; ``plain_env`` overrides the derived ones (a restored games
    database: runbooks/procedures/restore-from-export.md, step 4)."""
    plain: dict[str, pulumi.Input[str]] = {
        "POG_ADMIN_IP_ALLOWLIST": json.dumps(list(admin_ip_allowlist)),
        # The app believes CF-Connecting-IP only from these connecting addresses: Cloud Armor admits
        # nothing else, and the ingress setting lets nothing but the load balancer reach the service.
        "POG_TRUSTED_PROXIES": json.dumps([*CLOUDFLARE_IPV4, *CLOUDFLARE_IPV6]),
        "POG_FORWARDED_FOR_HOPS": str(LB_FORWARDED_FOR_HOPS),
        **plain_env,
        "POG_GAMES_DATABASE": plain_env.get("POG_GAMES_DATABASE", games_databases[region]),
    }
    holding_games = sorted({*all_games_databases, *games_databases.values()})
    if "POG_ALL_GAMES_DATABASES" not in plain_env and len(holding_games) > 1:
        # The regions share the boards and the players, and a promotion leaves games in the earlier
        # phase's database: a rebuild, or a player's event progress, must read them all.
        plain["POG_ALL_GAMES_DATABASES"] = json.dumps(holding_games)
    own, listed = plain["POG_GAMES_DATABASE"], plain.get("POG_ALL_GAMES_DATABASES")
    if isinstance(own, str) and isinstance(listed, str) and own not in _names(listed):
        raise ValueError(
            f"POG_GAMES_DATABASE {own!r} is not in POG_ALL_GAMES_DATABASES {listed} in {region}: the app "
            "would refuse to start. Override both in plain_env, the restored database in place of the one "
            "it replaces (runbooks/procedures/restore-from-export.md, step 4)"
        )
    return plain


def _names(listed: str) -> list[str]:
    """A JSON list or a comma-separated string, as the app reads its list settings."""
    text = listed.strip()
    if text.startswith("["):
        return [str(name) for name in json.loads(text)]
    return [name.strip() for name in text.split(",") if name.strip()]


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
        p, profile = args.prefix, args.profile
        admin_expression = admin_rule_expression(args.admin_ip_allowlist)
        self._labels = labels(p, LAYER)
        self._deps = list(args.depends_on)

        self.api_url = f"https://{args.api_hostname}"
        self.probe_header = PROBE_HEADER
        self.dns_authorizations: list[gcp.certificatemanager.DnsAuthorization] = []
        self.assets_bucket: gcp.storage.Bucket | None = None
        self.assets_hostname: str | None = None

        self.services: dict[str, gcp.cloudrunv2.Service] = {
            region: self._service(region) for region in args.api_regions
        }
        # Every job of the contract, in each of its regions, with its schedule where it has one.
        self.jobs: dict[str, dict[str, gcp.cloudrunv2.Job]] = {}
        self.schedules: dict[str, dict[str, gcp.cloudscheduler.Job]] = {}
        for job in BACKEND.jobs:
            self.jobs[job.name], self.schedules[job.name] = self._contract_job(job)
        self.rebuild_jobs = self.jobs[REBUILD_JOB.name]
        negs = {
            region: gcp.compute.RegionNetworkEndpointGroup(
                f"{p}-api-neg-{region}",
                name=f"{p}-api-neg-{region}",
                project=args.project,
                region=region,
                network_endpoint_type="SERVERLESS",
                cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(service=service.name),
                opts=child(self),
            )
            for region, service in self.services.items()
        }

        armor = gcp.compute.SecurityPolicy(
            f"{p}-api-armor",
            name=f"{p}-api-armor",
            project=args.project,
            type="CLOUD_ARMOR",
            description="Only Cloudflare reaches the API; admin paths only from the allowlist",
            advanced_options_config=gcp.compute.SecurityPolicyAdvancedOptionsConfigArgs(
                user_ip_request_headers=[CLIENT_IP_HEADER],
            ),
            rules=[
                gcp.compute.SecurityPolicyRuleArgs(
                    action=DENY,
                    priority=ADMIN_RULE_PRIORITY,
                    description="Admin paths only from the admin IP allowlist",
                    match=gcp.compute.SecurityPolicyRuleMatchArgs(
                        expr=gcp.compute.SecurityPolicyRuleMatchExprArgs(expression=admin_expression)
                    ),
                ),
                *cloudflare_only_rules(),
            ],
            opts=child(self, depends_on=self._deps),
        )
        backend = self._backend_service(
            f"{p}-api-backend", list(negs.values()), armor, outlier_detection=True
        )
        # Phase 3 probes: one backend per region, so an uptime check can pin a region with PROBE_HEADER.
        region_backends = (
            {
                region: self._backend_service(
                    f"{p}-api-backend-{region}", [neg], armor, outlier_detection=False
                )
                for region, neg in negs.items()
            }
            if profile.multi_region
            else {}
        )

        self.lb_address = gcp.compute.GlobalAddress(
            f"{p}-api-ip",
            name=f"{p}-api-ip",
            project=args.project,
            address_type="EXTERNAL",
            ip_version="IPV4",
            description="Load balancer address; Cloudflare proxies the API hostnames to it",
            labels=self._labels,
            opts=child(self, depends_on=self._deps),
        )

        # Certificate Manager with DNS authorization: Google-managed LB certificates validate over
        # HTTP, which cannot succeed while Cloudflare proxies the hostname.
        cert_map = gcp.certificatemanager.CertificateMap(
            f"{p}-api-certmap",
            name=f"{p}-api-certmap",
            project=args.project,
            description="Certificates served by the API load balancer",
            labels=self._labels,
            opts=child(self, depends_on=self._deps),
        )
        cert_entries = [self._certificate("api", args.api_hostname, cert_map)]

        host_rules = [gcp.compute.URLMapHostRuleArgs(hosts=[args.api_hostname], path_matcher="api")]
        path_matchers = [
            gcp.compute.URLMapPathMatcherArgs(
                name="api",
                default_service=backend.id,
                route_rules=[
                    gcp.compute.URLMapPathMatcherRouteRuleArgs(
                        priority=index + 1,
                        service=region_backend.id,
                        match_rules=[
                            gcp.compute.URLMapPathMatcherRouteRuleMatchRuleArgs(
                                prefix_match="/",
                                header_matches=[
                                    gcp.compute.URLMapPathMatcherRouteRuleMatchRuleHeaderMatchArgs(
                                        header_name=PROBE_HEADER, exact_match=region
                                    )
                                ],
                            )
                        ],
                    )
                    for index, (region, region_backend) in enumerate(region_backends.items())
                ]
                or None,
            )
        ]
        if profile.edge_asset_caching:
            self.assets_hostname = assets_hostname_for(args.api_hostname)
            assets_backend = self._assets()
            cert_entries.append(self._certificate("assets", self.assets_hostname, cert_map))
            host_rules.append(
                gcp.compute.URLMapHostRuleArgs(hosts=[self.assets_hostname], path_matcher="assets")
            )
            path_matchers.append(
                gcp.compute.URLMapPathMatcherArgs(name="assets", default_service=assets_backend.id)
            )

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
        ssl_policy = gcp.compute.SSLPolicy(
            f"{p}-api-tls",
            name=f"{p}-api-tls",
            project=args.project,
            profile="RESTRICTED",
            min_tls_version="TLS_1_2",
            opts=child(self, depends_on=self._deps),
        )
        proxy = gcp.compute.TargetHttpsProxy(
            f"{p}-api-https-proxy",
            name=f"{p}-api-https-proxy",
            project=args.project,
            url_map=url_map.id,
            certificate_map=pulumi.Output.concat("//certificatemanager.googleapis.com/", cert_map.id),
            ssl_policy=ssl_policy.id,
            # Entries first, or the proxy would briefly serve a map with no certificate.
            opts=child(self, depends_on=cert_entries),
        )
        gcp.compute.GlobalForwardingRule(
            f"{p}-api-https",
            name=f"{p}-api-https",
            project=args.project,
            target=proxy.id,
            ip_address=self.lb_address.id,
            ip_protocol="TCP",
            port_range="443",
            load_balancing_scheme="EXTERNAL_MANAGED",
            labels=self._labels,
            opts=child(self),
        )

        self.register_outputs(
            {
                "apiUrl": self.api_url,
                "lbAddress": self.lb_address.address,
                "services": {region: service.name for region, service in self.services.items()},
                "rebuildJobs": {region: job.name for region, job in self.rebuild_jobs.items()},
                "assetsHostname": self.assets_hostname,
            }
        )

    def _service(self, region: str) -> gcp.cloudrunv2.Service:
        args, p, run = self._args, self._args.prefix, self._args.profile.run
        health = gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(path="/healthz", port=PORT)
        return gcp.cloudrunv2.Service(
            f"{p}-api-{region}",
            name=f"{p}-api-{region}",
            project=args.project,
            location=region,
            description="Pot of Gold game API",
            # Only the load balancer (and so Cloud Armor) reaches the service; IAM is not checked
            # because the load balancer sends no identity, which is safer than an allUsers invoker.
            ingress="INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
            default_uri_disabled=True,
            invoker_iam_disabled=True,
            deletion_protection=args.profile.is_prod,
            labels=self._labels,
            template=gcp.cloudrunv2.ServiceTemplateArgs(
                service_account=args.service_account.email,
                execution_environment="EXECUTION_ENVIRONMENT_GEN2",
                max_instance_request_concurrency=run.concurrency,
                scaling=gcp.cloudrunv2.ServiceTemplateScalingArgs(
                    min_instance_count=run.min_instances, max_instance_count=run.max_instances
                ),
                # Direct VPC egress for all traffic: the API reaches Redis Cloud from the NAT's fixed IPs.
                vpc_access=gcp.cloudrunv2.ServiceTemplateVpcAccessArgs(
                    egress="ALL_TRAFFIC",
                    network_interfaces=[
                        gcp.cloudrunv2.ServiceTemplateVpcAccessNetworkInterfaceArgs(
                            network=args.network.id, subnetwork=args.subnets[region].id
                        )
                    ],
                ),
                labels=self._labels,
                containers=[
                    gcp.cloudrunv2.ServiceTemplateContainerArgs(
                        name=API_CONTAINER,
                        image=args.image,
                        ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(
                            name="http1", container_port=PORT
                        ),
                        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                            limits={"cpu": run.cpu, "memory": run.memory},
                            cpu_idle=True,
                            startup_cpu_boost=True,
                        ),
                        envs=self._envs(region),
                        startup_probe=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
                            http_get=health, period_seconds=2, timeout_seconds=2, failure_threshold=30
                        ),
                        liveness_probe=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeArgs(
                            http_get=gcp.cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs(
                                path="/healthz", port=PORT
                            ),
                            period_seconds=15,
                            timeout_seconds=5,
                            failure_threshold=3,
                        ),
                        readiness_probe=gcp.cloudrunv2.ServiceTemplateContainerReadinessProbeArgs(
                            http_get=gcp.cloudrunv2.ServiceTemplateContainerReadinessProbeHttpGetArgs(
                                path="/readyz", port=PORT
                            ),
                            period_seconds=10,
                            timeout_seconds=5,
                            failure_threshold=3,
                            success_threshold=1,
                        ),
                    ),
                    # Counters are cumulative and the sidecar scrapes once more at shutdown, so a scrape
                    # missed while the CPU is throttled between requests (cpu_idle) delays data, loses none.
                    gcp.cloudrunv2.ServiceTemplateContainerArgs(
                        name="metrics",
                        image=METRICS_SIDECAR_IMAGE,
                        depends_ons=[API_CONTAINER],
                        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
                            limits=METRICS_SIDECAR_LIMITS, cpu_idle=True
                        ),
                    ),
                ],
            ),
            opts=child(self, depends_on=self._deps),
        )

    def _env_values(
        self, region: str
    ) -> tuple[dict[str, pulumi.Input[str]], dict[str, gcp.secretmanager.Secret]]:
        """What the app reads in a region: plain values, and secrets by environment variable.

        One builder for the API service and the jobs that run the app's commands, so both see the same
        settings."""
        args = self._args
        plain = plain_env_for(
            region, args.admin_ip_allowlist, args.plain_env, args.games_databases, args.all_games_databases
        )
        if BACKEND.redis[args.profile.redis.topology.value].client == "cluster":
            plain["POG_REDIS_CLUSTER"] = "true"
        secrets = {env_var: by_region[region] for env_var, by_region in args.secrets.items()}
        clash = sorted(plain.keys() & secrets.keys())
        if clash:
            raise ValueError(
                f"environment variables {clash} are both plain and secret; secrets come from Secret Manager"
            )
        return plain, secrets

    def _envs(self, region: str) -> list[gcp.cloudrunv2.ServiceTemplateContainerEnvArgs]:
        return self._env_args(
            region,
            gcp.cloudrunv2.ServiceTemplateContainerEnvArgs,
            gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs,
            gcp.cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs,
        )

    def _job_envs(self, region: str) -> list[gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs]:
        return self._env_args(
            region,
            gcp.cloudrunv2.JobTemplateTemplateContainerEnvArgs,
            gcp.cloudrunv2.JobTemplateTemplateContainerEnvValueSourceArgs,
            gcp.cloudrunv2.JobTemplateTemplateContainerEnvValueSourceSecretKeyRefArgs,
        )

    def _env_args(
        self, region: str, env: type[_Env], value_source: type[Any], secret_ref: type[Any]
    ) -> list[_Env]:
        """Plain values, then secrets as Secret Manager references, in the shapes of a service's or a
        job's container (the same fields under different generated classes)."""
        plain, secrets = self._env_values(region)
        envs = [env(name=k, value=v) for k, v in sorted(plain.items())]
        envs += [
            env(
                name=env_var,
                value_source=value_source(
                    secret_key_ref=secret_ref(secret=secret.secret_id, version="latest")
                ),
            )
            for env_var, secret in sorted(secrets.items())
        ]
        return envs

    def _ops_job(self, job: OpsJob, region: str) -> gcp.cloudrunv2.Job:
        """An ops command as a Cloud Run job with the API's image, account, egress and settings: Redis
        Cloud admits only the NAT's addresses, so these run here rather than from a laptop."""
        args = self._args
        name = ops_job_name(args.prefix, job, region)
        return gcp.cloudrunv2.Job(
            name,
            name=name,
            project=args.project,
            location=region,
            # It holds nothing: removing a region may delete it with the region's service.
            deletion_protection=False,
            labels=self._labels,
            template=gcp.cloudrunv2.JobTemplateArgs(
                labels=self._labels,
                task_count=1,
                parallelism=1,
                template=gcp.cloudrunv2.JobTemplateTemplateArgs(
                    service_account=args.service_account.email,
                    execution_environment="EXECUTION_ENVIRONMENT_GEN2",
                    max_retries=job.retries,
                    timeout=job.timeout,
                    # As the API: all traffic through the region's subnet, so Redis sees a NAT address.
                    vpc_access=gcp.cloudrunv2.JobTemplateTemplateVpcAccessArgs(
                        egress="ALL_TRAFFIC",
                        network_interfaces=[
                            gcp.cloudrunv2.JobTemplateTemplateVpcAccessNetworkInterfaceArgs(
                                network=args.network.id, subnetwork=args.subnets[region].id
                            )
                        ],
                    ),
                    containers=[
                        gcp.cloudrunv2.JobTemplateTemplateContainerArgs(
                            name=job.container,
                            image=args.image,
                            commands=list(OPS_COMMAND),
                            args=list(job.args),
                            envs=self._job_envs(region),
                            resources=gcp.cloudrunv2.JobTemplateTemplateContainerResourcesArgs(
                                limits=job.limits
                            ),
                        )
                    ],
                ),
            ),
            opts=child(self, depends_on=self._deps),
        )

    def _contract_job(
        self, job: OpsJob
    ) -> tuple[dict[str, gcp.cloudrunv2.Job], dict[str, gcp.cloudscheduler.Job]]:
        regions = job.regions_of(self._args.api_regions)
        jobs = {region: self._ops_job(job, region) for region in regions}
        schedules = {
            region: self._schedule(job, region, jobs[region], index)
            for index, region in enumerate(regions)
            if job.schedule is not None
        }
        return jobs, schedules

    def _schedule(
        self, job: OpsJob, region: str, run_job: gcp.cloudrunv2.Job, region_index: int
    ) -> gcp.cloudscheduler.Job:
        """Cloud Scheduler starts the job as the API's account, which may run this job and no other."""
        args = self._args
        invoker = gcp.cloudrunv2.JobIamMember(
            f"{ops_job_name(args.prefix, job, region)}-invoker",
            project=args.project,
            location=region,
            name=run_job.name,
            role="roles/run.invoker",
            member=args.service_account.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=child(self),
        )
        name = schedule_name(args.prefix, job, region)
        return gcp.cloudscheduler.Job(
            f"{name}-schedule",
            name=name,
            project=args.project,
            region=region,
            description=f"{job.schedule} (UTC): pog {' '.join(job.args)} in {region}",
            schedule=job.schedule_in(region_index),
            time_zone="Etc/UTC",
            attempt_deadline="60s",
            http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                http_method="POST",
                uri=run_job.name.apply(
                    lambda job_name: (
                        f"https://run.googleapis.com/v2/projects/{args.project}/locations/"
                        f"{region}/jobs/{job_name}:run"
                    )
                ),
                oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(
                    service_account_email=args.service_account.email,
                    scope="https://www.googleapis.com/auth/cloud-platform",
                ),
            ),
            opts=child(self, depends_on=[invoker]),
        )

    def _backend_service(
        self,
        name: str,
        negs: list[gcp.compute.RegionNetworkEndpointGroup],
        armor: gcp.compute.SecurityPolicy,
        *,
        outlier_detection: bool,
    ) -> gcp.compute.BackendService:
        profile = self._args.profile
        return gcp.compute.BackendService(
            name,
            name=name,
            project=self._args.project,
            load_balancing_scheme="EXTERNAL_MANAGED",
            protocol="HTTPS",
            backends=[gcp.compute.BackendServiceBackendArgs(group=neg.id) for neg in negs],
            security_policy=armor.id,
            # Five 5xx in a row eject a region for 30 s (longer each time); 50 % never ejects the
            # last of three regions.
            outlier_detection=(
                gcp.compute.BackendServiceOutlierDetectionArgs(
                    consecutive_errors=5,
                    enforcing_consecutive_errors=100,
                    interval=gcp.compute.BackendServiceOutlierDetectionIntervalArgs(seconds=10),
                    base_ejection_time=gcp.compute.BackendServiceOutlierDetectionBaseEjectionTimeArgs(
                        seconds=30
                    ),
                    max_ejection_percent=50,
                )
                if outlier_detection
                else None
            ),
            # Cloud Run logs every request itself; the load balancer's log adds Cloud Armor verdicts.
            log_config=gcp.compute.BackendServiceLogConfigArgs(
                enable=True, sample_rate=0.1 if profile.is_prod else 1.0
            ),
            opts=child(self),
        )

    def _certificate(
        self, key: str, hostname: str, cert_map: gcp.certificatemanager.CertificateMap
    ) -> gcp.certificatemanager.CertificateMapEntry:
        args, p = self._args, self._args.prefix
        authorization = gcp.certificatemanager.DnsAuthorization(
            f"{p}-{key}-dnsauth",
            name=f"{p}-{key}-dnsauth",
            project=args.project,
            domain=hostname,
            type="FIXED_RECORD",
            labels=self._labels,
            opts=child(self, depends_on=self._deps),
        )
        self.dns_authorizations.append(authorization)
        # One certificate per hostname: adding a hostname later must not replace a serving certificate.
        certificate = gcp.certificatemanager.Certificate(
            f"{p}-{key}-cert",
            name=f"{p}-{key}-cert",
            project=args.project,
            scope="DEFAULT",
            managed=gcp.certificatemanager.CertificateManagedArgs(
                domains=[hostname], dns_authorizations=[authorization.id]
            ),
            labels=self._labels,
            opts=child(self),
        )
        return gcp.certificatemanager.CertificateMapEntry(
            f"{p}-{key}-cert-entry",
            name=f"{p}-{key}-cert-entry",
            project=args.project,
            map=cert_map.name,
            hostname=hostname,
            certificates=[certificate.id],
            labels=self._labels,
            opts=child(self),
        )

    def _assets(self) -> gcp.compute.BackendBucket:
        args, p = self._args, self._args.prefix
        bucket = private_bucket(
            f"{p}-assets",
            bucket_name=f"{p}-assets",
            project=args.project,
            location=args.api_regions[0],
            labels=self._labels,
            protect=args.profile.is_prod,
            parent=self,
            depends_on=self._deps,
        )
        self.assets_bucket = bucket
        # Edge policies run before the CDN cache, so cached assets are not served around Cloudflare either.
        edge_policy = gcp.compute.SecurityPolicy(
            f"{p}-assets-edge-armor",
            name=f"{p}-assets-edge-armor",
            project=args.project,
            type="CLOUD_ARMOR_EDGE",
            description="Only Cloudflare reaches the assets",
            rules=cloudflare_only_rules(),
            opts=child(self, depends_on=self._deps),
        )
        backend_bucket = gcp.compute.BackendBucket(
            f"{p}-assets-backend",
            name=f"{p}-assets-backend",
            project=args.project,
            bucket_name=bucket.name,
            description="Game assets through Cloud CDN",
            enable_cdn=True,
            compression_mode="AUTOMATIC",
            edge_security_policy=edge_policy.id,
            cdn_policy=gcp.compute.BackendBucketCdnPolicyArgs(
                cache_mode="CACHE_ALL_STATIC",
                client_ttl=3600,
                default_ttl=3600,
                max_ttl=86400,
                negative_caching=True,
                request_coalescing=True,
                serve_while_stale=86400,
            ),
            opts=child(self),
        )
        project_number = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        ).number
        # The fill account exists once a CDN-enabled backend does; it is the bucket's only reader.
        gcp.storage.BucketIAMMember(
            f"{p}-assets-cdn-fill-viewer",
            bucket=bucket.name,
            role="roles/storage.objectViewer",
            member=project_number.apply(
                lambda n: f"serviceAccount:service-{n}@cloud-cdn-fill.iam.gserviceaccount.com"
            ),
            opts=child(self, depends_on=[backend_bucket]),
        )
        return backend_bucket
