"""Display names for leaderboard entries, in batch: process memory, then the profile cache, then Firestore.

One ``MGET`` of ``user:{uid}:profile`` (the rendered profiles UserService caches and deletes on every
profile write) and one Firestore ``get_all`` (``display_name`` only) for the rest. Names found are kept in
process memory for ``ttl_s`` (a rename shows within a minute). On a Redis Cluster the profiles spread
over the shards: the ``MGET`` becomes one per slot, pipelined per node (``read_many``).
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from cachetools import TTLCache
from google.cloud import firestore

from app.core.metrics import firestore_timer
from app.domain.players import default_display_name, profile_key
from app.repositories.breaker import RedisBreaker
from app.repositories.clients import RedisClient, read_many
from app.repositories.leaderboard_sets import FAILURES
from app.repositories.users import COLLECTION as USERS


class DisplayNames:
    def __init__(
        self,
        client: RedisClient,
        breaker: RedisBreaker,
        db: firestore.AsyncClient,
        ttl_s: float = 60.0,
        max_entries: int = 100_000,
    ) -> None:
        self._redis = client
        self._breaker = breaker
        self._db = db
        self._memory: TTLCache[str, str] = TTLCache(maxsize=max_entries, ttl=ttl_s)

    async def names(self, uids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        missing: list[str] = []
        for uid in dict.fromkeys(uids):
            kept = self._memory.get(uid)
            if kept is not None:
                found[uid] = kept
            else:
                missing.append(uid)
        if missing:
            missing = await self._from_profile_cache(missing, found)
        if missing:
            await self._from_firestore(missing, found)
        return found

    async def _from_profile_cache(self, uids: list[str], found: dict[str, str]) -> list[str]:
        keys = [profile_key(uid) for uid in uids]
        try:
            values = await self._breaker.call(lambda: read_many(self._redis, keys))
        except FAILURES:
            return uids
        rest: list[str] = []
        for uid, value in zip(uids, values, strict=True):
            name = orjson.loads(value).get("display_name") if isinstance(value, bytes) else None
            if isinstance(name, str):
                found[uid] = name
                self._memory[uid] = name
            else:
                rest.append(uid)
        return rest

    async def _from_firestore(self, uids: list[str], found: dict[str, str]) -> None:
        refs = [self._db.collection(USERS).document(uid) for uid in uids]
        with firestore_timer("get"):
            async for snap in self._db.get_all(refs, field_paths=["display_name"]):
                data = snap.to_dict() if snap.exists else None
                name = data.get("display_name") if data else None
                name = name if isinstance(name, str) else default_display_name(snap.id, None)
                found[snap.id] = name
                self._memory[snap.id] = name
