"""The Pot of Gold program: stack config -> phase profile -> one component per layer."""

from pathlib import Path

import pulumi

from infra import config
from infra.phases import profile_for
from infra.providers import Providers
from infra.stacks.analytics import Analytics, AnalyticsArgs
from infra.stacks.audit import Audit, AuditArgs
from infra.stacks.backups import Backups, BackupsArgs
from infra.stacks.budget import Budget, BudgetArgs, pinned_budget_usd
from infra.stacks.cache import Cache, CacheArgs
from infra.stacks.compute import Compute, ComputeArgs
from infra.stacks.data import Data, DataArgs
from infra.stacks.edge import Edge, EdgeArgs
from infra.stacks.foundation import Foundation, FoundationArgs
from infra.stacks.observability import Observability, ObservabilityArgs

MONITORING_DIR = Path(__file__).resolve().parent.parent / "monitoring"

cfg = config.load()
profile = profile_for(cfg.environment, cfg.phase)
providers = Providers.create(cfg)
opts = providers.opts()
prefix = cfg.prefix

foundation = Foundation(
    f"{prefix}-foundation",
    FoundationArgs(
        prefix=prefix,
        project=cfg.gcp_project,
        primary_region=cfg.region,
        api_regions=cfg.api_regions,
        profile=profile,
    ),
    opts,
)
apis = list(foundation.apis.values())

audit = Audit(
    f"{prefix}-audit",
    AuditArgs(
        prefix=prefix,
        project=cfg.gcp_project,
        bucket_location=cfg.backup_region,
        key_ring=foundation.key_ring,
        runtime_account=foundation.service_accounts["api"],
        profile=profile,
    ),
    opts,
)

# Events from the API through Pub/Sub into BigQuery, in every phase (docs/analytics.md).
analytics = Analytics(
    f"{prefix}-analytics",
    AnalyticsArgs(
        prefix=prefix,
        project=cfg.gcp_project,
        primary_region=cfg.region,
        publisher_account=foundation.service_accounts["api"],
        profile=profile,
        depends_on=apis,
    ),
    opts,
)

data = Data(
    f"{prefix}-data",
    DataArgs(
        prefix=prefix,
        project=cfg.gcp_project,
        firestore_location=cfg.firestore_location,
        primary_region=cfg.region,
        api_regions=cfg.api_regions,
        api_service_account=foundation.service_accounts["api"],
        authorized_domains=(cfg.domain, cfg.api_hostname),
        profile=profile,
        depends_on=apis,
    ),
    opts,
)

cache = Cache(
    f"{prefix}-cache",
    CacheArgs(
        prefix=prefix,
        project=cfg.gcp_project,
        api_regions=cfg.api_regions,
        backup_bucket_location=cfg.backup_region,
        payment_method_id=cfg.redis_payment_method_id,
        source_cidrs=pulumi.Output.all(*[a.address for a in foundation.egress_addresses]).apply(
            lambda ips: [f"{ip}/32" for ip in ips]
        ),
        redis_url_secrets=foundation.regional_secrets["POG_REDIS_URL"],
        profile=profile,
        depends_on=apis,
    ),
    opts,
)

compute = Compute(
    f"{prefix}-compute",
    ComputeArgs(
        prefix=prefix,
        project=cfg.gcp_project,
        api_regions=cfg.api_regions,
        image=cfg.app_image,
        api_hostname=cfg.api_hostname,
        admin_ip_allowlist=cfg.admin_ip_allowlist,
        service_account=foundation.service_accounts["api"],
        secrets=foundation.regional_secrets,
        plain_env={
            "POG_ENVIRONMENT": cfg.environment,
            "POG_FIREBASE_PROJECT_ID": cfg.gcp_project,
            "POG_AUDIT_KMS_KEY": foundation.crypto_key.id,
            # Signs the audit chains' heads; the anchor job writes them to the bucket (infra/stacks/audit.py).
            "POG_AUDIT_SIGNING_KEY": audit.signing_key_version,
            "POG_AUDIT_ANCHOR_BUCKET": audit.anchor_bucket.name,
            # A revoked token or disabled account is refused within 30 s on an instance that has seen
            # it, for one Firebase Auth call per token per instance every 30 s instead of per request.
            "POG_AUTH_REVOCATION_CHECK_INTERVAL_S": "30",
            # App Check on the sensitive routes: refused in prod, counted in dev (infra/phases.py).
            "POG_APP_CHECK": "enforce" if profile.app_check_enforced else "monitor",
            # Stripe Checkout sends the player back to the game's site (POST /v1/purchases/stripe/checkout).
            "POG_STRIPE_CHECKOUT_SUCCESS_URL": f"https://{cfg.domain}/purchase/complete",
            "POG_STRIPE_CHECKOUT_CANCEL_URL": f"https://{cfg.domain}/purchase/cancelled",
            # The API and the jobs publish analytics events here (the topic enforces their schema).
            "POG_ANALYTICS_TOPIC": analytics.topic_path,
        },
        games_databases=data.game_database_ids,
        all_games_databases=tuple(data.databases),
        realtime_database_urls=data.realtime_database_urls,
        network=foundation.network,
        subnets=foundation.subnets,
        profile=profile,
        # Cloud Run resolves the "latest" version of every secret when a revision starts.
        depends_on=[*apis, *cache.redis_url_versions],
    ),
    opts,
)

