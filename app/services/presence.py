"""Presence: a player is online while their heartbeats keep arriving within the TTL.

Clients send ``POST /v1/presence/heartbeat`` every ``ttl_s / 2`` seconds or so; a player whose last heartbeat
is older than the TTL is offline (the key expired). A player sees the statuses of their own friends list
only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from app.services.errors import Failure, ServiceError
from app.services.users import UserService

STATUSES = ("online", "in_game", "away")
DEFAULT_TTL_S = 60


class PresenceUnavailableError(Exception):
    """Redis could not be reached."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    status: str
    at: datetime


class PresenceStore(Protocol):
    async def beat(self, uid: str, beat: Heartbeat, ttl_s: int) -> None: ...
    async def beats(self, uids: Sequence[str]) -> list[Heartbeat | None]: ...


def _unavailable() -> ServiceError:
    return ServiceError(Failure.UNAVAILABLE, "presence_unavailable", "presence is unavailable; retry shortly")


class PresenceService:
    def __init__(
        self,
        store: PresenceStore,
        users: UserService,
        ttl_s: int = DEFAULT_TTL_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._users = users
        self.ttl_s = ttl_s
        self._clock = clock

    async def heartbeat(self, uid: str, status: str) -> Heartbeat:
        beat = Heartbeat(status=status, at=self._clock())
        try:
            await self._store.beat(uid, beat, self.ttl_s)
        except PresenceUnavailableError:
            raise _unavailable() from None
        return beat

    async def friends(self, uid: str, token_name: str | None) -> list[tuple[str, Heartbeat | None]]:
        """The caller's friends with their last heartbeat within the TTL (None: offline)."""
        friends = (await self._users.my_profile(uid, token_name)).friends
        try:
            beats = await self._store.beats(friends)
        except PresenceUnavailableError:
            raise _unavailable() from None
        return list(zip(friends, beats, strict=True))
