"""Player profiles and inventory: the rules, over repository interfaces (no SDK here).

Friendships: ``app/services/friends.py``."""

from __future__ import annotations

import hashlib
from collections.abc import Coroutine
from typing import Any, Protocol

from app.domain import players
from app.domain.players import (
    Inventory,
    Profile,
    ProfileChanges,
    PublicProfile,
    Stats,
    default_display_name,
)
from app.domain.realtime import MirrorKey
from app.services.errors import Failure, ServiceError
from app.services.ports import Cache

#: The architecture's 1 hour for cached stats; the app passes ``POG_STATS_CACHE_TTL_S``.
DEFAULT_STATS_TTL_S = 3600


class MirrorSync(Protocol):
    async def sync(self, key: MirrorKey) -> bool: ...


class UserStore(Protocol):
    async def get(self, uid: str) -> Profile | None: ...
    async def create(self, uid: str, display_name: str) -> Profile: ...
    async def update_profile(self, uid: str, changes: ProfileChanges) -> None: ...
    async def get_inventory(self, uid: str) -> Inventory | None: ...
    async def get_stats(self, uid: str) -> Stats | None: ...


def etag(body: bytes) -> str:
    """A strong validator for a rendered body (clients keep a 1-minute device cache with it)."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class UserService:
    """Firestore holds every profile; Redis holds rendered copies, deleted after each write commits.

    Stats have their own entry (``stats_key``, 1 hour) for ``GET /v1/me/stats``. The profile entry keeps its
    copy of them, because it is the rendered ``GET /v1/me`` body; a stats write deletes both entries in one
    DEL (``cached_stats_keys``): both go, or both wait in the cache's retried invalidations, so the profile
    never shows stats older than the stats entry after a write (its longer TTL only bounds other fields).
    """

    def __init__(
        self,
        store: UserStore,
        cache: Cache,
        *,
        profile_ttl_s: int,
        inventory_ttl_s: int,
        stats_ttl_s: int = DEFAULT_STATS_TTL_S,
        mirror: MirrorSync | None = None,
    ) -> None:
        """``mirror``: applies the hidden flag to the Realtime Database after a change to
        ``presence_visible`` (the store records it in the outbox with the change); None: realtime off."""
        self._store = store
        self._mirror = mirror
        self._cache = cache
        self._profile_ttl_s = profile_ttl_s
        self._inventory_ttl_s = inventory_ttl_s
        self._stats_ttl_s = stats_ttl_s

    async def _cache_profile(self, profile: Profile) -> bytes:
        body = profile.model_dump_json().encode()
        await self._cache.set(players.profile_key(profile.uid), body, self._profile_ttl_s)
        return body

    async def my_profile_json(self, uid: str, token_name: str | None) -> bytes:
        """The caller's profile as rendered JSON (cached; the document is created on first sight)."""
        cached = await self.cached_profile_json(uid)
        if cached is not None:
            return cached
        return await self.load_profile_json(uid, token_name)

    def cached_profile_json(self, uid: str) -> Coroutine[Any, Any, bytes | None]:
        """The cached render alone: no Firestore read, no write. Queued when called (``RedisCache.get``)."""
        return self._cache.get(players.profile_key(uid))

    async def load_profile_json(self, uid: str, token_name: str | None) -> bytes:
        """The profile read from Firestore (created on first sight) and cached: after a cache miss."""
        profile = await self._store.get(uid)
        if profile is None:
            profile = await self._store.create(uid, default_display_name(uid, token_name))
        return await self._cache_profile(profile)

    async def my_profile(self, uid: str, token_name: str | None) -> Profile:
        return Profile.model_validate_json(await self.my_profile_json(uid, token_name))

    async def my_stats(self, uid: str, token_name: str | None) -> Stats:
        cached = await self._cache.get(players.stats_key(uid))
        if cached is not None:
            return Stats.model_validate_json(cached)
        stats = await self._store.get_stats(uid)
        if stats is None:
            stats = (await self.my_profile(uid, token_name)).stats  # created on first sight
        await self._cache.set(players.stats_key(uid), stats.model_dump_json().encode(), self._stats_ttl_s)
        return stats

    async def update_profile(self, uid: str, token_name: str | None, changes: ProfileChanges) -> Profile:
        await self.my_profile(uid, token_name)  # the document exists from here on
        kept = {
            name
            for name in players.NOT_CLEARABLE & changes.model_fields_set
            if getattr(changes, name) is None
        }
        if kept:
            # A name or a setting cannot be cleared: null leaves it as is (null clears country and avatar_id).
            changes = ProfileChanges.model_validate(changes.model_dump(exclude_unset=True, exclude=kept))
        if changes.model_fields_set:
            await self._store.update_profile(uid, changes)
            await self._cache.delete(players.profile_key(uid))
        if "presence_visible" in changes.model_fields_set and self._mirror is not None:
            # /hidden/{uid} on the player's shard; a failure leaves the outbox record to realtime sync.
            await self._mirror.sync(MirrorKey.hidden(uid))
        return await self.my_profile(uid, token_name)

    async def inventory(self, uid: str, token_name: str | None) -> Inventory:
        cached = await self._cache.get(players.inventory_key(uid))
        if cached is not None:
            return Inventory.model_validate_json(cached)
        inventory = await self._store.get_inventory(uid)
        if inventory is None:
            await self.my_profile(uid, token_name)
            inventory = Inventory()
        body = inventory.model_dump_json().encode()
        await self._cache.set(players.inventory_key(uid), body, self._inventory_ttl_s)
        return inventory

    async def any_profile(self, uid: str) -> Profile:
        """Any player's full profile (read through the cache); 404 when there is no such player."""
        cached = await self._cache.get(players.profile_key(uid))
        if cached is not None:
            return Profile.model_validate_json(cached)
        profile = await self._store.get(uid)
        if profile is None:
            raise ServiceError(Failure.NOT_FOUND, "user_not_found", "no such player")
        await self._cache_profile(profile)
        return profile

    async def public_profile(self, uid: str) -> PublicProfile:
        profile = await self.any_profile(uid)
        return PublicProfile(
            uid=profile.uid,
            display_name=profile.display_name,
            country=profile.country,
            avatar_id=profile.avatar_id,
            best_score=profile.stats.best_score,
        )
