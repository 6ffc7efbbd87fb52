"""The API as a Cloud Run service per region: the app container and its metrics sidecar."""

from __future__ import annotations

import pulumi_gcp as gcp

from infra.stacks.common import child
from infra.stacks.compute.args import ComputeArgs, Scope
from infra.stacks.compute.settings import service_envs

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
#: Cloud Run ends every request at the timeout (300 s by default), a live leaderboard stream included; the
#: client then reconnects with Last-Event-ID and loses nothing, but each cut costs a reconnect (and a
#: page read). An hour, Cloud Run's maximum for services, keeps that to one per viewer per hour. Policy
#: POG-RUN-006 holds it at least that.
STREAM_REQUEST_TIMEOUT_S = 3600


def api_service(scope: Scope, region: str) -> gcp.cloudrunv2.Service:
    args, p, run = scope.args, scope.args.prefix, scope.args.profile.run
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
        labels=scope.labels,
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account=args.service_account.email,
            execution_environment="EXECUTION_ENVIRONMENT_GEN2",
            max_instance_request_concurrency=run.concurrency,
            timeout=f"{STREAM_REQUEST_TIMEOUT_S}s",
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
            labels=scope.labels,
            containers=[_api_container(args, region), _metrics_sidecar()],
        ),
        opts=child(scope.parent, depends_on=scope.deps),
    )


def _api_container(args: ComputeArgs, region: str) -> gcp.cloudrunv2.ServiceTemplateContainerArgs:
    run = args.profile.run
    return gcp.cloudrunv2.ServiceTemplateContainerArgs(
        name=API_CONTAINER,
        image=args.image,
        ports=gcp.cloudrunv2.ServiceTemplateContainerPortsArgs(name="http1", container_port=PORT),
        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
            limits={"cpu": run.cpu, "memory": run.memory},
            cpu_idle=True,
            startup_cpu_boost=True,
        ),
        envs=service_envs(args, region),
        startup_probe=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeArgs(
            http_get=gcp.cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs(
                path="/healthz", port=PORT
            ),
            period_seconds=2,
            timeout_seconds=2,
            failure_threshold=30,
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
    )


def _metrics_sidecar() -> gcp.cloudrunv2.ServiceTemplateContainerArgs:
    # Counters are cumulative and the sidecar scrapes once more at shutdown, so a scrape
    # missed while the CPU is throttled between requests (cpu_idle) delays data, loses none.
    return gcp.cloudrunv2.ServiceTemplateContainerArgs(
        name="metrics",
        image=METRICS_SIDECAR_IMAGE,
        depends_ons=[API_CONTAINER],
        resources=gcp.cloudrunv2.ServiceTemplateContainerResourcesArgs(
            limits=METRICS_SIDECAR_LIMITS, cpu_idle=True
        ),
    )
