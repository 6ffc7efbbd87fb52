"""Backups layer: backup schedules per database, daily export jobs, the export bucket and its IAM."""

from __future__ import annotations

import base64
import json

from infra.locations import firestore_spans
from infra.plan.engine import Plan, PlannedResource
from infra.plan.mocks import PROJECT_NUMBER
from infra.plan.stackfile import load_stack
from infra.stacks.backups import database_slug, export_body, export_uri
from tests.infra.stacks.layers import Layer, prefix, project

DATABASE = "gcp:firestore/database:Database"
SCHEDULE = "gcp:firestore/backupSchedule:BackupSchedule"
JOB = "gcp:cloudscheduler/job:Job"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"

LAYER = Layer("potgold:backups:Backups", "backups")
children = LAYER.children
mine = LAYER.mine


def config(plan: Plan, key: str) -> str:
    return load_stack(plan.stack).config[f"pot-of-gold:{key}"]


def exporter(plan: Plan) -> str:
    return f"{prefix(plan)}-exporter@{project(plan)}.iam.gserviceaccount.com"


def database_ids(plan: Plan) -> set[str]:
    ids = {r.inputs["name"] for r in plan.of_type(DATABASE)}
    assert "(default)" in ids
    return ids


def export_bucket(plan: Plan) -> PlannedResource:
    [bucket] = [b for b in mine(plan, BUCKET) if b.inputs["name"].endswith("-firestore-exports")]
    return bucket


def repo_bucket(plan: Plan) -> PlannedResource:
    [bucket] = [b for b in mine(plan, BUCKET) if b.inputs["name"].endswith("-repo-backups")]
    return bucket


def test_children_are_prefixed_and_use_the_gcp_provider(plan: Plan) -> None:
    kids = children(plan)
    assert kids  # how many of each type: test_resource_counts / tests/infra/resource_counts.json
    for r in kids:
        assert r.name.startswith(f"{prefix(plan)}-"), r.name
        assert r.provider == f"pulumi:providers:gcp::{prefix(plan)}-gcp", r.name


def test_daily_and_weekly_schedule_per_database(plan: Plan) -> None:
    schedules: dict[str, list[PlannedResource]] = {}
    for r in mine(plan, SCHEDULE):
        schedules.setdefault(r.inputs["database"], []).append(r)
    assert set(schedules) == database_ids(plan)
    for database, found in schedules.items():
        assert len(found) == 2, database  # Firestore allows at most two schedules per database
        daily = [r for r in found if "dailyRecurrence" in r.inputs]
        weekly = [r for r in found if "weeklyRecurrence" in r.inputs]
        assert len(daily) == len(weekly) == 1, database
        assert daily[0].inputs["retention"] == "604800s"  # 7 days, the daily maximum
        assert weekly[0].inputs["retention"] == "8467200s"  # 14 weeks, the weekly maximum
        assert weekly[0].inputs["weeklyRecurrence"] == {"day": "SUNDAY"}
        assert all(r.inputs["project"] == project(plan) for r in found)


def test_daily_export_job_per_database(plan: Plan) -> None:
    jobs = {r.inputs["name"]: r for r in mine(plan, JOB)}
    bucket = export_bucket(plan).inputs["name"]
    assert len(jobs) == len(database_ids(plan))
    for database in database_ids(plan):
        job = jobs[f"{prefix(plan)}-firestore-export-{database_slug(database)}"]
        assert job.inputs["schedule"] == "0 3 * * *"
        assert job.inputs["timeZone"] == "Etc/UTC"
        assert job.inputs["region"] == config(plan, "region")
        assert job.inputs["retryConfig"]["retryCount"] >= 1
        target = job.inputs["httpTarget"]
        assert target["httpMethod"] == "POST"
        assert target["uri"] == (
            f"https://firestore.googleapis.com/v1/projects/{project(plan)}/databases/{database}:exportDocuments"
        )
        body = json.loads(base64.b64decode(target["body"]))
        assert body == {"outputUriPrefix": f"gs://{bucket}/{database_slug(database)}"}
        assert target["oauthToken"]["serviceAccountEmail"] == exporter(plan)


