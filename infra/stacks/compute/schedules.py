"""Cloud Scheduler triggers for the scheduled ops jobs, and the grant that lets them start the job."""

from __future__ import annotations

import pulumi_gcp as gcp

from infra.stacks.common import child
from infra.stacks.compute.args import Scope
from infra.stacks.compute.jobs import OpsJob, ops_job, ops_job_name


def schedule_name(prefix: str, job: OpsJob, region: str) -> str:
    """pog-prod-events-announce for a primary-only job; pog-prod-leaderboards-rewards-<region> otherwise."""
    return f"{prefix}-{job.name}" if job.regions == "primary" else f"{prefix}-{job.name}-{region}"


def contract_job(
    scope: Scope, job: OpsJob
) -> tuple[dict[str, gcp.cloudrunv2.Job], dict[str, gcp.cloudscheduler.Job]]:
    """The job in each of its regions, with its schedule there where it has one."""
    regions = job.regions_of(scope.args.api_regions)
    jobs = {region: ops_job(scope, job, region) for region in regions}
    schedules = {
        region: _schedule(scope, job, region, jobs[region], index)
        for index, region in enumerate(regions)
        if job.schedule is not None
    }
    return jobs, schedules


def _schedule(
    scope: Scope, job: OpsJob, region: str, run_job: gcp.cloudrunv2.Job, region_index: int
) -> gcp.cloudscheduler.Job:
    """Cloud Scheduler starts the job as the API's account, which may run this job and no other."""
    args = scope.args
    invoker = gcp.cloudrunv2.JobIamMember(
        f"{ops_job_name(args.prefix, job, region)}-invoker",
        project=args.project,
        location=region,
        name=run_job.name,
        role="roles/run.invoker",
        member=args.service_account.email.apply(lambda email: f"serviceAccount:{email}"),
        opts=child(scope.parent),
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
        opts=child(scope.parent, depends_on=[invoker]),
    )
