"""Runs one of a stack's ops jobs in every region it is declared in and waits for it (deploy-stack.yml:
the realtime-rules job right after ``pulumi up``, so every Realtime Database shard has the repository's
rules before the smoke test and before any client of this deploy connects).

The jobs come from the stack output ``opsJobs`` (``{job: {region: Cloud Run job name}}``, infra/__main__.py),
passed as the environment variable ``OPS_JOBS``.

    OPS_JOBS='{"realtime-rules": {"us-central1": "pog-dev-realtime-rules-us-central1"}}' \\
        python3 -m scripts.ci.ops_job realtime-rules
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence

from scripts.ci.github import Runner, StepError, error, run


def job_regions(ops_jobs: str, job: str) -> dict[str, str]:
    """``{region: Cloud Run job name}`` of ``job`` in the ``opsJobs`` output."""
    try:
        declared = json.loads(ops_jobs)
    except json.JSONDecodeError as exc:
        raise StepError(f"OPS_JOBS is not the stack's opsJobs output (JSON): {exc}") from None
    found = declared.get(job) if isinstance(declared, dict) else None
    if not isinstance(found, dict) or not found:
        known = ", ".join(sorted(declared)) if isinstance(declared, dict) else "none"
        raise StepError(f"the stack declares no ops job {job!r} (opsJobs has: {known})")
    return {str(region): str(name) for region, name in found.items()}


def execute(job: str, env: Mapping[str, str], runner: Runner = run) -> None:
    """Executes the job in each of its regions, waiting for each; the first failure stops the step."""
    regions = job_regions(env.get("OPS_JOBS", ""), job)
    for region, name in sorted(regions.items()):
        done = runner(["gcloud", "run", "jobs", "execute", name, "--region", region, "--wait"], capture=False)
        if done.returncode != 0:
            raise StepError(f"{name} in {region} failed (exit {done.returncode}): read its execution's logs")


def main(argv: Sequence[str] | None = None, runner: Runner = run) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("job", help="the job's name in the contract, e.g. realtime-rules")
    args = parser.parse_args(argv)
    try:
        execute(args.job, os.environ, runner)
    except StepError as exc:
        error(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
