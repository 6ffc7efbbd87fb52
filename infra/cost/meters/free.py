"""Resource types that are never billed, each with the reason (a type missing here and in METERS is
reported as unpriced)."""

from __future__ import annotations

FREE: dict[str, str] = {
    # Identities, grants and project settings.
    "gcp:projects/iAMMember:IAMMember": "IAM grants are free",
    "gcp:projects/iAMCustomRole:IAMCustomRole": "IAM roles are free",
    "gcp:projects/iAMAuditConfig:IAMAuditConfig": (
        "audit configuration is free (its logs are in log.ingest_gib)"
    ),
    "gcp:projects/service:Service": "enabling an API is free",
    "gcp:serviceaccount/account:Account": "service accounts are free",
    "gcp:cloudrunv2/jobIamMember:JobIamMember": "IAM grants are free",
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": "IAM grants are free",
    "gcp:secretmanager/secretIamMember:SecretIamMember": "IAM grants are free",
    "gcp:storage/bucketIAMMember:BucketIAMMember": "IAM grants are free",
    "gcp:pubsub/topicIAMMember:TopicIAMMember": "IAM grants are free",
    # Containers of billed things.
    "gcp:kms/keyRing:KeyRing": "key rings are free; their keys' versions are billed",
    "gcp:secretmanager/secretVersion:SecretVersion": "billed on its secret (one active version each)",
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": "IAM grants are free",
    "gcp:bigquery/datasetIamMember:DatasetIamMember": "IAM grants are free",
    "gcp:pubsub/schema:Schema": "Pub/Sub schemas are free; validation is part of the publish",
    "gcp:bigquery/dataset:Dataset": "billed through its tables' storage",
    "rediscloud:index/subscription:Subscription": "billed through its databases' memory",
    "rediscloud:index/activeActiveSubscription:ActiveActiveSubscription": (
        "billed through its database's memory"
    ),
    # Networking configuration.
    "gcp:compute/network:Network": "VPC networks are free",
    "gcp:compute/subnetwork:Subnetwork": "subnets are free (flow logs are off)",
    "gcp:compute/router:Router": "a Cloud Router is free; its NAT gateway is billed",
    "gcp:compute/globalAddress:GlobalAddress": "an address in use by a forwarding rule is not billed",
    "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup": "serverless NEGs are free",
    "gcp:compute/uRLMap:URLMap": "part of the load balancer (billed on its forwarding rule)",
    "gcp:compute/targetHttpsProxy:TargetHttpsProxy": (
        "part of the load balancer (billed on its forwarding rule)"
    ),
    "gcp:compute/sSLPolicy:SSLPolicy": "SSL policies are free",
    "gcp:compute/backendBucket:BackendBucket": (
        "no charge of its own; asset traffic reaches it only on Cloudflare cache misses, not modelled"
    ),
    "gcp:certificatemanager/certificateMap:CertificateMap": "certificate maps are free",
    "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry": "map entries are free",
    "gcp:certificatemanager/dnsAuthorization:DnsAuthorization": "DNS authorizations are free",
    # Firebase and Firestore configuration.
    "gcp:firebase/project:Project": "adding Firebase to a project is free",
    "gcp:firebase/appCheckServiceConfig:AppCheckServiceConfig": (
        "App Check with Play Integrity / App Attest is free"
    ),
    "gcp:firebaserules/ruleset:Ruleset": "security rules are free",
    "gcp:firebaserules/release:Release": "security rules are free",
    "gcp:firestore/index:Index": "indexes are billed as the database's storage and writes",
    "gcp:firestore/field:Field": "field settings (TTL, index exemptions) are free; TTL deletes are billed",
    # Monitoring configuration.
    "gcp:billing/budget:Budget": "Cloud Billing budgets and their alerts are free",
    "gcp:monitoring/dashboard:Dashboard": "dashboards are free",
    "gcp:monitoring/notificationChannel:NotificationChannel": "notification channels are free",
    "gcp:monitoring/customService:CustomService": "services and SLOs are free",
    "gcp:monitoring/slo:Slo": "services and SLOs are free",
    # Cloudflare settings included in the zone's plan.
    "cloudflare:index/dnsRecord:DnsRecord": "DNS records are included in every plan",
    "cloudflare:index/zoneSetting:ZoneSetting": "zone settings are included in the plan",
    "cloudflare:index/tieredCache:TieredCache": "Smart Tiered Cache is included in every plan",
    "cloudflare:index/argoTieredCaching:ArgoTieredCaching": (
        "tiered caching is included in every plan (Argo Smart Routing, billed per GB, is not enabled)"
    ),
}
