"""Consented friendships, friend requests and blocks: the pure rules over both players' records.

A friendship is mutual: it exists only once both players asked for it, and it is kept on both
``/users/{uid}`` documents (``friends``), written together in one transaction. Pending requests are kept on
both sides too (``friend_requests_out`` on the sender, ``friend_requests_in`` on the recipient, uid -> sent
at), and ``blocked`` lists the players a player blocked. The functions here change two ``Side`` records in
memory; the repository reads them, and writes back both in the transaction that read them.

A blocked player is never told: their requests to the blocker stay pending on their own side only (the
blocker never sees them), exactly as a request nobody answered yet.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from pydantic import BaseModel

#: The friends boards and presence read a whole list in one Redis round trip (ZMSCORE, MGET): 500 is cheap.
MAX_FRIENDS = 500
#: Pending requests a player may have sent and not yet had answered.
MAX_OUTGOING_REQUESTS = 100
#: Pending requests a player may have received: bounds what strangers can pile onto one document.
MAX_INCOMING_REQUESTS = 500
MAX_BLOCKED = 1000


@dataclass
class Side:
    """One player's friendship fields, as read from their document (``exists`` False: no such player)."""

    uid: str
    exists: bool = True
    friends: list[str] = field(default_factory=list)
    requests_in: dict[str, datetime] = field(default_factory=dict)
    requests_out: dict[str, datetime] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)

    def copy(self) -> Side:
        return copy.deepcopy(self)


class FriendRequest(BaseModel):
    uid: str
    display_name: str
    created_at: datetime


class FriendRequests(BaseModel):
    """A player's pending requests: those waiting for their answer, and their own."""

    incoming: list[FriendRequest]
    outgoing: list[FriendRequest]


class Added(Enum):
    """What ``POST /v1/me/friends`` did."""

    FRIENDS = "friends"  # accepted (or already friends)
    REQUESTED = "requested"  # a request waits for the other player


class Refusal(Enum):
    """Why a change is refused; the service names each for the client."""

    SELF = "self"
    UNKNOWN = "unknown"
    TOO_MANY_FRIENDS = "too_many_friends"
    THEIR_FRIENDS_FULL = "their_friends_full"
    TOO_MANY_REQUESTS = "too_many_requests"
    THEIR_REQUESTS_FULL = "their_requests_full"
    YOU_BLOCKED = "you_blocked"
    TOO_MANY_BLOCKED = "too_many_blocked"


def _drop(items: list[str], uid: str) -> None:
    while uid in items:
        items.remove(uid)


def _sever(me: Side, them: Side) -> None:
    """No friendship and no request between the two, either way."""
    _drop(me.friends, them.uid)
    _drop(them.friends, me.uid)
    for a, b in ((me, them), (them, me)):
        a.requests_in.pop(b.uid, None)
        a.requests_out.pop(b.uid, None)


def _befriend(me: Side, them: Side) -> None:
    _sever(me, them)
    me.friends.append(them.uid)
    them.friends.append(me.uid)


def add(me: Side, them: Side, now: datetime) -> Added | Refusal:
    """``me`` asks ``them`` to be friends: a request, or the acceptance of theirs. Idempotent."""
    if me.uid == them.uid:
        return Refusal.SELF
    if not them.exists:
        return Refusal.UNKNOWN
    if them.uid in me.friends:
        return Added.FRIENDS
    if them.uid in me.blocked:
        return Refusal.YOU_BLOCKED
    if them.uid in me.requests_out:
        return Added.REQUESTED
    if me.uid in them.blocked:
        # Looks like any pending request to the sender; the blocker never sees it.
        if len(me.requests_out) >= MAX_OUTGOING_REQUESTS:
            return Refusal.TOO_MANY_REQUESTS
        me.requests_out[them.uid] = now
        return Added.REQUESTED
    if them.uid in me.requests_in:  # they asked first: this accepts
        if len(me.friends) >= MAX_FRIENDS:
            return Refusal.TOO_MANY_FRIENDS
        if len(them.friends) >= MAX_FRIENDS:
            return Refusal.THEIR_FRIENDS_FULL
        _befriend(me, them)
        return Added.FRIENDS
    if len(me.friends) >= MAX_FRIENDS:
        return Refusal.TOO_MANY_FRIENDS
    if len(me.requests_out) >= MAX_OUTGOING_REQUESTS:
        return Refusal.TOO_MANY_REQUESTS
    if len(them.requests_in) >= MAX_INCOMING_REQUESTS:
        return Refusal.THEIR_REQUESTS_FULL
    me.requests_out[them.uid] = now
    them.requests_in[me.uid] = now
    return Added.REQUESTED


def unfriend(me: Side, them: Side) -> bool:
    """Ends the friendship both ways; False when there was none."""
    if them.uid not in me.friends:
        return False
    _drop(me.friends, them.uid)
    _drop(them.friends, me.uid)
    return True


def withdraw(me: Side, them: Side) -> bool:
    """Refuses their request to me, or cancels mine to them; False when there was neither."""
    if them.uid not in me.requests_in and them.uid not in me.requests_out:
        return False
    me.requests_in.pop(them.uid, None)
    me.requests_out.pop(them.uid, None)
    them.requests_in.pop(me.uid, None)
    them.requests_out.pop(me.uid, None)
    return True


def block(me: Side, them: Side) -> Refusal | None:
    """``me`` blocks ``them``: ends any friendship and request both ways. Idempotent."""
    if me.uid == them.uid:
        return Refusal.SELF
    if not them.exists:
        return Refusal.UNKNOWN
    if them.uid in me.blocked:
        return None
    if len(me.blocked) >= MAX_BLOCKED:
        return Refusal.TOO_MANY_BLOCKED
    _sever(me, them)
    me.blocked.append(them.uid)
    return None


def migrate_entry(me: Side, them: Side, now: datetime) -> str:
    """One ``friends`` entry written before friendships needed consent (issue 18): kept when both listed
    each other (both asked), else it becomes ``me``'s pending request (caps do not apply: nothing new is
    asked), and dropped when ``them`` is gone. Returns ``kept``, ``requested``, ``dropped`` or ``absent``."""
    if them.uid not in me.friends:
        return "absent"
    if me.uid in them.friends and them.exists:
        return "kept"
    _drop(me.friends, them.uid)
    if not them.exists or them.uid in me.blocked or me.uid == them.uid:
        return "dropped"
    me.requests_out.setdefault(them.uid, now)
    if me.uid not in them.blocked:  # a blocked player's request stays unseen, as ever
        them.requests_in.setdefault(me.uid, now)
    return "requested"


def unblock(me: Side, them: Side) -> bool:
    """Lifts the block; False when there was none. A request they sent while blocked stays unseen: they
    may send it again."""
    if them.uid not in me.blocked:
        return False
    _drop(me.blocked, them.uid)
    them.requests_out.pop(me.uid, None)
    return True
