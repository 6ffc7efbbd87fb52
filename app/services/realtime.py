"""The server's side of the Realtime Database (docs/realtime.md): the friendship mirror, the players'
message queues, the live-event broadcast and the rules deployment. No SDK here: the shards are
``RealtimeStore`` (app/repositories/realtime.py), the outbox ``MirrorOutbox``
(app/repositories/realtime_outbox.py).

The mirror decides who may read whose presence, so it fails closed: a record leaves the outbox only once
the shards say what Firestore says. Messages are a courtesy: they never fail the request that sent them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from app.domain import realtime
from app.domain.live_events import LiveEvent
from app.domain.realtime import Message, MirrorKey, MirrorRecord, PlayerMirror, Shards

log = logging.getLogger("app.realtime")

#: Applies of one key that find Firestore changed under them before giving up (the record stays).
MAX_ROUNDS = 3
#: Players per multi-path update of ``realtime resync`` (per shard).
RESYNC_PAGE = 200


class RealtimeStore(Protocol):
    async def update(self, shard: int, values: Mapping[str, Any]) -> None: ...
    async def get(self, shard: int, path: str) -> Any: ...
    async def keys(self, shard: int, path: str) -> list[str]: ...
    async def oldest(self, shard: int, path: str, child: str, limit: int) -> dict[str, Any]: ...
    async def ended_before(self, shard: int, path: str, child: str, bound: int) -> list[str]: ...
    async def rules(self, shard: int) -> str: ...
    async def put_rules(self, shard: int, text: str) -> None: ...


class MirrorOutbox(Protocol):
    async def get(self, key: MirrorKey) -> MirrorRecord | None: ...
    async def pending(self, limit: int) -> list[MirrorRecord]: ...
    async def settle(self, record: MirrorRecord) -> bool: ...
    async def truth(self, key: MirrorKey) -> bool: ...
    async def players(self, uids: Sequence[str]) -> list[PlayerMirror]: ...
    def player_ids(self, page: int) -> AsyncIterator[list[str]]: ...


class MirrorUnsettledError(Exception):
    """Firestore kept changing while a key was applied: its record stays for the next apply."""


@dataclass(frozen=True, slots=True)
class SyncReport:
    #: Records applied and deleted.
    applied: int
    #: Applied, but recorded again meanwhile: kept for the next run.
    kept: int
    #: Not applied (a shard or Firestore failed): kept.
    failed: int


@dataclass(frozen=True, slots=True)
class ResyncReport:
    players: int
    #: Per shard: players written there, and nodes of other players deleted (moved or gone).
    written: dict[int, int]
    removed: dict[int, int]


class RealtimeMirror:
    """``/friends`` and ``/hidden`` on the shards, kept in line with Firestore through the outbox."""

    def __init__(self, shards: Shards, store: RealtimeStore, outbox: MirrorOutbox) -> None:
        self._shards = shards
        self._store = store
        self._outbox = outbox

    async def _write(self, writes: Sequence[realtime.MirrorWrite]) -> None:
        """One multi-path update per shard touched, the shards in parallel; raises if any failed."""
        grouped = realtime.by_shard(self._shards, writes)
        results = await asyncio.gather(
            *(self._store.update(shard, values) for shard, values in grouped.items()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def apply(self, record: MirrorRecord) -> bool:
        """Writes what Firestore says now about the record's key, checks Firestore did not change while it
        wrote (else writes again, up to ``MAX_ROUNDS``), then deletes the record unless it was recorded
        again meanwhile. True when deleted. Raises when a shard or Firestore fails (the record stays)."""
        key = record.key
        for _ in range(MAX_ROUNDS):
            truth = await self._outbox.truth(key)
            await self._write(realtime.mirror_writes(key, truth))
            # A change that committed while this wrote has its own apply, which may have landed first:
            # reading again after the write means the last write of all follows the last change's commit.
            if await self._outbox.truth(key) == truth:
                return await self._outbox.settle(record)
        raise MirrorUnsettledError(f"{key.kind} {list(key.uids)} kept changing while it was applied")

    async def sync(self, key: MirrorKey) -> bool:
        """Right after a change committed: applies its record. Never raises: on a failure the record
        stays for ``realtime sync`` (logged). True when the shards are in line."""
        try:
            record = await self._outbox.get(key)
            if record is None:  # someone applied it after our commit, reading the truth after it
                return True
            await self.apply(record)
        except Exception as exc:
            log.warning(
                "realtime mirror not applied: %s: %s; realtime sync retries it",
                type(exc).__name__,
                exc,
                extra={"event": "realtime_mirror_failed", "kind": key.kind},
            )
            return False
        return True

    async def sync_pending(self, limit: int) -> SyncReport:
        """``realtime sync``: applies the oldest ``limit`` records left by failed or interrupted applies."""
        applied = kept = failed = 0
        for record in await self._outbox.pending(limit):
            try:
                settled = await self.apply(record)
            except Exception as exc:
                failed += 1
                log.warning(
                    "realtime mirror not applied: %s: %s",
                    type(exc).__name__,
                    exc,
                    extra={"event": "realtime_mirror_failed", "kind": record.key.kind},
                )
                continue
            if settled:
                applied += 1
            else:
                kept += 1
        return SyncReport(applied=applied, kept=kept, failed=failed)

    async def resync(self, page: int = RESYNC_PAGE) -> ResyncReport:
        """``realtime resync``: rewrites every player's ``/friends/{uid}`` and ``/hidden/{uid}`` on their
        shard from Firestore, deletes them on every other shard, then deletes on each shard the nodes of
        players Firestore no longer has. Each page is read again after it is written and written again if
        it changed meanwhile (as ``apply`` does). Raises on the first failure; a rerun starts over."""
        count = self._shards.count
        written = dict.fromkeys(range(count), 0)
        removed = dict.fromkeys(range(count), 0)
        players = 0
        known: set[str] = set()
        async for uids in self._outbox.player_ids(page):
            known.update(uids)
            players += len(uids)
            mirrors = await self._outbox.players(uids)
            await self._write_page(mirrors)
            for _ in range(MAX_ROUNDS):
                again = await self._outbox.players(uids)
                if again == mirrors:
                    break
                mirrors = again
                await self._write_page(mirrors)
            else:
                raise MirrorUnsettledError("players kept changing while resync wrote them")
            for mirror in mirrors:
                if realtime.is_key(mirror.uid):
                    written[self._shards.of(mirror.uid)] += 1
        for shard in range(count):
            removed[shard] = await self._remove_strays(shard, known)
        return ResyncReport(players=players, written=written, removed=removed)

    async def _write_page(self, mirrors: Sequence[PlayerMirror]) -> None:
        updates: dict[int, dict[str, Any]] = {shard: {} for shard in range(self._shards.count)}
        for mirror in mirrors:
            if not realtime.is_key(mirror.uid):
                continue
            own = self._shards.of(mirror.uid)
            for path, value in realtime.player_values(mirror).items():
                for shard, values in updates.items():
                    values[path] = value if shard == own else None
        await asyncio.gather(
            *(self._store.update(shard, values) for shard, values in updates.items() if values)
        )

    async def _remove_strays(self, shard: int, known: set[str]) -> int:
        """Deletes ``/friends/{uid}`` and ``/hidden/{uid}`` of players Firestore does not have."""
        stray: dict[str, Any] = {}
        for top in ("friends", "hidden"):
            for uid in await self._store.keys(shard, top):
                if uid not in known:
                    stray[f"{top}/{uid}"] = None
        if stray:
            await self._store.update(shard, stray)
        return len({path.split("/", 1)[1] for path in stray})


class RealtimeMessages:
    """``/messages/{uid}`` and ``/broadcast``: what the server pushes to connected clients."""

    def __init__(
        self,
        shards: Shards,
        store: RealtimeStore,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._shards = shards
        self._store = store
        self._clock = clock

    async def _state(self, shard: int, uid: str) -> str | None:
        state = await self._store.get(shard, realtime.presence_state_path(uid))
        return state if isinstance(state, str) else None

    async def deliver(self, uid: str, message: Message) -> bool:
        """Adds ``message`` to the player's queue, trimming it (``realtime.to_trim``) in the same update.
        True when it was queued and the player's presence says their client is connected: no FCM push is
        needed. Never raises (False: send the push)."""
        try:
            shard = self._shards.of(uid)
            queue = realtime.messages_path(uid)
            state, oldest = await asyncio.gather(
                self._state(shard, uid),
                self._store.oldest(shard, queue, "at", realtime.TRIM_READ),
                return_exceptions=True,
            )
            now = self._clock()
            values: dict[str, Any] = {f"{queue}/{realtime.message_id(now)}": message.value()}
            if isinstance(oldest, dict):
                values.update({f"{queue}/{old}": None for old in realtime.to_trim(oldest, now)})
            await self._store.update(shard, values)
        except Exception as exc:
            _failed("deliver", message.kind.value, exc)
            return False
        if isinstance(state, BaseException):  # queued, but whether they are connected is unknown
            _failed("presence", message.kind.value, state)
            return False
        return state in realtime.CONNECTED_STATES

    async def broadcast_event(self, event: LiveEvent) -> bool:
        """``/broadcast/live_events/{id}`` on every shard, deleting there the events that have ended.
        True when every shard took it. Never raises."""
        value = realtime.live_event_value(event.name, event.starts_at, event.ends_at)
        now_ms = realtime.epoch_ms(self._clock())

        async def one(shard: int) -> None:
            ended = await self._store.ended_before(shard, realtime.live_events_path(), "ends_at", now_ms)
            values: dict[str, Any] = {f"{realtime.live_events_path()}/{e}": None for e in ended}
            values[realtime.live_event_path(event.event_id)] = value
            await self._store.update(shard, values)

        results = await asyncio.gather(
            *(one(shard) for shard in range(self._shards.count)), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            _failed("broadcast", realtime.MessageKind.live_event_started.value, failure)
        return not failures


def _failed(step: str, kind: str, exc: BaseException) -> None:
    log.warning(
        "realtime message not sent (%s): %s: %s",
        step,
        type(exc).__name__,
        exc,
        extra={"event": "realtime_message_failed", "kind": kind},
    )


# --- the rules ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShardRules:
    shard: int
    url: str
    #: unchanged: already deployed; changed: deployed now; drift: differs (``--check``, nothing written).
    status: Literal["unchanged", "changed", "drift"]


def _same_rules(deployed: str, wanted: Any) -> bool:
    try:
        return bool(json.loads(deployed) == wanted)
    except ValueError:  # comments, or not JSON at all: not what the repository deploys
        return False


class RulesDeployment:
    def __init__(self, shards: Shards, store: RealtimeStore) -> None:
        self._shards = shards
        self._store = store

    async def deploy(self, text: str, *, check: bool) -> list[ShardRules]:
        """Reads each shard's rules and, unless ``check``, writes ``text`` where they differ. Compared as
        JSON (the console may store other formatting). Raises on the first shard that fails."""
        wanted = json.loads(text)
        report = []
        for shard, url in enumerate(self._shards.urls):
            if _same_rules(await self._store.rules(shard), wanted):
                report.append(ShardRules(shard, url, "unchanged"))
                continue
            if not check:
                await self._store.put_rules(shard, text)
            report.append(ShardRules(shard, url, "drift" if check else "changed"))
        return report
