"""Firebase App Check tokens (``firebase_admin.app_check``): was this request made by our own game client?

An ID token proves who the player is; an App Check token proves the request comes from our app on a
genuine device (Play Integrity, App Attest / DeviceCheck, reCAPTCHA on the web), so a script holding a
valid account cannot call the sensitive routes. The SDK checks the signature against App Check's JWKS
(cached 6 h), the issuer, and that ``aud`` names ``projects/<project id>`` (the App's project); a token of
another project is refused, and every app registered in our project is one of ours. Limited-use tokens
are consumed at App Check (``verifyAppCheckToken``, an HTTP call): a second use answers
``already_consumed``. The outcome carries no HTTP: ``app/api/app_check.py`` decides what it means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from anyio import to_thread

if TYPE_CHECKING:
    import firebase_admin

#: Real tokens are about 1 KB; anything far larger is refused without asking the SDK.
MAX_TOKEN_CHARS = 4096
_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


class Outcome(StrEnum):
    """What a check found (the ``outcome`` label of ``pog_app_check_total``)."""

    OK = "ok"
    MISSING = "missing"
    INVALID = "invalid"
    #: A limited-use token App Check had already consumed.
    REPLAYED = "replayed"
    #: App Check's keys or its consumption endpoint could not be reached.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class AppCheckResult:
    outcome: Outcome
    #: The attested app (the token's ``sub``), when the token verified.
    app_id: str | None = None
    #: Why a token was refused, for the log line (the SDK's message; never the token).
    reason: str = ""


class AppCheckVerifier:
    """Verifies App Check tokens with the process's firebase_admin App (``TokenVerifier.app``)."""

    def __init__(self, app: firebase_admin.App) -> None:
        self._app = app

    def _verify(self, token: str, consume: bool) -> AppCheckResult:
        # Imported on first use: firebase_admin loads google.auth and cryptography, which the API's start
        # does not need (tests/app/test_main.py).
        from firebase_admin import app_check
        from firebase_admin.exceptions import FirebaseError
        from jwt import PyJWKClientConnectionError, PyJWKClientError

        try:
            claims: dict[str, Any] = app_check.verify_token(token, app=self._app, consume=consume)
        except PyJWKClientConnectionError as exc:  # App Check's JWKS could not be fetched
            return AppCheckResult(Outcome.UNAVAILABLE, reason=type(exc).__name__)
        except PyJWKClientError as exc:  # no key with the token's kid (or none named)
            return AppCheckResult(Outcome.INVALID, reason=str(exc))
        except ValueError as exc:  # signature, audience, issuer, expiry, header or shape
            return AppCheckResult(Outcome.INVALID, reason=str(exc))
        except FirebaseError as exc:  # the consumption call failed
            return AppCheckResult(Outcome.UNAVAILABLE, reason=type(exc).__name__)
        app_id = claims.get("app_id")
        app_id = app_id if isinstance(app_id, str) else None
        if consume and claims.get("already_consumed"):
            return AppCheckResult(Outcome.REPLAYED, app_id, "limited-use token already consumed")
        return AppCheckResult(Outcome.OK, app_id)

    async def check(self, token: str | None, *, limited_use: bool) -> AppCheckResult:
        """The outcome for a request's token (None: no header); ``limited_use`` consumes it."""
        if not token:
            return AppCheckResult(Outcome.MISSING)
        if len(token) > MAX_TOKEN_CHARS or not _JWT_SHAPE.match(token):
            return AppCheckResult(Outcome.INVALID, reason="not a JWT")
        # In anyio's thread pool: the SDK may fetch the JWKS and, to consume, calls App Check.
        return await to_thread.run_sync(self._verify, token, limited_use)
