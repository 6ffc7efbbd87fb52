"""Settings environments the config tests share."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

#: Set by the service fixtures of other tests in the same process; prod refuses them.
NOT_IN_PROD = ("FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "POG_AUTH_CHECK_REVOKED")

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
    "POG_REALTIME_DATABASE_URLS": (
        "https://pot-of-gold-prod-default-rtdb.europe-west1.firebasedatabase.app,"
        "https://pot-of-gold-prod-rtdb-1.europe-west1.firebasedatabase.app"
    ),
    "POG_AUDIT_SIGNING_KEY": (
        "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/audit-heads/cryptoKeyVersions/1"
    ),
    "POG_ANALYTICS_PSEUDONYM_KEY": "cHJvZC1wc2V1ZG9ueW0ta2V5LWZvci10aGUtdGVzdHM=",
    "POG_ANALYTICS_TOPIC": "projects/pot-of-gold-prod/topics/pog-prod-analytics",
}
#: What dev requires beyond local (tests build dev settings with ``Settings(environment="dev", **DEV)``).
DEV = {
    "audit_local_key": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
    "analytics_pseudonym_key": "ZGV2LXBzZXVkb255bS1rZXktZm9yLXRoZS10ZXN0cyE=",
    "analytics_topic": "projects/pot-of-gold-dev/topics/pog-dev-analytics",
}


def use_prod_env(monkeypatch: pytest.MonkeyPatch, leave_out: Iterable[str] = ()) -> pytest.MonkeyPatch:
    """Set the environment of ``PROD`` but the variables in ``leave_out`` (unset), without the emulator and
    test switches other tests of this process may have set."""
    skipped = set(leave_out)
    for name in (*NOT_IN_PROD, *skipped):
        monkeypatch.delenv(name, raising=False)
    for name, value in PROD.items():
        if name not in skipped:
            monkeypatch.setenv(name, value)
    return monkeypatch
