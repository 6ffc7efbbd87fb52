"""Where presence is: the caller's own shard and nodes, and each of their mutual friends' presence node.

The API reads no presence itself: clients read their friends' nodes on the Realtime Database, under rules
that check the friendship (``app/realtime/database.rules.json``). A friend who hides their presence is
listed too; the rules refuse the read.
"""

from __future__ import annotations

from app.domain import realtime
from app.domain.presence import RealtimeSetup
from app.domain.realtime import Location, Shards
from app.services.errors import Failure, ServiceError
from app.services.users import UserService


def _off() -> ServiceError:
    # Only local runs and tests may run without it (the settings require it in dev and prod): there is
    # no shard to name, as for an unknown resource, rather than an outage to retry.
    return ServiceError(
        Failure.NOT_FOUND,
        "realtime_off",
        "this deployment has no Realtime Database (POG_REALTIME_DATABASE_URLS is empty)",
    )


class PresenceService:
    def __init__(self, users: UserService, shards: Shards | None) -> None:
        """``shards`` is None when the Realtime Database is off (local runs and tests only)."""
        self._users = users
        self._shards = shards

    def _layout(self) -> Shards:
        if self._shards is None:
            raise _off()
        return self._shards

    def _checked(self, uid: str) -> str:
        if not realtime.is_key(uid):
            raise ServiceError(
                Failure.INVALID,
                "uid_not_realtime",
                "this account's uid cannot be a Realtime Database key (it holds . $ # [ ] or /)",
            )
        return uid

    async def setup(self, uid: str) -> RealtimeSetup:
        shards = self._layout()
        self._checked(uid)
        return RealtimeSetup(
            presence=realtime.presence_location(shards, uid),
            messages=realtime.messages_location(shards, uid),
            database_urls=shards.urls,
        )

    async def friends(self, uid: str, token_name: str | None) -> list[Location]:
        """Each mutual friend's presence node (hidden ones too: the rules refuse those reads)."""
        shards = self._layout()
        friends = (await self._users.my_profile(uid, token_name)).friends
        return [realtime.presence_location(shards, f) for f in friends if realtime.is_key(f)]
