"""Firebase ID token verification (``firebase_admin.auth``) and the caller it yields.

With ``FIREBASE_AUTH_EMULATOR_HOST`` set the SDK's emulator behaviour applies (unsigned tokens are
accepted); the settings refuse that outside dev and test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import firebase_admin
import google.auth.credentials
from fastapi.concurrency import run_in_threadpool
from firebase_admin import auth, credentials

from app.core.config import Settings


class AnonymousCredential(credentials.Base):  # type: ignore[misc]
    """A credential for local runs and tests: token verification and the emulators need none."""

    def get_credential(self) -> google.auth.credentials.Credentials:
        return google.auth.credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]


@dataclass(frozen=True, slots=True)
class Principal:
    uid: str
    role: str
    second_factor: str | None
    name: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class InvalidTokenError(Exception):
    """The bearer token is not a valid, current Firebase ID token."""


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        cred: credentials.Base
        cred = credentials.ApplicationDefault() if settings.environment == "prod" else AnonymousCredential()
        self._app = firebase_admin.initialize_app(
            cred,
            options={"projectId": settings.firebase_project_id},
            name=f"pog-api-{id(self)}",
        )
        self._check_revoked = settings.auth_check_revoked

    def close(self) -> None:
        firebase_admin.delete_app(self._app)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = auth.verify_id_token(
                token, app=self._app, check_revoked=self._check_revoked
            )
        except (ValueError, auth.InvalidIdTokenError, auth.UserDisabledError) as exc:
            # ExpiredIdTokenError and RevokedIdTokenError are InvalidIdTokenError subclasses.
            raise InvalidTokenError(type(exc).__name__) from exc
        return claims

    async def verify(self, token: str) -> Principal:
        claims = await run_in_threadpool(self._verify, token)
        firebase = claims.get("firebase")
        second = firebase.get("sign_in_second_factor") if isinstance(firebase, dict) else None
        role = claims.get("role")
        name = claims.get("name")
        return Principal(
            uid=str(claims["uid"]),
            role=role if isinstance(role, str) else "player",
            second_factor=second if isinstance(second, str) else None,
            name=name if isinstance(name, str) else None,
        )
