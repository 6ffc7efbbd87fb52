"""The caller of a request and the Firebase ID tokens this process has already verified.

The verification itself (``firebase_admin``) is in ``app/core/firebase_auth.py``, built at start-up: the API
module imports only these light types.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import TLRUCache


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


class AuthUnavailableError(Exception):
    """The token could not be checked (certificate fetch or revocation check failed): retry later."""


#: Tokens remembered per process (about 200 bytes each); the least recently used is dropped first.
MAX_VERIFIED_TOKENS = 10_000


def _until(_key: bytes, entry: tuple[Principal, float], _now: float) -> float:
    return entry[1]


class VerifiedTokens:
    """Callers of tokens the SDK accepted, by the token's SHA-256, each until the token's ``exp``.

    Keyed by a digest, not the token: the map holds no credential, and a lookup needs the exact token
    (a hash collision is out of reach). Bounded; an expired entry is never returned.
    """

    def __init__(
        self, max_entries: int = MAX_VERIFIED_TOKENS, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._entries: TLRUCache[bytes, tuple[Principal, float]] = TLRUCache(
            maxsize=max_entries, ttu=_until, timer=clock
        )

    def __len__(self) -> int:
        return len(self._entries)

    def now(self) -> float:
        return self._clock()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(self._key(token))
        return entry[0] if entry is not None else None

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        # The cache skips an entry whose expiry has passed.
        self._entries[self._key(token)] = (principal, expires_at)


def principal_of(claims: dict[str, Any]) -> Principal:
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
