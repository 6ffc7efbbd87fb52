"""The Realtime Database layout (docs/realtime.md): shards, paths, messages and the friendship mirror.

Each player lives on one shard (one database instance), chosen by ``shard_for``; clients compute it too.
On the shard of the player named in the path:

- ``/presence/{uid}`` = ``{state, last_changed}``: written by the player's client alone;
- ``/friends/{uid}/{friendUid}`` = ``true``: the server's mirror of the mutual friendships: who may read
  uid's presence (never written for a one-sided request);
- ``/hidden/{uid}`` = ``true`` while the player hides their presence;
- ``/messages/{uid}/{id}`` = ``{kind, title, body, data, at}``: what the server pushes to the player;
- ``/broadcast/live_events/{eventId}`` = ``{name, starts_at, ends_at, at}``, on every shard.

The rules that enforce who reads and writes what are ``app/realtime/database.rules.json``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

#: The states a client writes to its own presence node (the rules accept these only).
PRESENCE_STATES = ("online", "in_game", "away", "offline")
#: States of a player whose client holds its connection: a message reaches it without FCM.
CONNECTED_STATES = frozenset({"online", "in_game", "away"})
#: The Realtime Database's server timestamp placeholder: the shard writes its own clock (ms since epoch).
SERVER_TIMESTAMP: Mapping[str, str] = {".sv": "timestamp"}
#: A player's message queue keeps at most this many entries: each push trims the oldest beyond it.
MAX_MESSAGES = 50
#: Entries older than this are deleted when the next message is pushed (a client that never came back).
MESSAGE_MAX_AGE = timedelta(days=7)
#: How many of the oldest entries a push reads to trim the queue: all of them while the bound holds.
TRIM_READ = MAX_MESSAGES + 10

#: Characters a Realtime Database key cannot contain (plus the ASCII control characters).
_FORBIDDEN_KEY_CHARACTERS = frozenset(".$#[]/")
_MAX_KEY_BYTES = 768
#: The Realtime Database's own push-id alphabet, in sort order: ids made from it sort by creation time.
_PUSH_CHARS = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


class RealtimeKeyError(ValueError):
    """A uid or id the Realtime Database cannot use as a key."""


def shard_for(uid: str, n: int) -> int:
    """The shard (0 .. n-1) of a player: the first 8 bytes of SHA-256(uid), big-endian, modulo n.

    Stable for a given n; clients compute the same (docs/realtime.md has it in JavaScript and Kotlin).
    """
    if n < 1:
        raise ValueError(f"a realtime layout needs at least one shard, not {n}")
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") % n


def key(value: str) -> str:
    """``value`` if the Realtime Database accepts it as a key, else ``RealtimeKeyError`` naming why."""
    if not value:
        raise RealtimeKeyError("an empty string is not a Realtime Database key")
    bad = sorted({c for c in value if c in _FORBIDDEN_KEY_CHARACTERS or ord(c) < 32 or ord(c) == 127})
    if bad:
        raise RealtimeKeyError(f"{value!r} is not a Realtime Database key: it contains {''.join(bad)!r}")
    if len(value.encode()) > _MAX_KEY_BYTES:
        raise RealtimeKeyError(f"{value[:40]!r}... is longer than {_MAX_KEY_BYTES} bytes")
    return value


def is_key(value: str) -> bool:
    try:
        key(value)
    except RealtimeKeyError:
        return False
    return True


# --- paths (no leading slash: the keys of a multi-path update at a shard's root) -----------------------


def presence_path(uid: str) -> str:
    return f"presence/{key(uid)}"


def presence_state_path(uid: str) -> str:
    return f"{presence_path(uid)}/state"


def friend_path(uid: str, friend: str) -> str:
    """Present (``true``) while ``friend`` may read ``uid``'s presence: on ``uid``'s shard."""
    return f"friends/{key(uid)}/{key(friend)}"


def friends_path(uid: str) -> str:
    return f"friends/{key(uid)}"


def hidden_path(uid: str) -> str:
    return f"hidden/{key(uid)}"


def messages_path(uid: str) -> str:
    return f"messages/{key(uid)}"


def live_events_path() -> str:
    return "broadcast/live_events"


def live_event_path(event_id: str) -> str:
    return f"{live_events_path()}/{key(event_id)}"


# --- shards ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shards:
    """The database URLs of a stack, shard 0 first (``POG_REALTIME_DATABASE_URLS``)."""

    urls: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a realtime layout needs at least one database URL")

    @property
    def count(self) -> int:
        return len(self.urls)

    def of(self, uid: str) -> int:
        return shard_for(uid, self.count)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a player's node lives: the shard's URL and the path on it."""

    uid: str
    shard: int
    database_url: str
    path: str


def presence_location(shards: Shards, uid: str) -> Location:
    shard = shards.of(uid)
    return Location(uid, shard, shards.urls[shard], "/" + presence_path(uid))


def messages_location(shards: Shards, uid: str) -> Location:
    shard = shards.of(uid)
    return Location(uid, shard, shards.urls[shard], "/" + messages_path(uid))


# --- messages -------------------------------------------------------------------------------------------


class MessageKind(StrEnum):
    reward_granted = "reward_granted"
    purchase_granted = "purchase_granted"
    review_decided = "review_decided"
    live_event_started = "live_event_started"


@dataclass(frozen=True, slots=True)
class Message:
    """An entry of ``/messages/{uid}``: what a push notification would say, for a connected client."""

    kind: MessageKind
    title: str
    body: str
    data: Mapping[str, str] = field(default_factory=dict)

    def value(self) -> dict[str, Any]:
        """The node as written: ``at`` is the shard's own clock (the queue is trimmed by it)."""
        return {
            "kind": self.kind.value,
            "title": self.title,
            "body": self.body,
            "data": dict(self.data),
            "at": dict(SERVER_TIMESTAMP),
        }


