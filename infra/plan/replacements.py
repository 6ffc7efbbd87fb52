"""Provider knowledge the offline diff needs: which property changes force a replacement, and which
resource types hold data that a destroy or a replacement would lose.

The mock engine knows no provider schema, so this is a curated table. Each entry cites where it comes
from: ``immutable: true`` in Magic Modules (``mmv1/products/<product>/<Resource>.yaml``, which the
Google provider generates ``ForceNew`` from, and pulumi-gcp bridges), ``ForceNew`` in a hand-written
Terraform resource, "Modifying this attribute will force creation of a new resource" in the
pulumi-rediscloud docs, or ``RequiresReplace()`` in the Cloudflare v5 provider schema.
It is deliberately incomplete: a missing entry shows a replacement as an in-place change, so add the
property when ``pulumi preview`` shows ``replace`` where ``pog diff`` said ``change``.

Paths are input property paths as the engine receives them (camelCase): ``a.b`` for a nested
property, ``a[].b`` for ``b`` in any item of the list ``a``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReplacementRule:
    type: str  # an exact type token, or a prefix ending in "*" ("gcp:*")
    path: str
    reason: str

    def applies_to(self, type_: str) -> bool:
        if self.type.endswith("*"):
            return type_.startswith(self.type[:-1])
        return type_ == self.type


def _rules(type_: str, reason_by_path: dict[str, str]) -> tuple[ReplacementRule, ...]:
    return tuple(ReplacementRule(type_, path, reason) for path, reason in reason_by_path.items())


_IMMUTABLE = "immutable: the provider deletes and re-creates"

REPLACEMENT_RULES: tuple[ReplacementRule, ...] = (
    # Every Google resource: `project` is ForceNew (the resource lives in exactly one project).
    ReplacementRule("gcp:*", "project", "a resource cannot move to another project"),
    # mmv1/products/firestore/Database.yaml: name, locationId and cmekConfig are immutable.
    # `type` (FIRESTORE_NATIVE / DATASTORE_MODE) is NOT: the provider PATCHes it in place.
    *_rules(
        "gcp:firestore/database:Database",
        {
            "name": "the database id is immutable",
            "locationId": "a Firestore database cannot change location",
            "cmekConfig": "CMEK is chosen at creation",
            "databaseEdition": "the edition is chosen at creation",
        },
    ),
    # mmv1/products/firestore/Index.yaml: `immutable: true` on the whole resource.
    *_rules(
        "gcp:firestore/index:Index",
        {
            "database": "indexes are immutable",
            "collection": "indexes are immutable",
            "queryScope": "indexes are immutable",
            "apiScope": "indexes are immutable",
            "fields": "indexes are immutable",
            "density": "indexes are immutable",
            "multikey": "indexes are immutable",
        },
    ),
    # mmv1/products/firestore/Field.yaml: database, collection and field are immutable.
    *_rules(
        "gcp:firestore/field:Field",
        {"database": _IMMUTABLE, "collection": _IMMUTABLE, "field": _IMMUTABLE},
    ),
    # mmv1/products/firebase/DatabaseInstance.yaml: instanceId, region and type are immutable.
    *_rules(
        "gcp:firebase/databaseInstance:DatabaseInstance",
        {
            "instanceId": "the instance id is immutable",
            "region": "a Realtime Database instance cannot change region",
            "type": _IMMUTABLE,
        },
    ),
    # mmv1/products/kms/KeyRing.yaml: `immutable: true` on the whole resource (and key rings can
    # never be deleted in Google Cloud: a "replaced" key ring leaves the old one behind).
    *_rules(
        "gcp:kms/keyRing:KeyRing",
        {"name": "key rings are immutable", "location": "key rings are immutable"},
    ),
    # mmv1/products/kms/CryptoKey.yaml: keyRing, name, purpose, skipInitialVersionCreation,
    # importOnly, destroyScheduledDuration and versionTemplate.protectionLevel are immutable.
    *_rules(
        "gcp:kms/cryptoKey:CryptoKey",
        {
            "keyRing": "a key cannot move to another key ring",
            "name": "the key name is immutable",
            "purpose": "the key purpose is immutable",
            "versionTemplate.protectionLevel": "the protection level is immutable",
            "importOnly": _IMMUTABLE,
            "skipInitialVersionCreation": _IMMUTABLE,
            "destroyScheduledDuration": _IMMUTABLE,
        },
    ),
    # mmv1/products/cloudrunv2/Service.yaml: name and location are immutable.
    *_rules(
        "gcp:cloudrunv2/service:Service",
        {"name": "the service name is immutable", "location": "a service cannot change region"},
    ),
    # mmv1/products/cloudrunv2/Job.yaml: name and location are immutable.
    *_rules(
        "gcp:cloudrunv2/job:Job",
        {"name": "the job name is immutable", "location": "a job cannot change region"},
    ),
    # mmv1/products/cloudscheduler/Job.yaml: name and region are immutable.
    *_rules(
        "gcp:cloudscheduler/job:Job",
        {"name": "the job name is immutable", "region": "a scheduler job cannot change region"},
    ),
    # resource_storage_bucket.go (hand-written): name, location and project are ForceNew.
    *_rules(
        "gcp:storage/bucket:Bucket",
        {"name": "bucket names are immutable", "location": "a bucket cannot change location"},
    ),
    # mmv1/products/secretmanager/Secret.yaml: secretId and replication are immutable
    # (the pulumi-gcp docs also say so for `replication`).
    *_rules(
        "gcp:secretmanager/secret:Secret",
        {
            "secretId": "the secret id is immutable",
            "replication": "replication is chosen at creation",
        },
    ),
    # mmv1/products/artifactregistry/Repository.yaml: repositoryId, location, format, mode and
    # kmsKeyName are immutable.
    *_rules(
        "gcp:artifactregistry/repository:Repository",
        {
            "repositoryId": "the repository id is immutable",
            "location": "a repository cannot change location",
            "format": "the repository format is immutable",
            "mode": _IMMUTABLE,
            "kmsKeyName": _IMMUTABLE,
        },
    ),
    # mmv1/products/compute/RegionNetworkEndpointGroup.yaml: `immutable: true` on the whole resource.
    *_rules(
        "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup",
        {
            "name": "network endpoint groups are immutable",
            "region": "network endpoint groups are immutable",
            "networkEndpointType": "network endpoint groups are immutable",
            "cloudRun": "network endpoint groups are immutable",
            "network": "network endpoint groups are immutable",
            "subnetwork": "network endpoint groups are immutable",
        },
    ),
    # mmv1/products/compute/GlobalAddress.yaml and Address.yaml: immutable except labels; a
    # replaced address is a NEW IP: DNS and allowlists pointing at the old one break.
    *_rules(
        "gcp:compute/globalAddress:GlobalAddress",
        {
            "name": "addresses are immutable (the IP changes)",
            "address": "addresses are immutable (the IP changes)",
            "addressType": "addresses are immutable (the IP changes)",
            "ipVersion": "addresses are immutable (the IP changes)",
            "purpose": "addresses are immutable (the IP changes)",
            "network": "addresses are immutable (the IP changes)",
            "prefixLength": "addresses are immutable (the IP changes)",
        },
    ),
    *_rules(
        "gcp:compute/address:Address",
        {
            "name": "addresses are immutable (the IP changes)",
            "region": "addresses are immutable (the IP changes)",
            "address": "addresses are immutable (the IP changes)",
            "addressType": "addresses are immutable (the IP changes)",
            "networkTier": "addresses are immutable (the IP changes)",
            "purpose": "addresses are immutable (the IP changes)",
            "subnetwork": "addresses are immutable (the IP changes)",
        },
    ),
    # mmv1/products/compute/Network.yaml and Subnetwork.yaml.
    *_rules(
        "gcp:compute/network:Network",
        {"name": _IMMUTABLE, "autoCreateSubnetworks": _IMMUTABLE},
    ),
    *_rules(
        "gcp:compute/subnetwork:Subnetwork",
        {"name": _IMMUTABLE, "network": _IMMUTABLE, "region": _IMMUTABLE},
    ),
    # mmv1/products/compute/Router.yaml; resource_compute_router_nat.go: name, router, region.
    *_rules("gcp:compute/router:Router", {"name": _IMMUTABLE, "region": _IMMUTABLE, "network": _IMMUTABLE}),
    *_rules(
        "gcp:compute/routerNat:RouterNat", {"name": _IMMUTABLE, "router": _IMMUTABLE, "region": _IMMUTABLE}
    ),
    # mmv1/products/certificatemanager/DnsAuthorization.yaml and Certificate.yaml.
    *_rules(
        "gcp:certificatemanager/dnsAuthorization:DnsAuthorization",
        {
            "name": _IMMUTABLE,
            "location": _IMMUTABLE,
            "domain": "the authorized domain is immutable (the CNAME to publish changes)",
            "type": _IMMUTABLE,
        },
    ),
    *_rules(
        "gcp:certificatemanager/certificate:Certificate",
        {"name": _IMMUTABLE, "location": _IMMUTABLE, "scope": _IMMUTABLE, "managed": _IMMUTABLE},
    ),
    # resource_google_service_account.go: account_id is ForceNew (and the pulumi-gcp docs say so):
    # the email changes, so every IAM binding on the old account is lost.
    ReplacementRule(
        "gcp:serviceaccount/account:Account", "accountId", "the account id is immutable (the email changes)"
    ),
    # pulumi-rediscloud docs: "Modifying this attribute will force creation of a new resource".
    *_rules(
        "rediscloud:index/subscription:Subscription",
        {
            "cloudProvider": "the cloud provider and its regions are fixed at creation",
            "memoryStorage": "memory storage (ram / ram-and-flash) is fixed at creation",
            "paymentMethod": "the payment method is fixed at creation",
        },
    ),
    *_rules(
        "rediscloud:index/activeActiveSubscription:ActiveActiveSubscription",
        {
            "cloudProvider": "the cloud provider is fixed at creation",
            "paymentMethod": "the payment method is fixed at creation",
        },
    ),
    *_rules(
        "rediscloud:index/subscriptionDatabase:SubscriptionDatabase",
        {
            "subscriptionId": "a database cannot move to another subscription",
            "modules": "modules are fixed at creation",
            "port": "the port is fixed at creation",
            "protocol": "the protocol is fixed at creation",
        },
    ),
    *_rules(
        "rediscloud:index/activeActiveSubscriptionDatabase:ActiveActiveSubscriptionDatabase",
        {
            "subscriptionId": "a database cannot move to another subscription",
            "name": "the database name is fixed at creation",
            "port": "the port is fixed at creation",
        },
    ),
    ReplacementRule(
        "rediscloud:index/activeActiveSubscriptionRegions:ActiveActiveSubscriptionRegions",
        "subscriptionId",
        "the regions belong to one subscription",
    ),
    # terraform-provider-cloudflare v5 internal/services/dns_record/schema.go: only zone_id has
    # RequiresReplace(); name, type and content are updated in place.
    ReplacementRule("cloudflare:index/dnsRecord:DnsRecord", "zoneId", "a record cannot move to another zone"),
    # internal/services/ruleset/schema.go: account_id, zone_id, kind, name and phase RequiresReplace().
    *_rules(
        "cloudflare:index/ruleset:Ruleset",
        {
            "zoneId": "a ruleset cannot move to another zone",
            "accountId": "a ruleset cannot move to another account",
            "kind": _IMMUTABLE,
            "name": _IMMUTABLE,
            "phase": _IMMUTABLE,
        },
    ),
)

# What a destroy or a replacement of each type loses. Replacing means delete + create: the new
# resource starts empty, whatever the program declares.
DATA_HOLDING: dict[str, str] = {
    "gcp:firestore/database:Database": "every document in the database",
    "gcp:firebase/databaseInstance:DatabaseInstance": "the Realtime Database contents",
    "gcp:storage/bucket:Bucket": "every object in the bucket",
    "rediscloud:index/subscription:Subscription": "every database in it",
    "rediscloud:index/subscriptionDatabase:SubscriptionDatabase": "the Redis data",
    "rediscloud:index/activeActiveSubscription:ActiveActiveSubscription": "every database in it",
    "rediscloud:index/activeActiveSubscriptionDatabase:ActiveActiveSubscriptionDatabase": "the Redis data",
    "rediscloud:index/activeActiveSubscriptionRegions:ActiveActiveSubscriptionRegions": (
        "the Redis data of the removed regions"
    ),
    "gcp:kms/keyRing:KeyRing": "its keys: data encrypted with them becomes unreadable",
    "gcp:kms/cryptoKey:CryptoKey": "its key versions: data encrypted with them becomes unreadable",
    "gcp:secretmanager/secret:Secret": "every secret version (values set outside Pulumi included)",
    "gcp:artifactregistry/repository:Repository": "every image in the repository",
}


def rules_for(type_: str) -> list[ReplacementRule]:
    return [rule for rule in REPLACEMENT_RULES if rule.applies_to(type_)]
