"""Firebase ID token verification (``firebase_admin.auth``), built once at start-up.

With ``FIREBASE_AUTH_EMULATOR_HOST`` set the SDK's emulator behaviour applies (unsigned tokens are
accepted); the settings refuse that outside dev and test. What is remembered between requests, and for
how long, is explained in ``app/core/auth.py``.
"""

from __future__ import annotations

from typing import Any

import firebase_admin
import google.auth.credentials
from anyio import to_thread
from firebase_admin import auth, credentials
from firebase_admin.exceptions import FirebaseError

from app.core.auth import AuthUnavailableError, InvalidTokenError, Principal, VerifiedTokens, principal_of
from app.core.config import Settings


class AnonymousCredential(credentials.Base):  # type: ignore[misc]
    """A credential for local runs and tests: token verification and the emulators need none."""

    def get_credential(self) -> google.auth.credentials.Credentials:
        return google.auth.credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]


#: Seconds a call to Google (a revocation check, consuming an App Check token) may take; the SDK's
#: default is 120 s, which would hold a request far past the client's patience.
HTTP_TIMEOUT_S = 10


class TokenVerifier:
    def __init__(self, settings: Settings, verified: VerifiedTokens | None = None) -> None:
        cred: credentials.Base
        # A deployed stack (dev or prod) asks Google as its runtime account; local runs and tests need none.
        cred = credentials.ApplicationDefault() if settings.deployed else AnonymousCredential()
        self._app = firebase_admin.initialize_app(
            cred,
            options={"projectId": settings.firebase_project_id, "httpTimeout": HTTP_TIMEOUT_S},
            name=f"pog-api-{id(self)}",
        )
        self._check_revoked = settings.auth_check_revoked
        #: How long a verified token is trusted without asking again (None: until its ``exp``).
        self._trust_s: float | None = (
            settings.auth_revocation_check_interval_s if settings.auth_check_revoked else None
        )
        self._verified = verified if verified is not None else VerifiedTokens()

    @property
    def app(self) -> firebase_admin.App:
        """The firebase_admin App, for the other token checks of this process (App Check)."""
        return self._app

    def close(self) -> None:
        firebase_admin.delete_app(self._app)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = auth.verify_id_token(
                token, app=self._app, check_revoked=self._check_revoked
            )
        except (ValueError, auth.InvalidIdTokenError, auth.UserDisabledError, auth.UserNotFoundError) as exc:
            # ExpiredIdTokenError and RevokedIdTokenError are InvalidIdTokenError subclasses; with
            # check_revoked, a deleted account's tokens fail the user lookup (not an outage: no 503).
            raise InvalidTokenError(type(exc).__name__) from exc
        except FirebaseError as exc:  # certificate fetch or revocation check could not be made
            raise AuthUnavailableError(type(exc).__name__) from exc
        return claims

    def remembered(self, token: str) -> Principal | None:
        """The caller of a token verified before and not yet expired, without a call to the SDK.

        With ``check_revoked`` on, only within the revocation check interval of the last check (never
        when it is 0): only Firebase Auth knows about revocations and disabled accounts.
        """
        return None if self._trust_s == 0 else self._verified.get(token)

    async def verify(self, token: str) -> Principal:
        if (known := self.remembered(token)) is not None:
            return known
        # In anyio's thread pool (FastAPI's): the SDK may fetch Google's certificates or the user record.
        claims = await to_thread.run_sync(self._verify, token)
        principal = principal_of(claims)
        expires_at = claims.get("exp")
        if self._trust_s != 0 and isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
            until = float(expires_at)
            if self._trust_s is not None:
                until = min(until, self._verified.now() + self._trust_s)
            self._verified.put(token, principal, until)
        return principal
