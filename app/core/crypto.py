"""AES-256-GCM for the audit log's sensitive fields (store transaction ids, payment details).

Envelope encryption: a 256-bit data key encrypts the fields; in prod the data key is stored wrapped by a
Cloud KMS key (``POG_AUDIT_KMS_KEY``, ``POG_AUDIT_WRAPPED_KEY``) and unwrapped once at start-up, so the
plaintext key exists only in the process's memory. Dev and test use ``POG_AUDIT_LOCAL_KEY``.

Each sealed value is bound to its audit entry: the entry id is the GCM associated data, so a ciphertext
copied onto another entry does not decrypt. Rotation: a new data key seals, the older ones
(``POG_AUDIT_PREVIOUS_WRAPPED_KEYS``) still open what they sealed (``Sealed.key_id`` names the key).

``FieldCipher.index`` is the keyed hash (HMAC-SHA256) that stands for a store transaction id where the
id must be found again but not read: the ids of ``/payments`` documents (issue 18, item 11c).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from app.core.config import Settings

log = logging.getLogger("app.crypto")

KEY_BYTES = 32
NONCE_BYTES = 12
#: Used in local runs and tests when no local key is configured (never deployed: the settings refuse it).
_DEV_KEY = hashlib.sha256(b"pot-of-gold dev-only audit key; not a secret").digest()


class CryptoError(Exception):
    """A key cannot be loaded, or a sealed value does not open."""


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes

    def to_doc(self) -> dict[str, str]:
        return {
            "kid": self.key_id,
            "nonce": base64.b64encode(self.nonce).decode(),
            "ct": base64.b64encode(self.ciphertext).decode(),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Sealed:
        try:
            return cls(str(doc["kid"]), base64.b64decode(doc["nonce"]), base64.b64decode(doc["ct"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CryptoError("malformed sealed value") from exc


class FieldCipher:
    """Seals with the current data key; opens with it or any older key of the keyring (a rotation keeps
    the older keys listed until nothing sealed with them remains: runbooks/procedures/audit-key-rotation.md).
    """

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        for candidate in (key, *previous):
            if len(candidate) != KEY_BYTES:
                raise CryptoError(f"the audit data key must be {KEY_BYTES} bytes, got {len(candidate)}")
        # Imported here: the cipher is built at start-up, so the API's module import does not load it.
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._invalid_tag = InvalidTag
        # Which key sealed a value (``Sealed.key_id``): the keyring maps it back to the key.
        self.key_id = _key_id(key)
        self._aead = AESGCM(key)
        self._keyring = {_key_id(k): AESGCM(k) for k in (*previous, key)}
        # The index key of keyed hashes (``index``): derived from each data key, current first.
        self._index_keys = [_index_key(k) for k in dict.fromkeys((key, *previous))]

    def seal(self, fields: dict[str, Any], associated: str) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        data = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
        return Sealed(self.key_id, nonce, self._aead.encrypt(nonce, data, associated.encode()))

    def open(self, sealed: Sealed, associated: str) -> dict[str, Any]:
        aead = self._keyring.get(sealed.key_id)
        if aead is None:
            raise CryptoError(
                f"sealed with key {sealed.key_id}, not the loaded key {self.key_id} or an older one"
            )
        try:
            data = aead.decrypt(sealed.nonce, sealed.ciphertext, associated.encode())
        except self._invalid_tag as exc:
            raise CryptoError("sealed value does not open (tampered, or another entry's)") from exc
        fields: dict[str, Any] = orjson.loads(data)
        return fields

    def index(self, value: str) -> str:
        """A keyed hash of ``value`` (HMAC-SHA256) under the current key: an id a reader of the database
        cannot turn back into, or confirm a guess of, the store transaction id."""
        return self.indexes(value)[0]

    def indexes(self, value: str) -> list[str]:
        """``value``'s keyed hash under every key of the keyring, current first (a lookup after a rotation
        tries each)."""
        return [hmac.new(k, value.encode(), hashlib.sha256).hexdigest() for k in self._index_keys]


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"pog-audit-kid" + key).hexdigest()[:16]


def _index_key(key: bytes) -> bytes:
    # A separate key for the keyed hashes, so that the hash never uses the encryption key itself.
    return hmac.new(key, b"pog-audit-index-v1", hashlib.sha256).digest()


KmsDecrypt = Callable[[str, bytes], bytes]


def kms_decrypt(key_name: str, ciphertext: bytes) -> bytes:
    """Unwrap with Cloud KMS (Application Default Credentials; the runtime account holds decrypter)."""
    from google.cloud import kms  # imported here: only prod start-up needs the client

    client = kms.KeyManagementServiceClient()
    response = client.decrypt(request={"name": key_name, "ciphertext": ciphertext})
    return bytes(response.plaintext)


def _b64_key(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise CryptoError(f"{name} is not valid base64") from exc


def load_data_key(settings: Settings, decrypt: KmsDecrypt = kms_decrypt) -> bytes:
    """The audit data key: unwrapped by KMS when a KMS key is configured (always in prod), else local."""
    if settings.audit_kms_key and settings.audit_wrapped_key is not None:
        wrapped = _b64_key(settings.audit_wrapped_key.get_secret_value(), "POG_AUDIT_WRAPPED_KEY")
        try:
            key = decrypt(settings.audit_kms_key, wrapped)
        except Exception as exc:
            message = f"cannot unwrap the audit data key with {settings.audit_kms_key}: {exc}"
            raise CryptoError(message) from exc
        if len(key) != KEY_BYTES:
            raise CryptoError(f"the unwrapped audit data key has {len(key)} bytes, expected {KEY_BYTES}")
        return key
    if settings.environment == "prod":  # the settings guard makes this unreachable; kept as a backstop
        raise CryptoError("prod needs POG_AUDIT_KMS_KEY and POG_AUDIT_WRAPPED_KEY")
    if settings.audit_local_key is not None:
        key = _b64_key(settings.audit_local_key.get_secret_value(), "POG_AUDIT_LOCAL_KEY")
        if len(key) != KEY_BYTES:
            raise CryptoError(f"POG_AUDIT_LOCAL_KEY must decode to {KEY_BYTES} bytes, got {len(key)}")
        return key
    if settings.environment not in ("local", "test"):  # the settings guard refuses this first; a backstop
        raise CryptoError(f"the built-in audit key is for local and test runs, not {settings.environment}")
    log.warning("POG_AUDIT_LOCAL_KEY unset: the audit log uses the built-in dev key")
    return _DEV_KEY


def load_previous_keys(settings: Settings, decrypt: KmsDecrypt = kms_decrypt) -> list[bytes]:
    """The older data keys of ``POG_AUDIT_PREVIOUS_WRAPPED_KEYS``: KMS-unwrapped when a KMS key is set."""
    keys: list[bytes] = []
    for n, secret in enumerate(settings.audit_previous_wrapped_keys):
        name = f"POG_AUDIT_PREVIOUS_WRAPPED_KEYS[{n}]"
        value = _b64_key(secret.get_secret_value(), name)
        if settings.audit_kms_key:
            try:
                value = decrypt(settings.audit_kms_key, value)
            except Exception as exc:
                raise CryptoError(f"cannot unwrap {name} with {settings.audit_kms_key}: {exc}") from exc
        elif settings.environment == "prod":
            raise CryptoError("prod keeps its older data keys wrapped: set POG_AUDIT_KMS_KEY")
        if len(value) != KEY_BYTES:
            raise CryptoError(f"{name} has {len(value)} bytes, expected {KEY_BYTES}")
        keys.append(value)
    return keys


def load_cipher(settings: Settings, decrypt: KmsDecrypt = kms_decrypt) -> FieldCipher:
    """The cipher of the settings: the current data key and the older ones still listed."""
    return FieldCipher(load_data_key(settings, decrypt), load_previous_keys(settings, decrypt))
