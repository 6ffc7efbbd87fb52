"""Firebase ID tokens for the production verification path: a test RSA key and its self-signed
certificate, served to firebase_admin by replacing Google's certificate fetch (emulators.md)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


class TestKey:
    __test__ = False

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.test")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .sign(self.key, hashes.SHA256())
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.private_pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def claims(project: str, uid: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "iat": now - 10,
        "exp": now + 3600,
        "auth_time": now - 10,
        "firebase": {"sign_in_provider": "password", "identities": {}},
    }
    base.update(extra)
    return base


def sign(key: TestKey, payload: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(payload, key.private_pem, algorithm="RS256", headers={"kid": kid or key.kid})


def unsigned(payload: dict[str, Any], kid: str) -> str:
    return jwt.encode(payload, None, algorithm="none", headers={"kid": kid})
