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


def test_after_a_rotation_old_entries_open_and_new_ones_use_the_new_key() -> None:
    """Failed before issue 18: the cipher held one key, so a new data key made every older entry unreadable
    (``sealed with key …, not the loaded key``)."""
    old, new = b"\x01" * 32, b"\x02" * 32
    before = FieldCipher(old).seal({"transaction_id": "t-1"}, "alice:0000000001")
    rotated = FieldCipher(new, [old])
    assert rotated.open(before, "alice:0000000001") == {"transaction_id": "t-1"}
    after = rotated.seal({"transaction_id": "t-2"}, "alice:0000000002")
    assert after.key_id == FieldCipher(new).key_id != before.key_id
    assert FieldCipher(new).open(after, "alice:0000000002") == {"transaction_id": "t-2"}
    with pytest.raises(CryptoError, match="not the loaded key"):
        FieldCipher(new).open(before, "alice:0000000001")  # once the old key is dropped


def test_previous_keys_are_unwrapped_with_kms_and_checked() -> None:
    from app.core.crypto import load_cipher

    old = b"\x03" * 32
    key_name = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/audit"
    unwrapped = {b"wrapped-current": KEY, b"wrapped-old": old}
    settings = Settings(
        environment="test",
        audit_kms_key=key_name,
        audit_wrapped_key=base64.b64encode(b"wrapped-current").decode(),
        audit_previous_wrapped_keys=f'["{base64.b64encode(b"wrapped-old").decode()}"]',  # type: ignore[arg-type]
    )
    cipher = load_cipher(settings, lambda name, ct: unwrapped[ct])
    assert cipher.key_id == FieldCipher(KEY).key_id
    assert cipher.open(FieldCipher(old).seal({"a": 1}, "x"), "x") == {"a": 1}
    bad = Settings(environment="test", audit_previous_wrapped_keys="c2hvcnQ=")  # type: ignore[arg-type]
    with pytest.raises(CryptoError, match=r"POG_AUDIT_PREVIOUS_WRAPPED_KEYS\[0\] has 5 bytes"):
        load_cipher(bad)


def test_the_keyed_hash_hides_the_value_and_survives_a_rotation() -> None:
    old, new = b"\x01" * 32, b"\x02" * 32
    index = FieldCipher(old).index("revenuecat:1000000123")
    assert len(index) == 64
    assert "1000000123" not in index
    assert index != FieldCipher(new).index("revenuecat:1000000123")
    assert FieldCipher(new, [old]).indexes("revenuecat:1000000123") == [
        FieldCipher(new).index("revenuecat:1000000123"),
        index,
    ]
