"""The payment settings (app/core/config.py): the prod guard on every payment secret, the fraud windows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from tests.app.core.settings_env import use_prod_env

pytestmark = pytest.mark.unit


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
    use_prod_env(monkeypatch, leave_out=[secret])
    monkeypatch.delenv(secret, raising=False)
    with pytest.raises(ValidationError, match=secret):
        Settings()


@pytest.mark.parametrize("field", ["fraud_purchase_limit_user", "fraud_claim_limit_ip"])
def test_fraud_windows_use_limits_notation(field: str) -> None:
    with pytest.raises(ValidationError):
        Settings(environment="test", **{field: "lots"})
