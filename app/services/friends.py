"""Consented friendships, friend requests and blocks (the rules: ``app/domain/friends.py``; no SDK here).

Every change reads and writes both players' documents in one transaction (``FriendStore.change``), then
deletes both players' cached profiles: the ``friends`` list each one's boards and presence read is mutual.
A change that makes or ends a friendship (an acceptance, an unfriend, a block) is recorded in the
Realtime Database mirror's outbox in that transaction, and applied right after it commits
(``RealtimeMirror.sync``): who may read whose presence follows Firestore.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from app.domain import friends as rules
from app.domain import players
from app.domain.friends import Added, FriendRequest, FriendRequests, Refusal, Side
from app.domain.realtime import MirrorKey
from app.services.errors import Failure, ServiceError
from app.services.ports import Cache
from app.services.users import MirrorSync, UserService

T = TypeVar("T")


class FriendStore(Protocol):
    async def side(self, uid: str) -> Side: ...
    async def change(self, uid: str, other: str, rules: Callable[[Side, Side], T]) -> T: ...
    async def display_names(self, uids: Sequence[str]) -> dict[str, str]: ...
    def listed_friends(self) -> AsyncIterator[tuple[str, list[str]]]: ...


_REFUSALS: dict[Refusal, tuple[Failure, str]] = {
    Refusal.SELF: (Failure.MALFORMED, "that is you"),
    Refusal.UNKNOWN: (Failure.NOT_FOUND, "no such player"),
    Refusal.TOO_MANY_FRIENDS: (Failure.CONFLICT, f"a player has at most {rules.MAX_FRIENDS} friends"),
    Refusal.THEIR_FRIENDS_FULL: (
        Failure.CONFLICT,
        f"that player already has {rules.MAX_FRIENDS} friends, the most allowed",
    ),
    Refusal.TOO_MANY_REQUESTS: (
        Failure.CONFLICT,
        f"at most {rules.MAX_OUTGOING_REQUESTS} friend requests may wait for an answer; cancel some first",
    ),
    Refusal.THEIR_REQUESTS_FULL: (
        Failure.CONFLICT,
        "that player has too many friend requests waiting; try again later",
    ),
    Refusal.YOU_BLOCKED: (Failure.CONFLICT, "you blocked that player; unblock them first"),
    Refusal.TOO_MANY_BLOCKED: (Failure.CONFLICT, f"a player may block at most {rules.MAX_BLOCKED} players"),
}
_CODES: dict[Refusal, str] = {
    Refusal.SELF: "cannot_friend_self",
    Refusal.UNKNOWN: "user_not_found",
    Refusal.YOU_BLOCKED: "player_blocked",
}


def _refused(refusal: Refusal, self_code: str | None = None) -> ServiceError:
    failure, message = _REFUSALS[refusal]
    code = self_code if refusal is Refusal.SELF and self_code else _CODES.get(refusal, refusal.value)
    return ServiceError(failure, code, message)


class FriendService:
    def __init__(
        self,
        store: FriendStore,
        users: UserService,
        cache: Cache,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        mirror: MirrorSync | None = None,
    ) -> None:
        """``mirror``: the Realtime Database's ``/friends`` mirror (None: realtime off)."""
        self._store = store
        self._users = users
        self._cache = cache
        self._clock = clock
        self._mirror = mirror

    async def _change(
        self, uid: str, token_name: str | None, other: str, work: Callable[[Side, Side], T]
    ) -> T:
        await self._users.my_profile(uid, token_name)  # the caller's document exists from here on

        def tracked(me: Side, them: Side) -> tuple[T, bool]:
            def listed() -> tuple[bool, bool]:
                return them.uid in me.friends, me.uid in them.friends

            before = listed()
            return work(me, them), listed() != before

        result, befriended_or_not = await self._store.change(uid, other, tracked)
        await self._cache.delete(players.profile_key(uid), players.profile_key(other))
        if befriended_or_not and self._mirror is not None:
            # The store recorded the pair in the outbox with the change: apply it now (a failure leaves
            # the record to ``realtime sync``; an ex-friend's read access always goes eventually).
            await self._mirror.sync(MirrorKey.friendship(uid, other))
        return result

    async def add(self, uid: str, token_name: str | None, other: str) -> tuple[Added, list[str]]:
        """A request to ``other``, or the acceptance of theirs; the caller's (mutual) friends after it."""
        if other == uid:
            raise _refused(Refusal.SELF)
        now = self._clock()

        def work(me: Side, them: Side) -> tuple[Added, list[str]]:
            outcome = rules.add(me, them, now)
            if isinstance(outcome, Refusal):
                raise _refused(outcome)
            return outcome, list(me.friends)

        return await self._change(uid, token_name, other, work)

    async def remove(self, uid: str, token_name: str | None, other: str) -> None:
        def work(me: Side, them: Side) -> None:
            if not rules.unfriend(me, them):
                raise ServiceError(
                    Failure.NOT_FOUND, "friend_not_found", "that player is not in your friends"
                )

        await self._change(uid, token_name, other, work)

    async def withdraw(self, uid: str, token_name: str | None, other: str) -> None:
        """Refuses ``other``'s request to the caller, or cancels the caller's request to them."""

        def work(me: Side, them: Side) -> None:
            if not rules.withdraw(me, them):
                raise ServiceError(
                    Failure.NOT_FOUND, "request_not_found", "no friend request between you and that player"
                )

        await self._change(uid, token_name, other, work)

    async def requests(self, uid: str, token_name: str | None) -> FriendRequests:
        """Requests waiting for the caller's answer and the caller's own, newest first."""
        await self._users.my_profile(uid, token_name)
        me = await self._store.side(uid)
        names = await self._store.display_names([*me.requests_in, *me.requests_out])

        def listed(sent: dict[str, datetime]) -> list[FriendRequest]:
            found = [
                FriendRequest(uid=u, display_name=names[u], created_at=at)
                for u, at in sent.items()
                if u in names
            ]
            return sorted(found, key=lambda r: (r.created_at, r.uid), reverse=True)

        return FriendRequests(incoming=listed(me.requests_in), outgoing=listed(me.requests_out))

    async def block(self, uid: str, token_name: str | None, other: str) -> list[str]:
        """Blocks ``other``: no friendship and no request either way; the caller's blocked players."""
        if other == uid:
            raise _refused(Refusal.SELF, "cannot_block_self")

        def work(me: Side, them: Side) -> list[str]:
            refusal = rules.block(me, them)
            if refusal is not None:
                raise _refused(refusal, "cannot_block_self")
            return list(me.blocked)

        return await self._change(uid, token_name, other, work)

    async def unblock(self, uid: str, token_name: str | None, other: str) -> None:
        def work(me: Side, them: Side) -> None:
            if not rules.unblock(me, them):
                raise ServiceError(Failure.NOT_FOUND, "block_not_found", "you have not blocked that player")

        await self._change(uid, token_name, other, work)

    async def blocked(self, uid: str, token_name: str | None) -> list[str]:
        await self._users.my_profile(uid, token_name)
        return list((await self._store.side(uid)).blocked)

    async def migrate_one_sided(self) -> dict[str, int]:
        """Issue 18's migration (``pog friends migrate``): every ``friends`` entry written before consent
        is kept when mutual and otherwise becomes a pending request; one transaction per entry, so a
        rerun (or a run beside live traffic) is safe. Returns how many entries were kept, requested,
        dropped (the other player is gone)."""
        counts: Counter[str] = Counter()
        now = self._clock()
        async for uid, listed in self._store.listed_friends():
            for other in listed:
                outcome = await self._store.change(
                    uid, other, lambda me, them: rules.migrate_entry(me, them, now)
                )
                counts[outcome] += 1
                if outcome in ("requested", "dropped"):
                    await self._cache.delete(players.profile_key(uid), players.profile_key(other))
                    if self._mirror is not None:
                        await self._mirror.sync(MirrorKey.friendship(uid, other))
        return {key: counts[key] for key in ("kept", "requested", "dropped")}
