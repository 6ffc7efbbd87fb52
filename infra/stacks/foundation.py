"""Foundation: APIs, workload service accounts, KMS, Secret Manager, Artifact Registry, network."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile
from infra.stacks.common import child, labels

# Secret Manager secrets the app reads, keyed by the environment variable Cloud Run maps them to.
APP_SECRETS: tuple[str, ...] = (
    "POG_STRIPE_API_KEY",
    "POG_STRIPE_WEBHOOK_SECRET",
    "POG_REVENUECAT_API_KEY",
    "POG_REVENUECAT_WEBHOOK_AUTH",
    "POG_SENTRY_DSN",
    "POG_REDIS_URL",  # version written by the cache layer, write-only
    # The audit log's data key, wrapped by the KMS key (runbooks/procedures/key-rotation.md).
    "POG_AUDIT_WRAPPED_KEY",
)

# Every API a layer of this program calls; other layers depend on these resources.
APIS: tuple[str, ...] = (
    "artifactregistry.googleapis.com",
    "certificatemanager.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtrace.googleapis.com",
    "compute.googleapis.com",
    "firebase.googleapis.com",
    "firebasedatabase.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "identitytoolkit.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
)

# Project-level roles of the API runtime: these services have no resource-level IAM.
API_PROJECT_ROLES: tuple[str, ...] = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/cloudtrace.agent",
)

KEY_ROTATION_PERIOD = "2592000s"  # 30 days

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


def secret_id(prefix: str, env_var: str) -> str:
    """POG_STRIPE_API_KEY -> pog-dev-stripe-api-key."""
    return f"{prefix}-{env_var.removeprefix('POG_').lower().replace('_', '-')}"


def subnet_cidr(index: int) -> str:
    """A /20 per API region (10.10.0.0/20, 10.10.16.0/20, ...).

    Direct VPC egress holds about two addresses per Cloud Run instance (more during a rollout),
    so a region scaled to 200 instances needs far more than a /24.
    """
    return f"10.10.{16 * index}.0/20"


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
        api_sa = self.service_accounts["api"]
        for role in API_PROJECT_ROLES:
            gcp.projects.IAMMember(
                f"{p}-api-{role.removeprefix('roles/').replace('.', '-').lower()}",
                project=args.project,
                role=role,
                member=api_sa.member,
                opts=child(self, depends_on=[self.apis["cloudresourcemanager.googleapis.com"]]),
            )

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
        args, p = self._args, self._args.prefix
        api_sa = self.service_accounts["api"]
        self.secrets: dict[str, gcp.secretmanager.Secret] = {}
        for env_var in APP_SECRETS:
            slug = secret_id(p, env_var).removeprefix(f"{p}-")
            # Replication is immutable: user-managed replicas in the API regions would force a
            # replacement (and lose the out-of-band values) when phase 3 adds regions.
            secret = gcp.secretmanager.Secret(
                f"{p}-secret-{slug}",
                project=args.project,
                secret_id=secret_id(p, env_var),
                replication=gcp.secretmanager.SecretReplicationArgs(
                    auto=gcp.secretmanager.SecretReplicationAutoArgs()
                ),
                labels=labels(p, "foundation"),
                opts=child(
                    self,
                    protect=args.profile.is_prod,
                    depends_on=[self.apis["secretmanager.googleapis.com"]],
                ),
            )
            gcp.secretmanager.SecretIamMember(
                f"{p}-secret-{slug}-api-accessor",
                project=args.project,
                secret_id=secret.id,
                role="roles/secretmanager.secretAccessor",
                member=api_sa.member,
                opts=child(self),
            )
            self.secrets[env_var] = secret

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
        args, p = self._args, self._args.prefix
        compute_api = [self.apis["compute.googleapis.com"]]
        self.network = gcp.compute.Network(
            f"{p}-vpc",
            name=f"{p}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description="Cloud Run direct VPC egress; internet egress through Cloud NAT",
            opts=child(self, depends_on=compute_api),
        )
        self.subnets: dict[str, gcp.compute.Subnetwork] = {}
        self.egress_addresses: list[gcp.compute.Address] = []
        for index, region in enumerate(args.api_regions):
            subnet = gcp.compute.Subnetwork(
                f"{p}-subnet-{region}",
                name=f"{p}-subnet-{region}",
                project=args.project,
                region=region,
                network=self.network.id,
                ip_cidr_range=subnet_cidr(index),
                private_ip_google_access=True,
                opts=child(self),
            )
            address = gcp.compute.Address(
                f"{p}-nat-ip-{region}",
                name=f"{p}-nat-ip-{region}",
                project=args.project,
                region=region,
                address_type="EXTERNAL",
                network_tier="PREMIUM",
                description="Static egress IP of the API (allowlisted by Redis Cloud)",
                labels=labels(p, "foundation"),
                opts=child(self, depends_on=compute_api),
            )
            router = gcp.compute.Router(
                f"{p}-router-{region}",
                name=f"{p}-router-{region}",
                project=args.project,
                region=region,
                network=self.network.id,
                opts=child(self),
            )
            gcp.compute.RouterNat(
                f"{p}-nat-{region}",
                name=f"{p}-nat-{region}",
                project=args.project,
                region=region,
                router=router.name,
                nat_ip_allocate_option="MANUAL_ONLY",
                nat_ips=[address.self_link],
                source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
                subnetworks=[
                    gcp.compute.RouterNatSubnetworkArgs(
                        name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"]
                    )
                ],
                enable_dynamic_port_allocation=True,
                enable_endpoint_independent_mapping=False,
                min_ports_per_vm=64,
                max_ports_per_vm=1024,
                log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
                opts=child(self),
            )
            self.subnets[region] = subnet
            self.egress_addresses.append(address)
