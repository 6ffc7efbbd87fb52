"""Foundation: APIs, workload service accounts, KMS, Secret Manager, Artifact Registry, network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pulumi
import pulumi_gcp as gcp

import contract
from infra.phases import PhaseProfile
from infra.stacks.common import child, labels
from infra.stacks.network import egress_network

BACKEND = contract.load()

# Secret Manager secrets the app reads, keyed by the environment variable Cloud Run maps them to
# (contract/backend.yaml: settings with secret: true). POG_REDIS_URL's versions are written by the cache
# layer, write-only.
APP_SECRETS: tuple[str, ...] = BACKEND.secrets

# The APIs this program's own resources need; the app's clients add theirs (contract google_apis).
PROGRAM_APIS: tuple[str, ...] = (
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",  # the analytics dataset (infra/stacks/analytics.py)
    "certificatemanager.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "firebase.googleapis.com",
    "firebasedatabase.googleapis.com",
    # Firebase Performance Monitoring of the game client (its SDK reports here; docs/operations.md#traces)
    "firebaseperformance.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "identitytoolkit.googleapis.com",
    "pubsub.googleapis.com",  # Secret Manager's rotation notices
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
)
APIS: tuple[str, ...] = tuple(sorted({*PROGRAM_APIS, *BACKEND.google_apis}))

KEY_ROTATION_PERIOD = "2592000s"  # 30 days: the architecture's key rotation rule
ROTATION_INTERVAL = timedelta(days=30)
ROTATION_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# A notice waits this long for on-call to rotate and acknowledge it (the alert fires meanwhile).
ROTATION_NOTICE_RETENTION = "604800s"

# Data Access audit logs (CKV2_GCP_5); datastore.googleapis.com covers the Firestore API too, and
# storage.googleapis.com records who reads the backup and export buckets (CKV_GCP_62).
AUDITED_SERVICES: tuple[str, ...] = (
    "datastore.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudkms.googleapis.com",
    "storage.googleapis.com",
)
AUDIT_LOG_TYPES: tuple[str, ...] = ("ADMIN_READ", "DATA_READ", "DATA_WRITE")

IMAGES_KEPT = 10
UNTAGGED_IMAGE_MAX_AGE = "1209600s"  # 14 days


def secret_id(prefix: str, env_var: str, region: str | None = None) -> str:
    """POG_STRIPE_API_KEY -> pog-dev-stripe-api-key; with a region: pog-prod-redis-url-europe-west1."""
    slug = f"{prefix}-{env_var.removeprefix('POG_').lower().replace('_', '-')}"
    return slug if region is None else f"{slug}-{region}"


def next_rotation_time(now: datetime | None = None) -> str:
    """The first 30-day mark after ``now`` counted from ROTATION_EPOCH: the same value for 30 days, so
    plans stay byte-identical, and always in the future, as Secret Manager requires on create."""
    now = now or datetime.now(UTC)
    periods = (now - ROTATION_EPOCH) // ROTATION_INTERVAL + 1
    return (ROTATION_EPOCH + periods * ROTATION_INTERVAL).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FoundationArgs:
    prefix: str
    project: str
    primary_region: str
    api_regions: tuple[str, ...]
    profile: PhaseProfile


class Foundation(pulumi.ComponentResource):
    """Public attributes other layers use:

    apis: dict[str, gcp.projects.Service]          keyed by service name, e.g. "run.googleapis.com"
    service_accounts: dict[str, gcp.serviceaccount.Account]   keys "api", "exporter"
    key_ring: gcp.kms.KeyRing; crypto_key: gcp.kms.CryptoKey
    secrets: dict[str, gcp.secretmanager.Secret]   keyed by APP_SECRETS
    regional_secrets: dict[str, dict[str, gcp.secretmanager.Secret]]  env var -> API region -> secret
                   (the shared one unless the contract makes the setting regional in this phase)
    rotation_topic, rotation_subscription          Secret Manager's 30-day rotation notices
    artifact_repository: gcp.artifactregistry.Repository
    network: gcp.compute.Network; subnets: dict[str, gcp.compute.Subnetwork] keyed by region
    egress_addresses: list[gcp.compute.Address]   static NAT egress IPs (Redis allowlist)
    """

    def __init__(self, name: str, args: FoundationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:foundation:Foundation", name, None, opts)
        self._args = args
        p = args.prefix
        self.apis: dict[str, gcp.projects.Service] = {
            service: gcp.projects.Service(
                f"{p}-api-{service.split('.', 1)[0]}",
                project=args.project,
                service=service,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child(self),
            )
            for service in APIS
        }

        self.service_accounts: dict[str, gcp.serviceaccount.Account] = {
            "api": self._service_account("api", "Game API (Cloud Run runtime)"),
            "exporter": self._service_account("exporter", "Firestore exports (Cloud Scheduler)"),
        }
        self._contract_roles()
        self._kms()
        self._secrets()
        self._artifact_repository()
        self._network()
        for service in AUDITED_SERVICES:
            gcp.projects.IAMAuditConfig(
                f"{p}-audit-{service.split('.', 1)[0]}",
                project=args.project,
                service=service,
                audit_log_configs=[
                    gcp.projects.IAMAuditConfigAuditLogConfigArgs(log_type=t) for t in AUDIT_LOG_TYPES
                ],
                opts=child(self, depends_on=[self.apis["cloudresourcemanager.googleapis.com"]]),
            )

        self.register_outputs(
            {
                "serviceAccounts": {k: sa.email for k, sa in self.service_accounts.items()},
                "cryptoKey": self.crypto_key.id,
                "secrets": {k: s.id for k, s in self.secrets.items()},
                "artifactRepository": self.artifact_repository.id,
                "network": self.network.id,
                "egressAddresses": [a.address for a in self.egress_addresses],
            }
        )

    def _contract_roles(self) -> None:
        """The project roles the contract gives each account; custom roles where a predefined one is wider."""
        args, p = self._args, self._args.prefix
        iam_api = [self.apis["iam.googleapis.com"]]
        custom = {
            role_id: gcp.projects.IAMCustomRole(
                f"{p}-role-{role_id}",
                project=args.project,
                # Custom role ids are project-wide and cannot be reused for 37 days after a delete.
                role_id=role_id,
                title=role.title,
                permissions=list(role.permissions),
                stage="GA",
                opts=child(self, depends_on=iam_api),
            )
            for role_id, role in BACKEND.custom_roles.items()
        }
        for key, roles in BACKEND.roles.items():
            account = self.service_accounts[key]
            for role in roles:
                custom_role = custom.get(role)
                gcp.projects.IAMMember(
                    f"{p}-{key}-{role.removeprefix('roles/').replace('.', '-').lower()}",
                    project=args.project,
                    role=role if custom_role is None else contract.custom_role_name(args.project, role),
                    member=account.member,
                    opts=child(
                        self,
                        depends_on=[
                            self.apis["cloudresourcemanager.googleapis.com"],
                            *([] if custom_role is None else [custom_role]),
                        ],
                    ),
                )

    def _service_account(self, key: str, description: str) -> gcp.serviceaccount.Account:
        p = self._args.prefix
        return gcp.serviceaccount.Account(
            f"{p}-sa-{key}",
            project=self._args.project,
            account_id=f"{p}-{key}",
            display_name=f"{p} {key}",
            description=description,
            opts=child(self, depends_on=[self.apis["iam.googleapis.com"]]),
        )

    def _kms(self) -> None:
        args, p = self._args, self._args.prefix
        kms_api = [self.apis["cloudkms.googleapis.com"]]
        # Key rings and keys cannot be deleted in Cloud KMS: protected in every environment.
        self.key_ring = gcp.kms.KeyRing(
            f"{p}-keyring",
            name=f"{p}-keyring",
            project=args.project,
            location=args.primary_region,
            opts=child(self, protect=True, depends_on=kms_api),
        )
        self.crypto_key = gcp.kms.CryptoKey(
            f"{p}-data-key",
            name=f"{p}-data-key",
            key_ring=self.key_ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=KEY_ROTATION_PERIOD,
            version_template=gcp.kms.CryptoKeyVersionTemplateArgs(
                algorithm="GOOGLE_SYMMETRIC_ENCRYPTION", protection_level="SOFTWARE"
            ),
            labels=labels(p, "foundation"),
            opts=child(self, protect=True, depends_on=kms_api),
        )
        gcp.kms.CryptoKeyIAMMember(
            f"{p}-data-key-api-encrypter-decrypter",
            crypto_key_id=self.crypto_key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=self.service_accounts["api"].member,
            opts=child(self),
        )

    def _secrets(self) -> None:
        """One secret per secret setting of the contract, and per API region where the setting is regional
        (the primary region keeps the shared secret, so a promotion adds secrets and replaces none)."""
        args, p = self._args, self._args.prefix
        profile = args.profile
        topic = self._rotation_topic()
        self.secrets: dict[str, gcp.secretmanager.Secret] = {}
        self.regional_secrets: dict[str, dict[str, gcp.secretmanager.Secret]] = {}
        for env_var in APP_SECRETS:
            shared = self._secret(secret_id(p, env_var), topic)
            self.secrets[env_var] = shared
            regional = BACKEND.settings[env_var].regional_in(profile.environment, profile.phase)
            self.regional_secrets[env_var] = {
                region: shared
                if index == 0 or not regional
                else self._secret(secret_id(p, env_var, region), topic)
                for index, region in enumerate(args.api_regions)
            }

    def _secret(self, name: str, topic: gcp.pubsub.Topic) -> gcp.secretmanager.Secret:
        args, p = self._args, self._args.prefix
        slug = name.removeprefix(f"{p}-")
        # Replication is immutable: user-managed replicas in the API regions would force a
        # replacement (and lose the out-of-band values) when phase 3 adds regions.
        secret = gcp.secretmanager.Secret(
            f"{p}-secret-{slug}",
            project=args.project,
            secret_id=name,
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs()
            ),
            # Secret Manager publishes SECRET_ROTATE to the topic every 30 days; nothing here can rotate a
            # third-party key, so the notice raises the secret-rotation-due alert (runbooks/alerts/).
            topics=[gcp.secretmanager.SecretTopicArgs(name=topic.id)],
            rotation=gcp.secretmanager.SecretRotationArgs(
                rotation_period=KEY_ROTATION_PERIOD, next_rotation_time=next_rotation_time()
            ),
            labels=labels(p, "foundation"),
            opts=child(
                self,
                protect=args.profile.is_prod,
                depends_on=[self.apis["secretmanager.googleapis.com"], self._rotation_publisher],
                # Secret Manager moves the next rotation forward itself after each notice.
                ignore_changes=["rotation.nextRotationTime"],
            ),
        )
        gcp.secretmanager.SecretIamMember(
            f"{p}-secret-{slug}-api-accessor",
            project=args.project,
            secret_id=secret.id,
            role="roles/secretmanager.secretAccessor",
            member=self.service_accounts["api"].member,
            opts=child(self),
        )
        return secret

    def _rotation_topic(self) -> gcp.pubsub.Topic:
        """Secret Manager's rotation notices, and the subscription whose backlog the alert reads."""
        args, p = self._args, self._args.prefix
        pubsub_api = [self.apis["pubsub.googleapis.com"]]
        self.rotation_topic = gcp.pubsub.Topic(
            f"{p}-secret-rotation",
            name=f"{p}-secret-rotation",
            project=args.project,
            labels=labels(p, "foundation"),
            opts=child(self, depends_on=pubsub_api),
        )
        project_number = gcp.organizations.get_project_output(
            project_id=args.project, opts=pulumi.InvokeOutputOptions(parent=self)
        ).number
        self._rotation_publisher = gcp.pubsub.TopicIAMMember(
            f"{p}-secret-rotation-secretmanager-publisher",
            project=args.project,
            topic=self.rotation_topic.name,
            role="roles/pubsub.publisher",
            member=project_number.apply(
                lambda n: f"serviceAccount:service-{n}@gcp-sa-secretmanager.iam.gserviceaccount.com"
            ),
            opts=child(self),
        )
        # Nobody consumes it: an unacknowledged notice is a rotation due. On-call acknowledges it after
        # rotating (runbooks/procedures/key-rotation.md), which clears the alert.
        self.rotation_subscription = gcp.pubsub.Subscription(
            f"{p}-secret-rotation-due",
            name=f"{p}-secret-rotation-due",
            project=args.project,
            topic=self.rotation_topic.id,
            ack_deadline_seconds=600,
            message_retention_duration=ROTATION_NOTICE_RETENTION,
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            labels=labels(p, "foundation"),
            opts=child(self),
        )
        return self.rotation_topic

    def _artifact_repository(self) -> None:
        args, p = self._args, self._args.prefix
        self.artifact_repository = gcp.artifactregistry.Repository(
            f"{p}-images",
            project=args.project,
            location=args.primary_region,
            repository_id=f"{p}-images",
            format="DOCKER",
            description="Game API images, deployed by digest",
            cleanup_policy_dry_run=False,
            # KEEP wins over DELETE, so the newest images survive even when untagged.
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=IMAGES_KEPT
                    ),
                ),
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-untagged",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="UNTAGGED", older_than=UNTAGGED_IMAGE_MAX_AGE
                    ),
                ),
            ],
            labels=labels(p, "foundation"),
            opts=child(self, depends_on=[self.apis["artifactregistry.googleapis.com"]]),
        )

    def _network(self) -> None:
        args = self._args
        egress = egress_network(
            self, args.prefix, args.project, args.api_regions, [self.apis["compute.googleapis.com"]]
        )
        self.network, self.subnets, self.egress_addresses = egress.network, egress.subnets, egress.addresses
