"""Backups: Firestore backup schedules and a daily managed export to GCS, run by Cloud Scheduler."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile
from infra.stacks.common import child, labels, private_bucket

# Firestore's limits: daily backups are kept at most 7 days, weekly ones at most 14 weeks.
DAILY_RETENTION = "604800s"
WEEKLY_RETENTION = "8467200s"
WEEKLY_DAY = "SUNDAY"
EXPORT_SCHEDULE = "0 3 * * *"
EXPORT_TIME_ZONE = "Etc/UTC"
# Every export of a database lands under the same prefix; older runs stay as noncurrent versions.
EXPORT_GENERATIONS_KEPT = 30
FIRESTORE_API = "https://firestore.googleapis.com/v1"
# The weekly repository bundles: a year of them, each undeletable for its first four weeks.
REPO_BUNDLES_KEPT_DAYS = 365
REPO_BUNDLES_LOCKED_DAYS = 28
# Lets a federated identity mint the account's tokens (google-github-actions/auth with service_account).
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"


@dataclass
class BackupsArgs:
    prefix: str
    project: str
    scheduler_region: str
    bucket_location: str
    databases: dict[str, gcp.firestore.Database]
    exporter_service_account: gcp.serviceaccount.Account
    profile: PhaseProfile
    #: The CI workflows that may act as the exporter (the monthly snapshot), e.g.
    #: principalSet://iam.googleapis.com/<pool>/attribute.repository/<owner/name>; None grants nobody.
    ci_principal_set: str | None = None
    depends_on: Sequence[pulumi.Resource] = ()


def export_uri(project: str, database_id: str) -> str:
    return f"{FIRESTORE_API}/projects/{project}/databases/{database_id}:exportDocuments"


def export_body(bucket: str, database_id: str) -> str:
    """The exportDocuments request, base64-encoded as Cloud Scheduler wants it."""
    payload = json.dumps({"outputUriPrefix": f"gs://{bucket}/{database_slug(database_id)}"})
    return base64.b64encode(payload.encode()).decode()


def database_slug(database_id: str) -> str:
    """``(default)`` -> ``default``: usable in resource names and object paths."""
    return database_id.strip("()")


class Backups(pulumi.ComponentResource):
    """Public attributes:

    export_bucket: gcp.storage.Bucket
    schedules: dict[str, list[gcp.firestore.BackupSchedule]]   keyed by database id: [daily, weekly]
    export_jobs: dict[str, gcp.cloudscheduler.Job]             keyed by database id
    exporter_email: pulumi.Output[str]                         the account snapshot.yml authenticates as
    ci_impersonation: gcp.serviceaccount.IAMMember | None      CI may act as the exporter (when configured)
    repo_backup_bucket: gcp.storage.Bucket                     weekly bundles of the code repository
    """

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:backups:Backups", name, None, opts)
        prefix = args.prefix
        protect = args.profile.is_prod

        self.export_bucket = private_bucket(
            f"{prefix}-firestore-exports",
            bucket_name=f"{prefix}-firestore-exports",
            project=args.project,
            location=args.bucket_location,
            labels=labels(prefix, "backups"),
            protect=protect,
            parent=self,
            noncurrent_versions_kept=EXPORT_GENERATIONS_KEPT,
            nearline_after_days=30,
            coldline_after_days=90,
            delete_after_days=365,
            depends_on=args.depends_on,
        )

        self._exporter_access(args)
        self.repo_backup_bucket = self._repo_backups(args)

        self.schedules: dict[str, list[gcp.firestore.BackupSchedule]] = {}
        self.export_jobs: dict[str, gcp.cloudscheduler.Job] = {}
        for database_id, database in args.databases.items():
            self._database_backups(args, database_id, database)

        self.register_outputs(
            {
                "repoBackupBucket": self.repo_backup_bucket.name,
                "exportBucket": self.export_bucket.name,
                "exportJobs": {db: job.name for db, job in self.export_jobs.items()},
                "exporterEmail": self.exporter_email,
            }
        )

    def _exporter_access(self, args: BackupsArgs) -> None:
        """What the exporter and the Firestore agent may do with the exports; who may act as the exporter."""
        prefix = args.prefix
        exporter = args.exporter_service_account
        project = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        # The Firestore service agent, not the caller, writes the export files.
        firestore_agent = project.number.apply(
            lambda number: f"serviceAccount:service-{number}@gcp-sa-firestore.iam.gserviceaccount.com"
        )
        bucket_grants: list[tuple[str, str, pulumi.Input[str]]] = [
            ("exporter-object-admin", "roles/storage.objectAdmin", exporter.member),
            ("firestore-agent-object-admin", "roles/storage.objectAdmin", firestore_agent),
            ("firestore-agent-bucket-reader", "roles/storage.legacyBucketReader", firestore_agent),
        ]
        self.bucket_iam = [
            gcp.storage.BucketIAMMember(
                f"{prefix}-firestore-exports-{suffix}",
                bucket=self.export_bucket.name,
                role=role,
                member=member,
                opts=child(self),
            )
            for suffix, role, member in bucket_grants
        ]
        # exportDocuments is authorised on the project only; there is no per-database binding.
        self.exporter_role = gcp.projects.IAMMember(
            f"{prefix}-exporter-import-export-admin",
            project=args.project,
            role="roles/datastore.importExportAdmin",
            member=exporter.member,
            opts=child(self),
        )

        self.exporter_email = exporter.email
        # Resource-level: the CI identity may act as this account only, not as every account in the project.
        self.ci_impersonation = (
            gcp.serviceaccount.IAMMember(
                f"{prefix}-exporter-ci-workload-identity-user",
                service_account_id=pulumi.Output.concat(
                    "projects/", args.project, "/serviceAccounts/", exporter.email
                ),
                role=WORKLOAD_IDENTITY_USER,
                member=args.ci_principal_set,
                opts=child(self),
            )
            if args.ci_principal_set
            else None
        )

    def _database_backups(
        self, args: BackupsArgs, database_id: str, database: gcp.firestore.Database
    ) -> None:
        """Daily and weekly backup schedules of a database, and its daily managed export."""
        prefix, exporter = args.prefix, args.exporter_service_account
        slug = database_slug(database_id)
        self.schedules[database_id] = [
            gcp.firestore.BackupSchedule(
                f"{prefix}-backup-daily-{slug}",
                project=args.project,
                database=database.name,
                retention=DAILY_RETENTION,
                daily_recurrence=gcp.firestore.BackupScheduleDailyRecurrenceArgs(),  # type: ignore[no-untyped-call]
                opts=child(self, depends_on=args.depends_on),
            ),
            gcp.firestore.BackupSchedule(
                f"{prefix}-backup-weekly-{slug}",
                project=args.project,
                database=database.name,
                retention=WEEKLY_RETENTION,
                weekly_recurrence=gcp.firestore.BackupScheduleWeeklyRecurrenceArgs(day=WEEKLY_DAY),
                opts=child(self, depends_on=args.depends_on),
            ),
        ]
        self.export_jobs[database_id] = gcp.cloudscheduler.Job(
            f"{prefix}-firestore-export-{slug}",
            name=f"{prefix}-firestore-export-{slug}",
            project=args.project,
            region=args.scheduler_region,
            description=f"Daily managed export of Firestore database {database_id} to the export bucket",
            schedule=EXPORT_SCHEDULE,
            time_zone=EXPORT_TIME_ZONE,
            attempt_deadline="180s",
            retry_config=gcp.cloudscheduler.JobRetryConfigArgs(
                retry_count=3,
                min_backoff_duration="60s",
                max_backoff_duration="600s",
                max_doublings=3,
            ),
            http_target=gcp.cloudscheduler.JobHttpTargetArgs(
                uri=database.name.apply(functools.partial(export_uri, args.project)),
                http_method="POST",
                headers={"Content-Type": "application/json"},
                body=pulumi.Output.all(self.export_bucket.name, database.name).apply(
                    lambda values: export_body(values[0], values[1])
                ),
                oauth_token=gcp.cloudscheduler.JobHttpTargetOauthTokenArgs(
                    service_account_email=exporter.email,
                    scope="https://www.googleapis.com/auth/datastore",
                ),
            ),
            opts=child(self, depends_on=[*args.depends_on, *self.bucket_iam, self.exporter_role]),
        )

    def _repo_backups(self, args: BackupsArgs) -> gcp.storage.Bucket:
        """The weekly `git bundle` of the code repository (.github/workflows/repo-backup.yml), written by the
        exporter account that CI acts as, in the backup region like the exports."""
        prefix = args.prefix
        bucket = private_bucket(
            f"{prefix}-repo-backups",
            bucket_name=f"{prefix}-repo-backups",
            project=args.project,
            location=args.bucket_location,
            labels=labels(prefix, "backups"),
            protect=args.profile.is_prod,
            parent=self,
            nearline_after_days=30,
            delete_after_days=REPO_BUNDLES_KEPT_DAYS,
            # A leaked CI credential can add bundles but not delete the last weeks' ones.
            retention_days=REPO_BUNDLES_LOCKED_DAYS,
            depends_on=args.depends_on,
        )
        gcp.storage.BucketIAMMember(
            f"{prefix}-repo-backups-exporter-object-creator",
            bucket=bucket.name,
            role="roles/storage.objectCreator",
            member=args.exporter_service_account.member,
            opts=child(self),
        )
        return bucket
