"""Firebase ID token verification (``firebase_admin.auth``) and the caller it yields.

With ``FIREBASE_AUTH_EMULATOR_HOST`` set the SDK's emulator behaviour applies (unsigned tokens are
accepted); the settings refuse that outside dev and test.

A token the SDK has verified is remembered in this process until its ``exp`` (``VerifiedTokens``): a
client sends the same ID token for up to an hour, and its signature, audience, issuer and subject cannot
change, so verifying it again proves nothing new. Only what can change is re-checked: the clock (an entry
is used only before the token's ``exp``) and, when ``check_revoked`` is on, the revocation and disabled
state, which lives in Firebase Auth. Then an entry is kept only ``auth_revocation_check_interval_s``
(0, the default: nothing is remembered and every request asks Firebase Auth), the delay the operator
accepts before a revocation reaches a token this instance has already checked.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
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


#: Tokens remembered per process (about 200 bytes each); the least recently used is dropped first.
MAX_VERIFIED_TOKENS = 10_000


class VerifiedTokens:
    """Callers of tokens the SDK accepted, by the token's SHA-256, each until the token's ``exp``.

    Keyed by a digest, not the token: the map holds no credential, and a lookup needs the exact token
    (a hash collision is out of reach). Bounded; an expired entry is never returned.
    """

    def __init__(
        self, max_entries: int = MAX_VERIFIED_TOKENS, clock: Callable[[], float] = time.time
    ) -> None:
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def now(self) -> float:
        return self._clock()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Principal | None:
        key = self._key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        principal, expires_at = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return principal

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        if self._clock() >= expires_at:
            return
        key = self._key(token)
        self._entries[key] = (principal, expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


def _principal(claims: dict[str, Any]) -> Principal:
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


class TokenVerifier:
    def __init__(self, settings: Settings, verified: VerifiedTokens | None = None) -> None:
        cred: credentials.Base
        cred = credentials.ApplicationDefault() if settings.environment == "prod" else AnonymousCredential()
        self._app = firebase_admin.initialize_app(
            cred,
            options={"projectId": settings.firebase_project_id},
            name=f"pog-api-{id(self)}",
        )
        self._check_revoked = settings.auth_check_revoked
        #: How long a verified token is trusted without asking again (None: until its ``exp``).
        self._trust_s: float | None = (
            settings.auth_revocation_check_interval_s if settings.auth_check_revoked else None
        )
        self._verified = verified if verified is not None else VerifiedTokens()

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
        # In the thread pool: the SDK may fetch Google's certificates or (check_revoked) the user record.
        claims = await run_in_threadpool(self._verify, token)
        principal = _principal(claims)
        expires_at = claims.get("exp")
        if self._trust_s != 0 and isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
            until = float(expires_at)
            if self._trust_s is not None:
                until = min(until, self._verified.now() + self._trust_s)
            self._verified.put(token, principal, until)
        return principal
