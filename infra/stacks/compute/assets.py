"""Phase 2+: the game assets in a private bucket, served through the load balancer with Cloud CDN."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.stacks.common import child, private_bucket
from infra.stacks.compute.args import Scope
from infra.stacks.compute.armor import cloudflare_only_rules


def assets_hostname_for(api_hostname: str) -> str:
    """api.dev.potofgold.games -> assets.dev.potofgold.games"""
    return "assets." + api_hostname.split(".", 1)[1]


def assets_backend(scope: Scope) -> tuple[gcp.storage.Bucket, gcp.compute.BackendBucket]:
    args, p = scope.args, scope.args.prefix
    bucket = private_bucket(
        f"{p}-assets",
        bucket_name=f"{p}-assets",
        project=args.project,
        location=args.api_regions[0],
        labels=scope.labels,
        protect=args.profile.is_prod,
        parent=scope.parent,
        depends_on=scope.deps,
    )
    # Edge policies run before the CDN cache, so cached assets are not served around Cloudflare either.
    edge_policy = gcp.compute.SecurityPolicy(
        f"{p}-assets-edge-armor",
        name=f"{p}-assets-edge-armor",
        project=args.project,
        type="CLOUD_ARMOR_EDGE",
        description="Only Cloudflare reaches the assets",
        rules=cloudflare_only_rules(),
        opts=child(scope.parent, depends_on=scope.deps),
    )
    backend_bucket = gcp.compute.BackendBucket(
        f"{p}-assets-backend",
        name=f"{p}-assets-backend",
        project=args.project,
        bucket_name=bucket.name,
        description="Game assets through Cloud CDN",
        enable_cdn=True,
        compression_mode="AUTOMATIC",
        edge_security_policy=edge_policy.id,
        cdn_policy=gcp.compute.BackendBucketCdnPolicyArgs(
            cache_mode="CACHE_ALL_STATIC",
            client_ttl=3600,
            default_ttl=3600,
            max_ttl=86400,
            negative_caching=True,
            request_coalescing=True,
            serve_while_stale=86400,
        ),
        opts=child(scope.parent),
    )
    _grant_cdn_fill(scope, bucket, backend_bucket)
    return bucket, backend_bucket


def _grant_cdn_fill(
    scope: Scope, bucket: gcp.storage.Bucket, backend_bucket: gcp.compute.BackendBucket
) -> None:
    project_number = gcp.organizations.get_project_output(
        project_id=scope.args.project, opts=pulumi.InvokeOutputOptions(parent=scope.parent)
    ).number
    # The fill account exists once a CDN-enabled backend does; it is the bucket's only reader.
    gcp.storage.BucketIAMMember(
        f"{scope.args.prefix}-assets-cdn-fill-viewer",
        bucket=bucket.name,
        role="roles/storage.objectViewer",
        member=project_number.apply(
            lambda n: f"serviceAccount:service-{n}@cloud-cdn-fill.iam.gserviceaccount.com"
        ),
        opts=child(scope.parent, depends_on=[backend_bucket]),
    )
