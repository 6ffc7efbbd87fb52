"""The audit log's field encryption and the loading of its data key (app/core/crypto.py)."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.core.crypto import CryptoError, FieldCipher, Sealed, load_data_key

pytestmark = pytest.mark.unit

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


def test_local_keys_in_local_and_test_runs() -> None:
    good = Settings(environment="test", audit_local_key=base64.b64encode(KEY).decode())
    assert load_data_key(good) == KEY
    with pytest.raises(CryptoError, match="32 bytes"):
        load_data_key(Settings(environment="test", audit_local_key=base64.b64encode(b"short").decode()))
    with pytest.raises(CryptoError, match="base64"):
        load_data_key(Settings(environment="test", audit_local_key="***"))
    assert len(load_data_key(Settings(environment="local"))) == 32  # the built-in key


def test_a_malformed_kms_key_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="audit_kms_key"):
        Settings(environment="test", audit_kms_key="my-key")
