"""Settings environments the config tests share."""

from __future__ import annotations

#: Every setting prod requires, with plausible values: a test removes or spoils one.
PROD = {
    "POG_ENVIRONMENT": "prod",
    "POG_REDIS_URL": "rediss://:pw@redis.example:6380/0",
    "POG_SENTRY_DSN": "https://key@o1.ingest.sentry.io/1",
    "POG_FIREBASE_PROJECT_ID": "pot-of-gold-prod",
    "POG_STRIPE_API_KEY": "sk_live_x",
    "POG_STRIPE_WEBHOOK_SECRET": "whsec_x",
    "POG_REVENUECAT_API_KEY": "sk_rc_x",
    "POG_REVENUECAT_WEBHOOK_AUTH": "Bearer rc-hook",
    "POG_AUDIT_KMS_KEY": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/audit",
    "POG_AUDIT_WRAPPED_KEY": "d3JhcHBlZA==",
    "POG_APP_CHECK": "enforce",
    "POG_AUDIT_SIGNING_KEY": (
        "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/audit-heads/cryptoKeyVersions/1"
    ),
}
