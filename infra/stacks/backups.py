"""Backups: Firestore backup schedules and a daily managed export to GCS, run by Cloud Scheduler."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile


@dataclass
class BackupsArgs:
    prefix: str
    project: str
    scheduler_region: str
    bucket_location: str
    databases: dict[str, gcp.firestore.Database]
    exporter_service_account: gcp.serviceaccount.Account
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = ()


class Backups(pulumi.ComponentResource):
    """Public attributes: export_bucket: gcp.storage.Bucket"""

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:backups:Backups", name, None, opts)
        self.register_outputs({})
