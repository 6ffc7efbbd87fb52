"""The catalog, the audit log's encryption and key loading, the payment settings' prod guard."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.core.crypto import CryptoError, FieldCipher, Sealed, load_data_key
from app.domain.catalog import CatalogError, Store, load_catalog

pytestmark = pytest.mark.unit

# --- catalog -------------------------------------------------------------------------------------------


def test_the_shipped_catalog_loads_with_the_required_products() -> None:
    catalog = load_catalog()
    coins_100 = catalog.get("coins_100")
    assert coins_100 is not None
    assert (coins_100.coins, dict(coins_100.items)) == (100, {})
    starter = catalog.get("starter_pack")
    assert starter is not None
    assert starter.coins > 0
    assert starter.items
    assert catalog.by_store_id(Store.app_store, "com.potofgold.coins100") == coins_100
    assert catalog.by_store_id(Store.stripe, "price_starter_pack") == starter
    assert catalog.by_store_id(Store.play_store, "nope") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("products: []", "at least 1"),
        ("products:\n  - {id: a, coins: 0, price_usd_cents: 1, store_ids: {}}", "a grants nothing"),
        ("products:\n  - {id: a, coins: -1, price_usd_cents: 1, store_ids: {}}", "greater than or equal"),
        (
            "products:\n  - {id: a, coins: 1, price_usd_cents: 1, store_ids: {stripe: p}}\n"
            "  - {id: b, coins: 1, price_usd_cents: 1, store_ids: {stripe: p}}",
            "maps to both a and b",
        ),
        (
            "products:\n  - {id: a, coins: 1, price_usd_cents: 1, store_ids: {}}\n"
            "  - {id: a, coins: 2, price_usd_cents: 1, store_ids: {}}",
            "a appears twice",
        ),
        ("products:\n  - {id: a, coins: 1, price_usd_cents: 1, store_ids: {}, surprise: 1}", "surprise"),
        ("products: [", "cannot read"),
    ],
)
def test_a_bad_catalog_stops_start_up_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "products.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


# --- encryption ----------------------------------------------------------------------------------------

KEY = b"\x01" * 32


def test_sealed_fields_open_only_for_their_entry_and_unaltered() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.seal({"transaction_id": "1000000123", "email": "a@example.com"}, "alice:0000000001")
    assert b"1000000123" not in sealed.ciphertext
    assert cipher.open(Sealed.from_doc(sealed.to_doc()), "alice:0000000001")["transaction_id"] == "1000000123"
    with pytest.raises(CryptoError, match="another entry"):
        cipher.open(sealed, "alice:0000000002")
    flipped = Sealed(sealed.key_id, sealed.nonce, bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:])
    with pytest.raises(CryptoError):
        cipher.open(flipped, "alice:0000000001")
    with pytest.raises(CryptoError, match="not the loaded key"):
        FieldCipher(b"\x02" * 32).open(sealed, "alice:0000000001")
    assert cipher.seal({"a": 1}, "x").nonce != cipher.seal({"a": 1}, "x").nonce


def test_prod_unwraps_the_data_key_with_kms() -> None:
    """The KMS call is faked at its boundary (a decrypt of the wrapped bytes), the rest runs as in prod."""
    wrapped = b"wrapped-by-kms"
    calls: list[tuple[str, bytes]] = []

    def kms(name: str, ciphertext: bytes) -> bytes:
        calls.append((name, ciphertext))
        return KEY

    key_name = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/audit"
    settings = Settings(
        environment="test", audit_kms_key=key_name, audit_wrapped_key=base64.b64encode(wrapped).decode()
    )
    assert load_data_key(settings, kms) == KEY
    assert calls == [(key_name, wrapped)]

    def broken(name: str, ciphertext: bytes) -> bytes:
        raise PermissionError("403 cloudkms.cryptoKeyVersions.useToDecrypt denied")

    with pytest.raises(CryptoError, match="cannot unwrap"):
        load_data_key(settings, broken)
    with pytest.raises(CryptoError, match="16 bytes"):
        load_data_key(settings, lambda n, c: b"x" * 16)


def test_local_keys_in_dev_and_test() -> None:
    good = Settings(environment="test", audit_local_key=base64.b64encode(KEY).decode())
    assert load_data_key(good) == KEY
    with pytest.raises(CryptoError, match="32 bytes"):
        load_data_key(Settings(environment="test", audit_local_key=base64.b64encode(b"short").decode()))
    with pytest.raises(CryptoError, match="base64"):
        load_data_key(Settings(environment="test", audit_local_key="***"))
    assert len(load_data_key(Settings(environment="dev"))) == 32  # the built-in dev key


def test_a_malformed_kms_key_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="audit_kms_key"):
        Settings(environment="test", audit_kms_key="my-key")


# --- settings ------------------------------------------------------------------------------------------

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
