"""The payment settings (app/core/config.py): the prod guard on every payment secret, the fraud windows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Settings

pytestmark = pytest.mark.unit

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
}


@pytest.mark.parametrize(
    "secret",
    [
        "POG_STRIPE_API_KEY",
        "POG_STRIPE_WEBHOOK_SECRET",
        "POG_REVENUECAT_API_KEY",
        "POG_REVENUECAT_WEBHOOK_AUTH",
        "POG_AUDIT_KMS_KEY",
        "POG_AUDIT_WRAPPED_KEY",
    ],
)
def test_prod_names_a_missing_payment_secret(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    for name in ("FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST", "POG_AUTH_CHECK_REVOKED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in PROD.items():
        if name != secret:
            monkeypatch.setenv(name, value)
    monkeypatch.delenv(secret, raising=False)
    with pytest.raises(ValidationError, match=secret):
        Settings()


@pytest.mark.parametrize("field", ["fraud_purchase_limit_user", "fraud_claim_limit_ip"])
def test_fraud_windows_use_limits_notation(field: str) -> None:
    with pytest.raises(ValidationError):
        Settings(environment="test", **{field: "lots"})
