"""Signatures of the audit log's chain heads and anchors (ECDSA P-256, SHA-256).

A hash chain whose head sits in the same Firestore database proves nothing against someone who can write
Firestore: they rewrite an entry and the head consistently. So each head is signed with a key Firestore
writers do not hold: in dev and prod a Cloud KMS ``EC_SIGN_P256_SHA256`` key version
(``POG_AUDIT_SIGNING_KEY``) that the runtime may only *use* to sign (``roles/cloudkms.signer`` on that key
alone), in local runs and tests a P-256 key from ``POG_AUDIT_LOCAL_SIGNING_KEY`` (or a built-in one).
Verification needs only the public key (``roles/cloudkms.publicKeyViewer``, or the exported PEM).

Cost: one KMS ``asymmetricSign`` per ledger transaction that appends audit entries (one per chain it
touches). Google's "Cloud Key Management Service pricing" page (prices effective 2025-03-17) bills
operations on SOFTWARE keys, asymmetric and symmetric alike, at $0.03 per 10,000 (HSM elliptic-curve keys
$0.15), so a million grants cost about $3, plus $0.06 a month per active key version; a KMS sign takes
tens of milliseconds in the region. The local signer takes about 0.04 ms (docs/payments.md).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from app.core.config import Settings

if TYPE_CHECKING:  # cryptography is loaded when a key is, not when the API's modules are imported
    from cryptography.hazmat.primitives.asymmetric import ec

#: Local runs and tests only (the settings guard refuses it in prod): anyone can read this key.
_DEV_SEED = int.from_bytes(hashlib.sha256(b"pot-of-gold dev-only audit signing key").digest(), "big")


class SigningError(Exception):
    """A signature cannot be made, or a signing key cannot be loaded."""


@dataclass(frozen=True, slots=True)
class Signature:
    #: Which key signed: the KMS key version's resource name, or ``local:<fingerprint>``.
    key_id: str
    #: DER-encoded ECDSA signature over SHA-256 of the message.
    value: bytes

    def to_doc(self) -> dict[str, str]:
        return {"kid": self.key_id, "sig": base64.b64encode(self.value).decode()}

    @classmethod
    def from_doc(cls, doc: Any) -> Signature | None:
        if not isinstance(doc, dict):
            return None
        try:
            return cls(str(doc["kid"]), base64.b64decode(doc["sig"], validate=True))
        except (KeyError, TypeError, ValueError):
            return None


class HeadSigner(Protocol):
    #: True when ``sign`` calls a remote service (run it off the event loop).
    remote: bool

    def sign(self, message: bytes) -> Signature: ...


def _fingerprint(public: ec.EllipticCurvePublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "local:" + hashlib.sha256(der).hexdigest()[:16]


class LocalSigner:
    remote: bool = False

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        if not isinstance(key.curve, ec.SECP256R1):
            raise SigningError(f"the audit signing key must be P-256, not {key.curve.name}")
        self._key = key
        self.public_key = key.public_key()
        self.key_id = _fingerprint(self.public_key)

    def sign(self, message: bytes) -> Signature:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return Signature(self.key_id, self._key.sign(message, ec.ECDSA(hashes.SHA256())))


#: ``asymmetric_sign`` of google-cloud-kms: a request dict in, the response out (a seam for tests).
KmsSign = Callable[[dict[str, Any]], Any]


def _crc32c(data: bytes) -> int:
    import google_crc32c  # a dependency of the Google clients

    return int(google_crc32c.value(data))


def _as_int(value: Any) -> int:
    """A CRC32C of a KMS response: proto-plus gives an int for the Int64Value wrapper."""
    return int(getattr(value, "value", value))


def _kms_sign() -> KmsSign:
    from google.cloud import kms  # imported here: only deployed processes build the client

    client = kms.KeyManagementServiceClient()
    return lambda request: client.asymmetric_sign(request=request)


class KmsSigner:
    """Signs with a Cloud KMS key version, checking the CRC32C of what goes and comes back, as Google's
    "Verifying end-to-end data integrity" guide recommends (a corrupted request or answer raises)."""

    remote: bool = True

    def __init__(self, key_version: str, sign: KmsSign | None = None) -> None:
        self.key_id = key_version
        self._sign = sign or _kms_sign()

    def sign(self, message: bytes) -> Signature:
        digest = hashlib.sha256(message).digest()
        request = {
            "name": self.key_id,
            "digest": {"sha256": digest},
            "digest_crc32c": _crc32c(digest),
        }
        try:
            response = self._sign(request)
        except Exception as exc:
            raise SigningError(f"KMS cannot sign with {self.key_id}: {exc}") from exc
        if not response.verified_digest_crc32c:
            raise SigningError("KMS did not verify the digest's CRC32C: the request was corrupted")
        if response.name != self.key_id:
            raise SigningError(f"KMS signed with {response.name}, not {self.key_id}")
        signature = bytes(response.signature)
        if _crc32c(signature) != _as_int(response.signature_crc32c):
            raise SigningError("the signature's CRC32C does not match: the response was corrupted")
        return Signature(self.key_id, signature)


def _local_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if settings.audit_local_signing_key is None:
        if settings.environment not in ("local", "test"):
            raise SigningError(
                f"POG_AUDIT_SIGNING_KEY (or POG_AUDIT_LOCAL_SIGNING_KEY in dev) is required in "
                f"{settings.environment}: the built-in signing key is for local and test runs"
            )
        return ec.derive_private_key(_DEV_SEED, ec.SECP256R1())
    pem = settings.audit_local_signing_key.get_secret_value().encode()
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError("POG_AUDIT_LOCAL_SIGNING_KEY is not a PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningError("POG_AUDIT_LOCAL_SIGNING_KEY must be an EC P-256 key")
    return key


def load_signer(settings: Settings, sign: KmsSign | None = None) -> HeadSigner:
    if settings.audit_signing_key:
        return KmsSigner(settings.audit_signing_key, sign)
    return LocalSigner(_local_key(settings))


#: ``get_public_key`` of google-cloud-kms: the key version's name in, its PEM out (a seam for tests).
KmsPublicKey = Callable[[str], str]


def _kms_public_key(name: str) -> str:
    from google.cloud import kms

    response = kms.KeyManagementServiceClient().get_public_key(request={"name": name})
    if response.name != name or _crc32c(response.pem.encode()) != _as_int(response.pem_crc32c):
        raise SigningError(f"the public key of {name} came back corrupted")
    return str(response.pem)


class SignatureChecker:
    """Checks signatures against the public keys they name: the configured KMS key versions (fetched once
    each) and the local key of the settings. A signature by any other key does not verify."""

    def __init__(self, settings: Settings, public_key: KmsPublicKey | None = None) -> None:
        self._settings = settings
        self._fetch = public_key or _kms_public_key
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        if not settings.audit_signing_key:
            local = LocalSigner(_local_key(settings))
            self._keys[local.key_id] = local.public_key

    def _key(self, key_id: str) -> ec.EllipticCurvePublicKey | None:
        if key_id in self._keys:
            return self._keys[key_id]
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        if key_id.startswith("local:") or not self._settings.audit_signing_key:
            return None
        # Any version of the configured key (a rotated signing key keeps verifying its older heads).
        key_name = self._settings.audit_signing_key.split("/cryptoKeyVersions/")[0]
        if not key_id.startswith(key_name + "/cryptoKeyVersions/"):
            return None
        loaded = serialization.load_pem_public_key(self._fetch(key_id).encode())
        if not isinstance(loaded, ec.EllipticCurvePublicKey):
            raise SigningError(f"{key_id} is not an elliptic-curve key")
        self._keys[key_id] = loaded
        return loaded

    def problem(self, signature: Signature | None, message: bytes) -> str | None:
        """Why ``signature`` does not prove ``message``, or None when it does."""
        if signature is None:
            return "unsigned"
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        key = self._key(signature.key_id)
        if key is None:
            return f"signed by an unknown key {signature.key_id}"
        try:
            key.verify(signature.value, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return "the signature does not match (rewritten without the signing key)"
        return None