edge = Edge(
    f"{prefix}-edge",
    EdgeArgs(
        prefix=prefix,
        zone_id=cfg.cloudflare_zone_id,
        account_id=cfg.cloudflare_account_id,
        domain=cfg.domain,
        api_hostname=cfg.api_hostname,
        origin_address=compute.lb_address.address,
        admin_ip_allowlist=cfg.admin_ip_allowlist,
        dns_authorizations=compute.dns_authorizations,
        assets_hostname=compute.assets_hostname,
        profile=profile,
    ),
    opts,
)

backups = Backups(
    f"{prefix}-backups",
    BackupsArgs(
        prefix=prefix,
        project=cfg.gcp_project,
        scheduler_region=cfg.region,
        bucket_location=cfg.backup_region,
        databases=data.databases,
        exporter_service_account=foundation.service_accounts["exporter"],
        profile=profile,
        ci_principal_set=cfg.ci_principal_set,
        depends_on=apis,
    ),
    opts,
)

observability = Observability(
    f"{prefix}-observability",
    ObservabilityArgs(
        prefix=prefix,
        project=cfg.gcp_project,
        api_hostname=cfg.api_hostname,
        api_regions=cfg.api_regions,
        alert_emails=cfg.alert_emails,
        pagerduty_service_key=cfg.pagerduty_service_key,
        monitoring_dir=MONITORING_DIR,
        probe_header=compute.probe_header,
        profile=profile,
        depends_on=apis,
    ),
    opts,
)

# The amount is the `pog cost` estimate of this phase, pinned by `make pin-budgets` (infra/stacks/budget.py).
budget = Budget(
    f"{prefix}-budget",
    BudgetArgs(
        prefix=prefix,
        project=cfg.gcp_project,
        billing_account=cfg.billing_account,
        amount_usd=pinned_budget_usd(cfg.environment, cfg.phase),
        # Mail, not the pager: half the month's budget is spent every month.
        notification_channels=[channel.name for channel in observability.email_channels.values()],
    ),
    opts,
)

pulumi.export("environment", cfg.environment)
pulumi.export("phase", cfg.phase)
pulumi.export("apiUrl", compute.api_url)
pulumi.export("apiRegionUrls", {region: svc.uri for region, svc in compute.services.items()})
pulumi.export("loadBalancerAddress", compute.lb_address.address)
pulumi.export("firestoreDatabases", sorted(data.databases))
pulumi.export("leaderboardsRebuildJobs", {region: job.name for region, job in compute.rebuild_jobs.items()})
pulumi.export(
    "opsJobs",
    {name: {region: job.name for region, job in jobs.items()} for name, jobs in compute.jobs.items()},
)
pulumi.export("exportBucket", backups.export_bucket.name)
# GitHub variable REPO_BACKUP_BUCKET of the stack's environment (.github/workflows/repo-backup.yml).
pulumi.export("repoBackupBucket", backups.repo_backup_bucket.name)
pulumi.export("secretRotationSubscription", foundation.rotation_subscription.name)
# GitHub variable GCP_SNAPSHOT_SERVICE_ACCOUNT of the stack's environment (.github/workflows/snapshot.yml).
pulumi.export("exporterServiceAccount", backups.exporter_email)
pulumi.export("redisBackupBucket", cache.backup_bucket.name)
# Where the events land and where BigQuery refuses them (docs/analytics.md).
pulumi.export("analyticsDataset", analytics.dataset.dataset_id)
pulumi.export("analyticsDeadLetterSubscription", analytics.dead_letter_subscription.name)
pulumi.export("redisEndpoints", pulumi.Output.secret(cache.endpoints))
# What game clients are configured with: the Realtime Database shards in shard order (a player connects to
# shard_for(uid, len(urls)), app/domain/realtime.py); after a promotion that changes the count, run the
# realtime-resync job first (runbooks/procedures/phase-promotion.md).
pulumi.export("clientConfig", {"realtimeDatabaseUrls": list(data.realtime_database_urls)})
