"""Type tokens the rules refer to, as the engine (and CrossGuard's ``args.resource_type``) spells them."""

from __future__ import annotations

BUCKET = "gcp:storage/bucket:Bucket"
HMAC_KEY = "gcp:storage/hmacKey:HmacKey"
KEY_RING = "gcp:kms/keyRing:KeyRing"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
BACKEND_SERVICE = "gcp:compute/backendService:BackendService"
BACKEND_BUCKET = "gcp:compute/backendBucket:BackendBucket"
SECURITY_POLICY = "gcp:compute/securityPolicy:SecurityPolicy"
SSL_POLICY = "gcp:compute/sSLPolicy:SSLPolicy"
HTTPS_PROXY = "gcp:compute/targetHttpsProxy:TargetHttpsProxy"
URL_MAP = "gcp:compute/uRLMap:URLMap"
FIRESTORE_DATABASE = "gcp:firestore/database:Database"
BACKUP_SCHEDULE = "gcp:firestore/backupSchedule:BackupSchedule"
RTDB_INSTANCE = "gcp:firebase/databaseInstance:DatabaseInstance"
PUBSUB_TOPIC = "gcp:pubsub/topic:Topic"
BIGQUERY_DATASET = "gcp:bigquery/dataset:Dataset"
IDENTITY_PLATFORM = "gcp:identityplatform/config:Config"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_IAM_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
SA_KEY = "gcp:serviceaccount/key:Key"
SCHEDULER_JOB = "gcp:cloudscheduler/job:Job"
AUDIT_CONFIG = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
NOTIFICATION_CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
UPTIME_CHECK = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
GCP_PROVIDER = "pulumi:providers:gcp"

REDIS_SUBSCRIPTION = "rediscloud:index/subscription:Subscription"
REDIS_DATABASE = "rediscloud:index/subscriptionDatabase:SubscriptionDatabase"
REDIS_AA_SUBSCRIPTION = "rediscloud:index/activeActiveSubscription:ActiveActiveSubscription"
REDIS_AA_DATABASE = "rediscloud:index/activeActiveSubscriptionDatabase:ActiveActiveSubscriptionDatabase"

CF_ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
CF_RULESET = "cloudflare:index/ruleset:Ruleset"
CF_DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"

# IAM grants of every GCP resource kind: *IAMMember / *IamMember, bindings and policies.
IAM_TYPES: tuple[str, ...] = tuple(
    f"gcp:*:*{iam}{kind}" for iam in ("IAM", "Iam") for kind in ("Member", "Binding", "Policy")
)
# Grants on the project (or above), where a role reaches every resource below.
PROJECT_IAM_TYPES: tuple[str, ...] = (
    "gcp:projects/iAMMember:IAMMember",
    "gcp:projects/iAMBinding:IAMBinding",
    "gcp:projects/iAMPolicy:IAMPolicy",
    "gcp:organizations/iAMMember:IAMMember",
    "gcp:organizations/iAMBinding:IAMBinding",
    "gcp:organizations/iAMPolicy:IAMPolicy",
    "gcp:folder/iAMMember:IAMMember",
    "gcp:folder/iAMBinding:IAMBinding",
    "gcp:folder/iAMPolicy:IAMPolicy",
)
KMS_IAM_TYPES: tuple[str, ...] = tuple(t.replace("gcp:*:", "gcp:kms/*:") for t in IAM_TYPES)
#: IAM on BigQuery datasets and tables (POG-ANL-001 judges them, with the datasets' own access lists).
BIGQUERY_IAM_TYPES: tuple[str, ...] = tuple(t.replace("gcp:*:", "gcp:bigquery/*:") for t in IAM_TYPES)
RUN_IAM_TYPES: tuple[str, ...] = tuple(
    t.replace("gcp:*:", f"gcp:{package}/*:") for package in ("cloudrunv2", "cloudrun") for t in IAM_TYPES
)
