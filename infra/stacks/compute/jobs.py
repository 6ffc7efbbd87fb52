"""The deploy contract's ops commands as Cloud Run jobs, per region, with the API's image and settings."""

from __future__ import annotations

import pulumi_gcp as gcp

import contract
from infra.stacks.common import child
from infra.stacks.compute.args import Scope
from infra.stacks.compute.settings import BACKEND, job_envs

#: The jobs run the app image's ops commands instead of its server (the image's CMD): `pog`'s commands
#: that need only the app (app/ops/__main__.py), without the infra CLI (and Pulumi) that `pog` loads.
OPS_COMMAND = ("python", "-m", "app.ops")

#: A job of the contract: `python -m app.ops <args>` as a Cloud Run job (`gcloud run jobs execute` replaces
#: `args` for one execution with `--args=...`).
OpsJob = contract.Job
#: `pog leaderboards rebuild` behind the NAT, on demand.
REBUILD_JOB = BACKEND.job("leaderboards-rebuild")
#: `pog leaderboards rewards`: archive, rewards and checkpoints, daily in every region, staggered.
REWARDS_JOB = BACKEND.job("leaderboards-rewards")
#: `pog events announce`, every minute in the primary region (a Firestore mark makes overlapping runs safe).
ANNOUNCE_JOB = BACKEND.job("events-announce")


def ops_job_name(prefix: str, job: OpsJob, region: str) -> str:
    return f"{prefix}-{job.name}-{region}"


def rebuild_job_name(prefix: str, region: str) -> str:
    """pog-prod-leaderboards-rebuild-us-central1: the job on-call executes in that region."""
    return ops_job_name(prefix, REBUILD_JOB, region)


def ops_job(scope: Scope, job: OpsJob, region: str) -> gcp.cloudrunv2.Job:
    """An ops command as a Cloud Run job with the API's image, account, egress and settings: Redis
    Cloud admits only the NAT's addresses, so these run here rather than from a laptop."""
    args = scope.args
    name = ops_job_name(args.prefix, job, region)
    return gcp.cloudrunv2.Job(
        name,
        name=name,
        project=args.project,
        location=region,
        # It holds nothing: removing a region may delete it with the region's service.
        deletion_protection=False,
        labels=scope.labels,
        template=gcp.cloudrunv2.JobTemplateArgs(
            labels=scope.labels,
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
                        envs=job_envs(args, region),
                        resources=gcp.cloudrunv2.JobTemplateTemplateContainerResourcesArgs(limits=job.limits),
                    )
                ],
            ),
        ),
        opts=child(scope.parent, depends_on=scope.deps),
    )
