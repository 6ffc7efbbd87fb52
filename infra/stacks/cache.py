"""Cache: Redis Cloud per phase (replicated, clustered, Active-Active) with remote backups to GCS."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile


@dataclass
class CacheArgs:
    prefix: str
    project: str
    api_regions: tuple[str, ...]
    backup_bucket_location: str
    payment_method_id: str
    source_cidrs: pulumi.Input[list[str]]
    redis_url_secret: gcp.secretmanager.Secret
    profile: PhaseProfile


class Cache(pulumi.ComponentResource):
    """Public attributes:

    endpoints: pulumi.Output[list[str]]  (secret) host:port per region
    backup_bucket: gcp.storage.Bucket
    """

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:cache:Cache", name, None, opts)
        self.endpoints: pulumi.Output[list[str]] = pulumi.Output.secret([])
        self.register_outputs({})
