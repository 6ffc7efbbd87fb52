"""The signatures of the audit chains' heads (app/core/signing.py): local keys, and KMS at its boundary."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import google_crc32c
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from app.core.config import Settings
from app.core.signing import KmsSigner, LocalSigner, SignatureChecker, SigningError, load_signer
from tests.app.core.settings_env import DEV

pytestmark = pytest.mark.unit

VERSION = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/audit-heads/cryptoKeyVersions/1"


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_a_local_signature_verifies_only_for_its_message_and_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    settings = Settings(environment="test", audit_local_signing_key=_pem(key))  # type: ignore[arg-type]
    signer = load_signer(settings)
    signature = signer.sign(b"head")
    checker = SignatureChecker(settings)
    assert checker.problem(signature, b"head") is None
    assert checker.problem(signature, b"other head") == (
        "the signature does not match (rewritten without the signing key)"
    )
    other = LocalSigner(ec.generate_private_key(ec.SECP256R1())).sign(b"head")
    assert checker.problem(other, b"head") == f"signed by an unknown key {other.key_id}"
    assert checker.problem(None, b"head") == "unsigned"


def test_local_signing_costs_a_fraction_of_a_millisecond() -> None:
    signer = load_signer(Settings(environment="test"))
    started = time.perf_counter()
    for _ in range(200):
        signer.sign(b'{"at":1,"chain":"alice","hash":"00","seq":1,"v":1}')
    per_sign_ms = (time.perf_counter() - started) / 200 * 1000
    print(f"\nlocal P-256 head signature: {per_sign_ms:.3f} ms")
    assert per_sign_ms < 5


def test_a_bad_local_key_is_refused() -> None:
    with pytest.raises(SigningError, match="not a PEM"):
        load_signer(Settings(environment="test", audit_local_signing_key="nope"))  # type: ignore[arg-type]
    rsa_like = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(SigningError, match="P-256"):
        load_signer(Settings(environment="test", audit_local_signing_key=_pem(rsa_like)))  # type: ignore[arg-type]


@dataclass
class _Answer:
    name: str
    signature: bytes
    signature_crc32c: int
    verified_digest_crc32c: bool = True


def _kms(key: ec.EllipticCurvePrivateKey, **spoil: Any) -> Any:
    """``asymmetric_sign`` as KMS answers it, from a real P-256 key (the network call is the only fake)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    requests: list[dict[str, Any]] = []

    def sign(request: dict[str, Any]) -> _Answer:
        requests.append(request)
        digest = request["digest"]["sha256"]
        assert google_crc32c.value(digest) == request["digest_crc32c"]
        signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        answer = _Answer(request["name"], signature, google_crc32c.value(signature))
        for name, value in spoil.items():
            setattr(answer, name, value)
        return answer

    sign.requests = requests  # type: ignore[attr-defined]
    return sign


def test_kms_signs_the_digest_with_crc32c_checks_and_the_public_key_verifies() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    settings = Settings(environment="test", audit_signing_key=VERSION)
    kms = _kms(key)
    signer = load_signer(settings, kms)
    assert signer.remote  # the ledger signs off the event loop
    signature = signer.sign(b"head")
    assert signature.key_id == VERSION
    assert kms.requests[0]["name"] == VERSION
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    fetched: list[str] = []
    checker = SignatureChecker(settings, lambda name: fetched.append(name) or public_pem)
    assert checker.problem(signature, b"head") is None
    assert checker.problem(signature, b"head") is None
    assert fetched == [VERSION]  # fetched once
    foreign = signature.__class__("projects/x/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1", b"")
    assert checker.problem(foreign, b"head") == f"signed by an unknown key {foreign.key_id}"


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        ({"verified_digest_crc32c": False}, "request was corrupted"),
        ({"signature_crc32c": 1}, "response was corrupted"),
        ({"name": VERSION.replace("/1", "/2")}, "KMS signed with"),
    ],
)
def test_a_corrupted_kms_exchange_is_refused(spoil: dict[str, Any], message: str) -> None:
    signer = KmsSigner(VERSION, _kms(ec.generate_private_key(ec.SECP256R1()), **spoil))
    with pytest.raises(SigningError, match=message):
        signer.sign(b"head")


def test_kms_failures_name_the_key() -> None:
    def denied(request: dict[str, Any]) -> Any:
        raise PermissionError("403 cloudkms.cryptoKeyVersions.useToSign denied")

    with pytest.raises(SigningError, match=f"KMS cannot sign with {VERSION}: 403"):
        KmsSigner(VERSION, denied).sign(b"head")


def test_signing_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="audit_signing_key"):
        Settings(environment="test", audit_signing_key="projects/p/locations/l/keyRings/r/cryptoKeys/k")
    with pytest.raises(SigningError, match="built-in signing key is for local and test"):
        load_signer(
            Settings(
                environment="dev",
                realtime_database_urls="https://pot-of-gold-dev-default-rtdb.firebaseio.com",
                **DEV,
            )
        )


def test_prod_requires_the_kms_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.app.core.settings_env import PROD, use_prod_env

    use_prod_env(monkeypatch)
    assert Settings().audit_signing_key == PROD["POG_AUDIT_SIGNING_KEY"]
    monkeypatch.delenv("POG_AUDIT_SIGNING_KEY")
    with pytest.raises(ValidationError, match="POG_AUDIT_SIGNING_KEY"):
        Settings()
