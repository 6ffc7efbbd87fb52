"""contract/backend.yaml against the app's own code, and its validation: a contract that drifts from what
the app reads, runs or calls fails here, before any plan is made."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import contract
from app.core.config import PROD_REQUIRED_SECRETS, Settings
from app.ops.__main__ import app as ops_app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BACKEND = contract.load()

#: A module the app imports -> the Google API its calls reach.
CLIENT_APIS = {
    "google.cloud.firestore": "firestore.googleapis.com",
    "firebase_admin.messaging": "fcm.googleapis.com",
    "firebase_admin.auth": "identitytoolkit.googleapis.com",
    "google.cloud.kms": "cloudkms.googleapis.com",
}


def _app_imports() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_every_setting_is_one_the_app_reads() -> None:
    fields = {f"POG_{name.upper()}" for name in Settings.model_fields}
    assert set(BACKEND.settings) - fields == set()


def test_every_secret_the_app_requires_in_prod_is_required_there() -> None:
    required = {s.name for s in BACKEND.settings_in("prod", 1)}
    assert set(PROD_REQUIRED_SECRETS) <= required
    secrets = set(BACKEND.secrets)
    # POG_AUDIT_KMS_KEY names the key; it is not key material.
    assert set(PROD_REQUIRED_SECRETS) - {"POG_AUDIT_KMS_KEY"} <= secrets


@pytest.mark.parametrize("job", BACKEND.jobs, ids=lambda j: j.name)
def test_every_job_is_a_command_of_the_image(job: contract.Job) -> None:
    shown = CliRunner().invoke(ops_app, [*job.args, "--help"])
    assert shown.exit_code == 0, shown.output
    assert f"Usage: pog {' '.join(job.args)}" in shown.output


def test_every_google_client_the_app_builds_has_its_api_listed() -> None:
    imports = _app_imports()
    used = {api for module, api in CLIENT_APIS.items() if any(i.startswith(module) for i in imports)}
    assert used == set(CLIENT_APIS.values()), "a client in CLIENT_APIS is no longer imported: update the map"
    assert used <= set(BACKEND.google_apis)


def test_phase_2_needs_the_cluster_client_and_phase_3_regional_urls() -> None:
    assert BACKEND.redis["clustered"].client == "cluster"
    assert {s.name for s in BACKEND.settings_in("dev", 2)} >= {"POG_REDIS_CLUSTER"}
    assert BACKEND.settings["POG_REDIS_URL"].regional_in("prod", 3)
    assert not BACKEND.settings["POG_REDIS_URL"].regional_in("prod", 2)


def test_staggered_schedules_move_the_hour_past_midnight() -> None:
    job = BACKEND.job("leaderboards-rewards")
    assert [job.schedule_in(i) for i in range(3)] == ["5 0 * * *", "25 0 * * *", "45 0 * * *"]
    late = contract.parse(
        {"jobs": {"late-job": {**_job(), "schedule": "50 23 * * *", "stagger_minutes": 20}}}
    )
    assert late.jobs[0].schedule_in(1) == "10 0 * * *"


def _job(**overrides: Any) -> dict[str, Any]:
    spec = {
        "args": ["leaderboards", "rewards"],
        "container": "rewards",
        "timeout": "60s",
        "limits": {"cpu": "1", "memory": "512Mi"},
        "regions": "every",
        "schedule": "5 0 * * *",
    }
    spec.update(overrides)
    return spec


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"jobs": {"Bad_Name": _job()}}, "jobs.Bad_Name: a job name is lower-case"),
        ({"jobs": {"a-job": _job(timeout="15m")}}, "jobs.a-job.timeout must be seconds"),
        ({"jobs": {"a-job": _job(regions="some")}}, "jobs.a-job.regions must be every or primary"),
        ({"jobs": {"a-job": _job(schedule=None)}}, "say who runs it under unscheduled"),
        ({"jobs": {"a-job": _job(schedule="*/5 * * * *", stagger_minutes=5)}}, "fixed minute and hour"),
        (
            {"settings": {"REDIS_URL": {"why": "x"}}},
            "settings.REDIS_URL: a setting is an environment variable",
        ),
        ({"settings": {"POG_X": {}}}, "settings.POG_X has no why"),
        (
            {"settings": {"POG_X": {"why": "x", "required": {"phases": [4]}}}},
            "settings.POG_X.required names [4]",
        ),
        (
            {"settings": {"POG_X": {"why": "x", "optional": True, "required": {"phases": [2]}}}},
            "settings.POG_X is both optional and required somewhere",
        ),
        (
            {"service_accounts": {"api": {"roles": {"fcmSender": "pushes"}}}},
            "grants 'fcmSender': use a predefined roles/... role or declare it under custom_roles",
        ),
    ],
)
def test_a_malformed_contract_names_the_entry_and_the_fix(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(contract.ContractError) as refused:
        contract.parse(raw, "backend.yaml")
    assert message in str(refused.value)


def test_the_file_parses_as_written() -> None:
    raw = yaml.safe_load(contract.CONTRACT_FILE.read_text())
    assert contract.parse(raw) == BACKEND
    assert {job.name for job in BACKEND.jobs} == {
        "leaderboards-rebuild",
        "leaderboards-rewards",
        "leaderboards-reconcile",
        "events-announce",
        "audit-anchor",
        "realtime-rules",
        "realtime-sync",
        "realtime-resync",
    }


def test_the_realtime_jobs_are_the_designs() -> None:
    """Issue 20's jobs: the rules hourly (and after every deploy), the mirror sync every minute, the resync
    on demand after a promotion that changes the shard count; all in the primary region."""
    jobs = {name: BACKEND.job(name) for name in ("realtime-rules", "realtime-sync", "realtime-resync")}

    assert {name: (job.args, job.regions, job.schedule) for name, job in jobs.items()} == {
        "realtime-rules": (("realtime", "rules"), "primary", "23 * * * *"),
        "realtime-sync": (("realtime", "sync"), "primary", "* * * * *"),
        "realtime-resync": (("realtime", "resync"), "primary", None),
    }
    assert (jobs["realtime-rules"].timeout, jobs["realtime-rules"].retries) == ("300s", 1)
    assert (jobs["realtime-sync"].timeout, jobs["realtime-sync"].retries) == ("120s", 0)
    assert "phase-promotion.md" in str(jobs["realtime-resync"].unscheduled)
    assert "firebasedatabase.googleapis.com" in BACKEND.google_apis
    assert "roles/firebasedatabase.admin" in BACKEND.roles["api"]
    assert set(BACKEND.consumers["realtime_databases"]) == {"default-rtdb", "rtdb-{n}"}