def test_export_helpers() -> None:
    assert database_slug("(default)") == "default"
    assert database_slug("games-us-east4") == "games-us-east4"
    assert (
        export_uri("p", "(default)")
        == "https://firestore.googleapis.com/v1/projects/p/databases/(default):exportDocuments"
    )
    assert json.loads(base64.b64decode(export_body("b", "(default)"))) == {
        "outputUriPrefix": "gs://b/default"
    }


def test_export_bucket_location_lifecycle_and_protection(plan: Plan, stack_phase: tuple[str, int]) -> None:
    bucket = export_bucket(plan)
    assert bucket.name == bucket.inputs["name"] == f"{prefix(plan)}-firestore-exports"
    assert bucket.protect is (plan.stack == "prod")
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["versioning"] == {"enabled": True}
    location = bucket.inputs["location"]
    # The bucket stays where backupRegion puts it in every phase: a bucket cannot move, and a
    # promotion must not replace a protected bucket full of exports.
    assert location == config(plan, "backupRegion")
    if stack_phase[1] >= 2:
        # A regional outage of the Firestore location must not take the exports with it.
        assert location not in firestore_spans(config(plan, "firestoreLocation"))
    transitions = {
        rule["action"].get("storageClass", rule["action"]["type"]): rule["condition"]
        for rule in bucket.inputs["lifecycleRules"]
        if "age" in rule["condition"]
    }
    assert transitions == {"NEARLINE": {"age": 30}, "COLDLINE": {"age": 90}, "Delete": {"age": 365}}


def test_bucket_grants_exporter_and_firestore_service_agent(plan: Plan) -> None:
    bucket = export_bucket(plan).inputs["name"]
    on_exports = [r for r in mine(plan, BUCKET_IAM) if r.inputs["bucket"] == bucket]
    grants = {(r.inputs["role"], r.inputs["member"]) for r in on_exports}
    assert len(on_exports) == 3
    agent = f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-firestore.iam.gserviceaccount.com"
    assert ("roles/storage.objectAdmin", f"serviceAccount:{exporter(plan)}") in grants
    assert ("roles/storage.objectAdmin", agent) in grants
    assert ("roles/storage.legacyBucketReader", agent) in grants


def test_exporter_may_export_firestore(plan: Plan) -> None:
    [grant] = mine(plan, PROJECT_IAM)
    assert grant.inputs == {
        "member": f"serviceAccount:{exporter(plan)}",
        "project": project(plan),
        "role": "roles/datastore.importExportAdmin",
    }


def test_export_job_waits_for_its_permissions(plan: Plan) -> None:
    exports = export_bucket(plan).inputs["name"]
    iam = {r.key for r in mine(plan, BUCKET_IAM) if r.inputs["bucket"] == exports} | {
        r.key for r in mine(plan, PROJECT_IAM)
    }
    jobs = mine(plan, JOB)
    assert len(jobs) == len(database_ids(plan))
    for job in jobs:
        assert iam <= set(job.depends_on), job.name


def test_repository_bundles_are_kept_a_year_and_locked_four_weeks(plan: Plan) -> None:
    bucket = repo_bucket(plan)
    assert bucket.inputs["location"] == config(plan, "backupRegion")
    assert bucket.inputs["retentionPolicy"] == {"retentionPeriod": str(28 * 86_400)}
    ages = {
        rule["action"].get("storageClass", rule["action"]["type"]): rule["condition"]["age"]
        for rule in bucket.inputs["lifecycleRules"]
        if "age" in rule["condition"]
    }
    assert ages == {"NEARLINE": 30, "Delete": 365}
    assert bucket.protect is (plan.stack == "prod")
    assert plan.outputs["repoBackupBucket"] == bucket.inputs["name"]


def test_only_the_exporter_may_add_repository_bundles(plan: Plan) -> None:
    name = repo_bucket(plan).inputs["name"]
    grants = [
        (r.inputs["role"], r.inputs["member"]) for r in mine(plan, BUCKET_IAM) if r.inputs["bucket"] == name
    ]
    assert grants == [("roles/storage.objectCreator", f"serviceAccount:{exporter(plan)}")]
