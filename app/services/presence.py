"""Presence reads and writes: a player's heartbeat, and the statuses of their own (mutual) friends only.

A player who hides their presence (``presence_visible`` false on their profile) has their heartbeats
answered but not recorded, so every friend sees them offline with no last-seen time; hiding also drops the
live one (``UserService.update_profile``).

What a heartbeat is and how long it counts: ``app/domain/presence.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from app.domain.presence import DEFAULT_TTL_S, Heartbeat
from app.repositories.errors import PresenceUnavailableError
from app.services.errors import Failure, ServiceError
from app.services.users import UserService


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

    async def heartbeat(self, uid: str, token_name: str | None, status: str) -> Heartbeat:
        beat = Heartbeat(status=status, at=self._clock())
        if not (await self._users.my_profile(uid, token_name)).presence_visible:
            return beat
        try:
            await self._store.beat(uid, beat, self.ttl_s)
        except PresenceUnavailableError:
            raise _unavailable() from None
        return beat

    async def friends(self, uid: str, token_name: str | None) -> list[tuple[str, Heartbeat | None]]:
        """The caller's mutual friends with their last heartbeat within the TTL (None: offline or hidden)."""
        friends = (await self._users.my_profile(uid, token_name)).friends
        try:
            beats = await self._store.beats(friends)
        except PresenceUnavailableError:
            raise _unavailable() from None
        return list(zip(friends, beats, strict=True))
