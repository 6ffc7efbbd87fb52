"""Helpers every component shares: names, child options, the one way to make a bucket."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

# Cloud Run, buckets and other regional resources are labelled so cost reports split by layer.
MANAGED_BY = "pulumi"


def labels(prefix: str, layer: str) -> dict[str, str]:
    environment = prefix.rsplit("-", 1)[-1]
    return {"app": "pot-of-gold", "env": environment, "layer": layer, "managed-by": MANAGED_BY}


def child(
    parent: pulumi.Resource,
    *,
    protect: bool = False,
    depends_on: Sequence[pulumi.Resource] = (),
    **kwargs: object,
) -> pulumi.ResourceOptions:
    """Options for a component's child: parented, provider inherited from the component."""
    return pulumi.ResourceOptions(
        parent=parent,
        protect=protect,
        depends_on=list(depends_on) or None,
        **kwargs,  # type: ignore[arg-type]
    )


def private_bucket(
    resource_name: str,
    *,
    bucket_name: str,
    project: str,
    location: str,
    labels: dict[str, str],
    protect: bool,
    parent: pulumi.Resource,
    noncurrent_versions_kept: int = 3,
    nearline_after_days: int | None = None,
    coldline_after_days: int | None = None,
    delete_after_days: int | None = None,
    retention_days: int | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
) -> gcp.storage.Bucket:
    """A bucket that can never be public: uniform access, public access prevention, versioning.

    Lifecycle moves objects to colder classes and deletes them after the retention window;
    noncurrent versions are kept a few generations so an overwrite can be undone.
    """
    rules: list[gcp.storage.BucketLifecycleRuleArgs] = []
    if nearline_after_days is not None:
        rules.append(_move_to("NEARLINE", nearline_after_days))
    if coldline_after_days is not None:
        rules.append(_move_to("COLDLINE", coldline_after_days))
    if delete_after_days is not None:
        rules.append(
            gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=delete_after_days),
            )
        )
    rules.append(
        gcp.storage.BucketLifecycleRuleArgs(
            action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
            condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                num_newer_versions=noncurrent_versions_kept, with_state="ARCHIVED"
            ),
        )
    )
    return gcp.storage.Bucket(
        resource_name,
        name=bucket_name,
        project=project,
        location=location,
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        versioning=gcp.storage.BucketVersioningArgs(enabled=True),
        lifecycle_rules=rules,
        retention_policy=(
            gcp.storage.BucketRetentionPolicyArgs(retention_period=str(retention_days * 86_400))
            if retention_days is not None
            else None
        ),
        soft_delete_policy=gcp.storage.BucketSoftDeletePolicyArgs(retention_duration_seconds=7 * 86_400),
        force_destroy=False,
        labels=labels,
        opts=child(parent, protect=protect, depends_on=depends_on),
    )


def _move_to(storage_class: str, age_days: int) -> gcp.storage.BucketLifecycleRuleArgs:
    return gcp.storage.BucketLifecycleRuleArgs(
        action=gcp.storage.BucketLifecycleRuleActionArgs(type="SetStorageClass", storage_class=storage_class),
        condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=age_days),
    )
