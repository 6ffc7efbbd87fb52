"""The plain (not secret) keys of a stack's config, one field each, as Pulumi.<stack>.yaml spells them.

Field names are the keys in snake_case (``backup_region`` is ``pot-of-gold:backupRegion``); a required
key's ``examples`` is the value the "is required" message suggests setting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from infra.config.values import (
    AdminRanges,
    AlertEmails,
    BillingAccount,
    CloudflareId,
    EnvironmentName,
    FirestoreLocation,
    GithubRepository,
    Hostname,
    ImageByDigest,
    OptionalRegion,
    PaymentMethodId,
    Phase,
    ProjectId,
    Region,
    Regions,
    WorkloadIdentityPool,
    ZoneApex,
)


class StackSettings(BaseModel):
    """Validating one collects a problem per wrong key, in this order; unknown keys are problems too."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True)

    environment: EnvironmentName = Field(examples=["dev"])
    phase: Phase = Field(examples=["1"])
    gcp_project: ProjectId = Field(examples=["my-game-dev"])
    region: Region = Field(examples=["us-central1"])
    failover_regions: Regions = ()
    firestore_location: FirestoreLocation = Field(examples=["nam5"])
    #: Defaults to ``region``.
    backup_region: OptionalRegion = None
    domain: ZoneApex = Field(examples=["potofgold.example"])
    api_hostname: Hostname = Field(examples=["api.potofgold.example"])
    cloudflare_zone_id: CloudflareId = Field(examples=["<32-hex zone id from the Cloudflare dashboard>"])
    cloudflare_account_id: CloudflareId = Field(
        examples=["<32-hex account id from the Cloudflare dashboard>"]
    )
    # Empty is a mistake with its own message, so the default is validated too.
    alert_emails: AlertEmails = Field(default=(), validate_default=True)
    admin_ip_allowlist: AdminRanges = Field(default=(), validate_default=True)
    app_image: ImageByDigest = Field(
        examples=["us-central1-docker.pkg.dev/PROJECT/pot-of-gold/api@sha256:<digest>"]
    )
    redis_cloud_payment_method_id: PaymentMethodId = Field(
        examples=["<id from `Account settings > Payment methods`>"]
    )
    #: The Cloud Billing account that pays for gcpProject: the stack's budget lives on it.
    billing_account: BillingAccount = Field(examples=["<id from `gcloud billing accounts list`>"])
    ci_workload_identity_pool: WorkloadIdentityPool = None
    ci_repository: GithubRepository = None


PLAIN_KEYS: tuple[str, ...] = tuple(
    field.alias for field in StackSettings.model_fields.values() if field.alias is not None
)
LIST_KEYS: tuple[str, ...] = ("failoverRegions", "alertEmails", "adminIpAllowlist")


def set_hint(name: str) -> str:
    """What ``pulumi config set`` should be given for a required key."""
    examples = StackSettings.model_fields[_field_name(name)].examples
    return str(examples[0]) if examples else "<value>"


def _field_name(name: str) -> str:
    return next(field for field, info in StackSettings.model_fields.items() if info.alias == name)
