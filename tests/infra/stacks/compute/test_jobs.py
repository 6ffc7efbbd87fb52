"""The app's ops commands as Cloud Run jobs with the API's image, identity, egress and settings: the
leaderboard rebuild per API region, and the live-event announcer every minute in the primary region."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from app.services.leaderboards_jobs import REBUILD_LOCK_S
from infra.plan.engine import Plan, PlannedResource
from infra.stacks import compute
from tests.infra.conftest import plan_for
from tests.infra.stacks.layers import Layer, api_member, prefix, stack_config

JOB = "gcp:cloudrunv2/job:Job"
JOB_INVOKER = "gcp:cloudrunv2/jobIamMember:JobIamMember"
SCHEDULE = "gcp:cloudscheduler/job:Job"
RUN = "gcp:cloudrunv2/service:Service"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
LAYER = Layer("potgold:compute:Compute", "compute")
ROOT = Path(__file__).resolve().parents[4]


def jobs(plan: Plan, job: compute.OpsJob = compute.REBUILD_JOB) -> dict[str, PlannedResource]:
    found = {
        found.inputs["location"]: found
        for found in LAYER.mine(plan, JOB)
        if found.name == compute.ops_job_name(prefix(plan), job, found.inputs["location"])
    }
    assert found, f"no {job} job"  # every job runs in at least the primary region: loops over them must run
    return found


def services(plan: Plan) -> dict[str, PlannedResource]:
    return {service.inputs["location"]: service for service in LAYER.mine(plan, RUN)}


def only_container(job: PlannedResource) -> dict[str, object]:
    [container] = job.inputs["template"]["template"]["containers"]
    return container  # type: ignore[no-any-return]


def api_container(service: PlannedResource) -> dict[str, object]:
    [container] = [c for c in service.inputs["template"]["containers"] if c["name"] == compute.API_CONTAINER]
    return container  # type: ignore[no-any-return]


def test_one_job_per_api_region(plan: Plan) -> None:
    found = jobs(plan)

    assert set(found) == set(services(plan))
    for region, job in found.items():
        assert job.name == job.inputs["name"] == f"{prefix(plan)}-leaderboards-rebuild-{region}"
        assert len(job.name) <= 63  # Cloud Run's limit on job names
        assert job.provider == f"pulumi:providers:gcp::{prefix(plan)}-gcp"
        assert job.inputs["deletionProtection"] is False


def test_pinned_job_names() -> None:
    assert sorted(jobs(plan_for("prod", 3))) == ["europe-west4", "us-central1", "us-east4"]
    assert plan_for("prod", 3).outputs["leaderboardsRebuildJobs"] == {
        region: f"pog-prod-leaderboards-rebuild-{region}"
        for region in ("us-central1", "us-east4", "europe-west4")
    }
    assert plan_for("dev", 1).outputs["leaderboardsRebuildJobs"] == {
        "us-central1": "pog-dev-leaderboards-rebuild-us-central1"
    }


@pytest.mark.parametrize("ops_job", compute.BACKEND.jobs, ids=lambda j: j.name)
def test_the_job_runs_the_api_image_as_the_api_with_its_settings(plan: Plan, ops_job: compute.OpsJob) -> None:
    """Same identity, same egress (Redis Cloud admits the NAT's addresses only), same env and secrets."""
    found = jobs(plan, ops_job)
    assert found
    for region, job in found.items():
        service, template = services(plan)[region], job.inputs["template"]["template"]
        container = only_container(job)

        assert f"serviceAccount:{template['serviceAccount']}" == api_member(plan)
        assert template["serviceAccount"] == service.inputs["template"]["serviceAccount"]
        assert template["vpcAccess"] == service.inputs["template"]["vpcAccess"]
        assert template["vpcAccess"]["egress"] == "ALL_TRAFFIC"
        assert container["image"] == api_container(service)["image"]
        assert container["envs"] == api_container(service)["envs"]


def test_the_job_starts_after_the_redis_url_is_written(plan: Plan) -> None:
    version = f"{SECRET_VERSION}::{prefix(plan)}-redis-url-version"
    for job in [*jobs(plan).values(), *jobs(plan, compute.ANNOUNCE_JOB).values()]:
        assert version in job.depends_on, job.name


def test_the_announcer_runs_every_minute_in_the_primary_region(plan: Plan) -> None:
    [(region, job)] = jobs(plan, compute.ANNOUNCE_JOB).items()
    assert region == "us-central1"
    assert only_container(job)["args"] == ["events", "announce"]
    assert job.inputs["template"]["template"]["maxRetries"] == 0, "the next minute's run is the retry"
    [schedule] = [
        s for s in LAYER.mine(plan, SCHEDULE) if s.name == f"{prefix(plan)}-events-announce-schedule"
    ]
    assert schedule.inputs["schedule"] == "* * * * *"
    target = schedule.inputs["httpTarget"]
    assert target["httpMethod"] == "POST"
    assert target["uri"] == (
        f"https://run.googleapis.com/v2/projects/{job.inputs['project']}/locations/{region}"
        f"/jobs/{job.inputs['name']}:run"
    )
    assert f"serviceAccount:{target['oauthToken']['serviceAccountEmail']}" == api_member(plan)
    # The scheduler's identity may run this job only: a grant on the job, not on the project.
    [invoker] = [i for i in LAYER.mine(plan, JOB_INVOKER) if i.inputs["name"] == job.inputs["name"]]
    assert invoker.inputs["role"] == "roles/run.invoker"
    assert invoker.inputs["member"] == api_member(plan)
    assert invoker.key in schedule.depends_on


def test_the_period_job_runs_daily_in_every_region_staggered(plan: Plan) -> None:
    """`pog leaderboards rewards` (archives, period rewards, checkpoints) in every API region: the primary a
    few minutes after midnight UTC, each other region 20 minutes later than the one before, so a lost
    primary's run is made up within the hour; a run that finds the work done grants nothing."""
    found = jobs(plan, compute.REWARDS_JOB)
    assert set(found) == set(services(plan))
    schedules = {
        s.inputs["region"]: s for s in LAYER.mine(plan, SCHEDULE) if "leaderboards-rewards" in s.name
    }
    assert set(schedules) == set(found)
    expected = ["5 0 * * *", "25 0 * * *", "45 0 * * *"]
    failover = stack_config(plan, "failoverRegions")
    regions = [
        stack_config(plan, "region"),
        *(json.loads(failover) if isinstance(failover, str) else failover),
    ]
    ordered = [schedules[region].inputs["schedule"] for region in regions if region in schedules]
    assert ordered == expected[: len(found)]
    for region, job in found.items():
        assert only_container(job)["args"] == ["leaderboards", "rewards"]
        assert job.inputs["template"]["template"]["maxRetries"] == 1
        target = schedules[region].inputs["httpTarget"]["uri"]
        assert target.endswith(f"/locations/{region}/jobs/{job.inputs['name']}:run")
        [invoker] = [i for i in LAYER.mine(plan, JOB_INVOKER) if i.inputs["name"] == job.inputs["name"]]
        assert invoker.inputs["member"] == api_member(plan)
        assert invoker.key in schedules[region].depends_on
    assert plan.outputs["opsJobs"]["leaderboards-rewards"] == {r: j.inputs["name"] for r, j in found.items()}


def test_one_run_never_outlives_the_rebuild_lock(plan: Plan) -> None:
    for job in jobs(plan).values():
        template = job.inputs["template"]
        assert (template["taskCount"], template["parallelism"]) == (1, 1)
        assert template["template"]["timeout"] == f"{REBUILD_LOCK_S}s"
        assert template["template"]["maxRetries"] == 0


def _run_job_command(
    job: PlannedResource, *extra: str, only_the_image: bool = False
) -> subprocess.CompletedProcess[str]:
    """The job's command and args as Cloud Run runs them, with this interpreter (the dev venv).

    ``only_the_image``: imports are limited to what the app image installs (ONLY_THE_IMAGE)."""
    container = only_container(job)
    program, flag, module = container["commands"]  # type: ignore[misc]
    assert (program, flag) == ("python", "-m")
    code = f"import runpy; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    env = dict(os.environ)
    if only_the_image:
        code = ONLY_THE_IMAGE + code
        env["POG_NOT_IN_IMAGE"] = json.dumps(not_in_image())
    return subprocess.run(
        [sys.executable, "-c", code, *container["args"], *extra],  # type: ignore[misc]
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_job_command_is_pog_leaderboards_rebuild() -> None:
    [job] = jobs(plan_for("dev", 1)).values()

    shown = _run_job_command(job, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "Usage: pog leaderboards rebuild [OPTIONS]" in shown.stdout
    # An override of the args (`gcloud run jobs execute --args=...`) reaches the command's own checks.
    refused = _run_job_command(job, "--period", "hourly")
    assert refused.returncode == 2
    assert "--period must be one of daily, weekly, monthly, all_time" in refused.stderr


# --- what the app image can import -----------------------------------------------------------------

#: Refuses the top-level modules the app image lacks (POG_NOT_IN_IMAGE): those of installed distributions
#: outside requirements-app.lock, and the repository's packages the Dockerfile does not copy.
ONLY_THE_IMAGE = """
import json, os, sys
from importlib.abc import MetaPathFinder
_missing = frozenset(json.loads(os.environ["POG_NOT_IN_IMAGE"]))
class _OnlyTheImage(MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        top = fullname.partition(".")[0]
        if top in _missing:
            raise ModuleNotFoundError(f"No module named {top!r} in the app image", name=top)
        return None
sys.meta_path.insert(0, _OnlyTheImage())
"""
#: pyproject.toml packages besides app/, which is all the Dockerfile copies.
REPOSITORY_PACKAGES_NOT_COPIED = ("infra", "backups")


def _normal(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def not_in_image() -> list[str]:
    """Top-level modules this venv has and the image does not: no distribution of the runtime lock
    provides them."""
    lock = (ROOT / "requirements-app.lock").read_text()
    pinned = {
        _normal(re.sub(r"\[.*\]", "", m[1])) for m in re.finditer(r"^([A-Za-z0-9_.\[\]-]+)==", lock, re.M)
    }
    missing = {
        module
        for module, distributions in metadata.packages_distributions().items()
        if not any(_normal(d) in pinned for d in distributions)
    }
    return sorted(missing - {"app"} | set(REPOSITORY_PACKAGES_NOT_COPIED))


def test_the_image_limit_admits_the_api_server_and_refuses_the_rest() -> None:
    """The limit itself: the API server (the image's CMD) imports; the infra CLI (Pulumi) does not."""
    missing = set(not_in_image())
    assert {"pulumi", "pulumi_gcp", "pytest", "infra"} <= missing
    assert "typer" not in missing, "the ops commands (app/ops/) run in the image"
    assert not {"fastapi", "uvicorn", "redis", "google", "app"} & missing
    code = ONLY_THE_IMAGE + "import app.main, uvicorn; print('server imports'); import infra.plan.cli"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "POG_NOT_IN_IMAGE": json.dumps(sorted(missing))},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout == "server imports\n", result.stderr
    assert "No module named 'infra' in the app image" in result.stderr, result.stderr


@pytest.mark.parametrize("ops_job", compute.BACKEND.jobs, ids=lambda j: j.name)
def test_the_app_image_can_run_the_job_command(ops_job: compute.OpsJob) -> None:
    [job] = jobs(plan_for("dev", 1), ops_job).values()

    shown = _run_job_command(job, "--help", only_the_image=True)

    assert shown.returncode == 0, shown.stderr
    assert f"Usage: pog {' '.join(ops_job.args)}" in shown.stdout