def message_id(now: datetime, entropy: bytes | None = None) -> str:
    """A new entry's key, like the SDKs' push ids: 8 characters of milliseconds then 12 random ones, so
    keys sort by creation time (``entropy``: 12 bytes, for tests)."""
    millis = epoch_ms(now)
    stamp = []
    for _ in range(8):
        stamp.append(_PUSH_CHARS[millis % 64])
        millis //= 64
    noise = entropy if entropy is not None else secrets.token_bytes(12)
    if len(noise) != 12:
        raise ValueError("a message id takes 12 bytes of entropy")
    return "".join(reversed(stamp)) + "".join(_PUSH_CHARS[b % 64] for b in noise)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def to_trim(entries: Mapping[str, Any], now: datetime) -> list[str]:
    """The queue entries to delete before one more is added: those older than ``MESSAGE_MAX_AGE``, and
    the oldest beyond ``MAX_MESSAGES - 1``. ``entries`` are the oldest ``TRIM_READ`` of the queue (by
    ``at``): when the read was full the queue may hold more, and trimming its oldest still shrinks it."""
    cutoff = epoch_ms(now - MESSAGE_MAX_AGE)

    def at(item: tuple[str, Any]) -> int:
        value = item[1].get("at") if isinstance(item[1], Mapping) else None
        return value if isinstance(value, int) else 0  # a malformed entry goes first

    ordered = sorted(entries.items(), key=lambda item: (at(item), item[0]))
    excess = max(0, len(ordered) - (MAX_MESSAGES - 1))
    return [k for i, (k, value) in enumerate(ordered) if i < excess or at((k, value)) < cutoff]


def live_event_value(name: str, starts_at: datetime, ends_at: datetime) -> dict[str, Any]:
    """``/broadcast/live_events/{id}``: times in ms since the epoch, like ``at``."""
    return {
        "name": name,
        "starts_at": epoch_ms(starts_at),
        "ends_at": epoch_ms(ends_at),
        "at": dict(SERVER_TIMESTAMP),
    }


# --- the friendship mirror ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MirrorKey:
    """What one outbox record asks to bring in line with Firestore: a friendship (both directions) or a
    player's hidden flag. The record holds no value: whoever applies it reads the truth then, so records
    applied late or out of order can never restore access a later change removed."""

    kind: Literal["friends", "hidden"]
    uids: tuple[str, ...]

    @classmethod
    def friendship(cls, a: str, b: str) -> MirrorKey:
        first, second = sorted((a, b))
        return cls("friends", (first, second))

    @classmethod
    def hidden(cls, uid: str) -> MirrorKey:
        return cls("hidden", (uid,))

    @classmethod
    def of(cls, kind: str, uids: Sequence[str]) -> MirrorKey:
        """A key read back from a record; ValueError when it is not one this code writes."""
        if kind == "friends" and len(uids) == 2:
            return cls.friendship(uids[0], uids[1])
        if kind == "hidden" and len(uids) == 1:
            return cls.hidden(uids[0])
        raise ValueError(f"not a mirror key: {kind!r} {list(uids)!r}")

    @property
    def record_id(self) -> str:
        """The outbox document's id: one per key, so a second change before the first is applied rewrites
        the same record (uids may hold characters a document id cannot)."""
        return hashlib.sha256("\x00".join((self.kind, *self.uids)).encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class MirrorRecord:
    """An outbox record as read: its key, and the version (update time) its deletion is conditioned on."""

    key: MirrorKey
    version: datetime


@dataclass(frozen=True, slots=True)
class MirrorWrite:
    """One node to set (``True``) or delete (``None``), on the shard of ``owner``."""

    owner: str
    path: str
    value: Literal[True] | None


def mirror_writes(mirror: MirrorKey, truth: bool) -> list[MirrorWrite]:
    """The writes that make the shards say ``truth``: for a friendship, whether both players list each
    other (each direction on its owner's shard); for a hidden flag, whether the player hides presence.
    Uids the database cannot hold as keys are left out (no client could address them either)."""
    value: Literal[True] | None = True if truth else None
    if mirror.kind == "hidden":
        (uid,) = mirror.uids
        return [MirrorWrite(uid, hidden_path(uid), value)] if is_key(uid) else []
    a, b = mirror.uids
    if not (is_key(a) and is_key(b)):
        return []
    return [MirrorWrite(a, friend_path(a, b), value), MirrorWrite(b, friend_path(b, a), value)]


def by_shard(shards: Shards, writes: Sequence[MirrorWrite]) -> dict[int, dict[str, Any]]:
    """One multi-path update per shard: {shard: {path: value}}."""
    grouped: dict[int, dict[str, Any]] = {}
    for write in writes:
        grouped.setdefault(shards.of(write.owner), {})[write.path] = write.value
    return grouped


@dataclass(frozen=True, slots=True)
class PlayerMirror:
    """What the shards should hold for one player: their mutual friends, and whether they hide."""

    uid: str
    friends: tuple[str, ...]
    hidden: bool


def player_values(player: PlayerMirror) -> dict[str, Any]:
    """The player's ``/friends/{uid}`` and ``/hidden/{uid}`` as whole nodes (``None``: deleted)."""
    friends = {f: True for f in player.friends if is_key(f)}
    return {
        friends_path(player.uid): friends or None,
        hidden_path(player.uid): True if player.hidden else None,
    }
