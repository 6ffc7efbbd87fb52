"""Leaderboard reads: pages, around-me, deltas and the live stream, over the stores' interfaces.

Rendered pages: the first ``CACHED_PAGES`` pages of each live board are rendered once to JSON and kept in
Redis (``leaderboard:…:p{N}``) with the board's version and render time. A render is served while it is
younger than the period's TTL (the seed's: daily 1 min, weekly 5 min; monthly and all-time 5 min) or while
the board's version has not moved since (an idle board is never re-rendered); a rebuild raises the version,
so it invalidates every render. Each process also keeps a render for ``local_ttl_s`` (1 s), so a hot page
costs no Redis call at all. Every render is also kept 10 minutes under its version: ``/changes?since=V``
compares the page as it was at V with the page now.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from cachetools import TTLCache

from app.domain.leaderboards import (
    MAX_RADIUS,
    PAGE_SIZE,
    Board,
    Period,
    Scope,
    decode,
    period_end,
    period_id,
    period_start,
)
from app.domain.standings import (
    Entry,
    Slice,
    around_bounds,
    changed_entries,
    entries_from,
    page_bounds,
    ranked,
)
from app.repositories.errors import LeaderboardUnavailableError
from app.services.errors import Failure, ServiceError
from app.services.leaderboard_views import (
    View,
    entry_json,
    pack,
    page_body,
    parse_period_id,
    unavailable,
    unpack,
    valid_country,
)
from app.services.leaderboards_live import LiveBoards
from app.services.users import UserService

log = logging.getLogger("app.leaderboard")

PAGE_TTL_S = {Period.daily: 60, Period.weekly: 300, Period.monthly: 300, Period.all_time: 300}
CACHED_PAGES = 10
#: /changes and the stream compare against a render at most this old.
CHANGES_FRESH_S = 25.0
STREAM_INTERVAL_S = 30.0


class BoardStore(Protocol):
    async def slice(self, board: Board, start: int, stop: int) -> Slice: ...
    async def around(self, board: Board, uid: str, radius: int) -> Slice: ...
    async def scores_of(self, board: Board, uids: Sequence[str]) -> tuple[int, list[float | None]]: ...
    async def cached_render(self, cache_key: str, board: Board) -> tuple[bytes | None, int, bool]: ...
    async def store_render(self, cache_key: str, version: int, value: bytes, ttl_s: int) -> None: ...
    async def snapshot(self, cache_key: str, version: int) -> bytes | None: ...


class ArchivedBoards(Protocol):
    async def archived_page(
        self, period: Period, pid: str, name: str, start: int, stop: int
    ) -> tuple[int, list[tuple[str, int]]] | None: ...


class NameSource(Protocol):
    async def names(self, uids: Sequence[str]) -> dict[str, str]: ...


class LeaderboardService:
    def __init__(
        self,
        boards: BoardStore,
        archive: ArchivedBoards,
        names: NameSource,
        users: UserService,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        local_ttl_s: float = 1.0,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self._boards = boards
        self._archive = archive
        self._names = names
        self._users = users
        self._clock = clock
        #: Renders this process fetched in the last ``local_ttl_s``: a hot page costs no Redis round trip.
        self._local: TTLCache[str, bytes] = TTLCache(maxsize=4096, ttl=local_ttl_s)
        self.on_lost = on_lost
        #: Live boards through the CDN (app/services/leaderboards_live.py), set by the composition root.
        self.live: LiveBoards | None = None

    # --- views ----------------------------------------------------------------------------------

    def current_id(self, period: Period) -> str:
        return period_id(period, self._clock())

    def next_reset(self, period: Period) -> datetime | None:
        return period_end(period, period_start(period, self._clock()))

    def periods(self) -> list[dict[str, Any]]:
        """The current period of each board and when it resets (``GET /v1/leaderboards``)."""
        out = []
        for period in Period:
            reset = self.next_reset(period)
            out.append(
                {
                    "period": period.value,
                    "period_id": self.current_id(period),
                    "starts_at": period_start(period, self._clock()).isoformat(),
                    "next_reset_at": reset.isoformat() if reset else None,
                    "scopes": [s.value for s in Scope],
                    "page_size": PAGE_SIZE,
                }
            )
        return out

    async def view(
        self, period: Period, scope: Scope, uid: str | None, token_name: str | None, country: str | None
    ) -> View:
        pid = self.current_id(period)
        if scope is Scope.global_:
            if country is not None:
                raise ServiceError(
                    Failure.INVALID, "invalid_country", "country applies to the country scope only"
                )
            return View(period, scope, pid)
        if scope is Scope.country:
            if country is not None:
                return View(period, scope, pid, country=valid_country(country))
            if uid is None:
                raise ServiceError(
                    Failure.INVALID, "country_required", "pass ?country=CC, or sign in to see your country"
                )
            own = (await self._users.my_profile(uid, token_name)).country
            if own is None:
                raise ServiceError(
                    Failure.INVALID,
                    "country_required",
                    "your profile has no country: set it, or pass ?country=CC",
                )
            return View(period, scope, pid, country=own)
        if country is not None:
            raise ServiceError(
                Failure.INVALID, "invalid_country", "country applies to the country scope only"
            )
        assert uid is not None  # the router requires a signed-in caller for friends
        return View(period, scope, pid, viewer=uid)

    def _lost(self) -> None:
        if self.on_lost is not None:
            self.on_lost()

    # --- pages ----------------------------------------------------------------------------------

    def local_page(self, view: View, page: int) -> bytes | None:
        """A render this process fetched less than ``local_ttl_s`` ago (no I/O)."""
        return self._local.get(view.cache_key(page))

    def _keep_local(self, key: str, body: bytes) -> None:
        self._local[key] = body

    async def page(self, view: View, page: int, token_name: str | None = None) -> bytes:
        if view.scope is Scope.friends:
            return (await self._render_friends(view, page, token_name))[1]
        if page > CACHED_PAGES:
            return (await self._render(view, page, ttl_s=0))[1]
        local = self.local_page(view, page)
        if local is not None:
            return local
        key = view.cache_key(page)
        body = await self._cached(view, page, PAGE_TTL_S[view.period])
        if body is None:
            body = (await self._render(view, page, ttl_s=_CACHE_KEEP_S))[1]
        self._keep_local(key, body)
        return body

    async def _cached_render(self, view: View, page: int) -> tuple[bytes | None, int]:
        """The page's cached render (None when there is none) and the board's version now."""
        try:
            cached, version, alive = await self._boards.cached_render(view.cache_key(page), view.board)
        except LeaderboardUnavailableError:
            raise unavailable() from None
        if not alive:
            self._lost()
        return cached, version

    async def _cached(self, view: View, page: int, max_age_s: float) -> bytes | None:
        cached, version = await self._cached_render(view, page)
        if cached is None:
            return None
        cached_version, rendered_at_ms, body = unpack(cached)
        age_s = time.time() - rendered_at_ms / 1000
        return body if cached_version == version or age_s < max_age_s else None

    def _body(self, view: View, page: int, total: int, version: int, entries: list[dict[str, Any]]) -> bytes:
        reset = self.next_reset(view.period) if view.period_id == self.current_id(view.period) else None
        return page_body(view, page, total, version, entries, reset)

    async def _render(self, view: View, page: int, ttl_s: int) -> tuple[int, bytes]:
        start, stop = page_bounds(page)
        try:
            found = await self._boards.slice(view.board, start, stop)
        except LeaderboardUnavailableError:
            raise unavailable() from None
        if not found.alive:
            self._lost()
        entries = entries_from(view.period, start, found.members)
        names = await self._names.names([e.uid for e in entries])
        body = self._body(view, page, found.total, found.version, [entry_json(e, names) for e in entries])
        await self._store(view.cache_key(page), found.version, body, ttl_s)
        return found.version, body

    async def _store(self, key: str, version: int, body: bytes, ttl_s: int) -> None:
        try:
            await self._boards.store_render(key, version, pack(version, int(time.time() * 1000), body), ttl_s)
        except LeaderboardUnavailableError:
            log.warning("leaderboard render not cached: redis unavailable")

    async def _friends(self, view: View, token_name: str | None) -> tuple[int, list[tuple[str, int]]]:
        """The caller and their friends with an entry on the period's global board, ranked: one round trip."""
        assert view.viewer is not None
        me = await self._users.my_profile(view.viewer, token_name)
        members = list(dict.fromkeys([view.viewer, *me.friends]))
        try:
            version, scores = await self._boards.scores_of(view.board, members)
        except LeaderboardUnavailableError:
            raise unavailable() from None
        found = {uid: int(s) for uid, s in zip(members, scores, strict=True) if s is not None}
        return version, ranked(found)

    async def _render_friends(self, view: View, page: int, token_name: str | None) -> tuple[int, bytes]:
        version, board = await self._friends(view, token_name)
        start, stop = page_bounds(page)
        entries = [
            Entry(rank=start + i + 1, uid=uid, score=decode(view.period, value)[0])
            for i, (uid, value) in enumerate(board[start : stop + 1])
        ]
        names = await self._names.names([e.uid for e in entries])
        body = self._body(view, page, len(board), version, [entry_json(e, names) for e in entries])
        await self._store(view.cache_key(page), version, body, 0)
        return version, body

    async def archived_page(
        self, period: Period, scope: Scope, pid: str, country: str | None, page: int
    ) -> bytes:
        start = parse_period_id(period, pid)
        if start > self._clock():
            raise ServiceError(
                Failure.NOT_FOUND, "period_not_found", f"the {period.value} period {pid} has not started"
            )
        view = View(period, scope, pid, country=country)
        start_rank, stop = page_bounds(page)
        found = await self._archive.archived_page(period, pid, view.board.name, start_rank, stop)
        if found is None:
            raise ServiceError(
                Failure.NOT_FOUND,
                "period_not_archived",
                f"no archive of the {period.value} period {pid} (yet)",
            )
        total, members = found
        entries = [
            Entry(rank=start_rank + i + 1, uid=uid, score=decode(period, value)[0])
            for i, (uid, value) in enumerate(members)
        ]
        names = await self._names.names([e.uid for e in entries])
        body = orjson.loads(self._body(view, page, total, 0, [entry_json(e, names) for e in entries]))
        body["archived"] = True
        return orjson.dumps(body)

    async def render_now(self, view: View, page: int) -> tuple[int, bytes]:
        """The page as the board is now (live boards publish it): the cached render when the board has not
        moved since it, else a new one (cached in turn)."""
        cached, version = await self._cached_render(view, page)
        if cached is not None:
            cached_version, _, body = unpack(cached)
            if cached_version == version:
                return version, body
        return await self._render(view, page, ttl_s=_CACHE_KEEP_S if page <= CACHED_PAGES else 0)

    # --- around me --------------------------------------------------------------------------------

    async def around_me(
        self, view: View, uid: str, radius: int, token_name: str | None = None
    ) -> dict[str, Any]:
        radius = max(0, min(radius, MAX_RADIUS))
        if view.scope is Scope.friends:
            version, board = await self._friends(view, token_name)
            index = next((i for i, (member, _) in enumerate(board) if member == uid), None)
            total = len(board)
            if index is None:
                start, window = 0, []
            else:
                start, stop = around_bounds(index, total, radius)
                window = board[start : stop + 1]
        else:
            try:
                found = await self._boards.around(view.board, uid, radius)
            except LeaderboardUnavailableError:
                raise unavailable() from None
            version, total, index, start = found.version, found.total, found.rank0, found.start
            window = [(member, int(value)) for member, value in found.members]
        entries = [
            Entry(rank=start + i + 1, uid=member, score=decode(view.period, value)[0])
            for i, (member, value) in enumerate(window)
        ]
        names = await self._names.names([e.uid for e in entries])
        mine = next((e for e in entries if e.uid == uid), None)
        return {
            "period": view.period.value,
            "scope": view.scope.value,
            "period_id": view.period_id,
            "country": view.country,
            "version": version,
            "total": total,
            "rank": mine.rank if mine else None,
            "score": mine.score if mine else None,
            "neighbours": [entry_json(e, names) for e in entries],
        }

    # --- deltas -----------------------------------------------------------------------------------

    async def _current(self, view: View, page: int, token_name: str | None, since: int) -> tuple[int, bytes]:
        if view.scope is Scope.friends:
            return await self._render_friends(view, page, token_name)
        key = view.cache_key(page)
        try:
            cached, version, _alive = await self._boards.cached_render(key, view.board)
        except LeaderboardUnavailableError:
            raise unavailable() from None
        if since > version:
            raise ServiceError(
                Failure.INVALID,
                "since_in_future",
                f"since={since} is later than the board's version {version}",
            )
        if cached is not None:
            cached_version, rendered_at_ms, body = unpack(cached)
            recent = time.time() - rendered_at_ms / 1000 < CHANGES_FRESH_S
            # A recent render newer than what the client holds, or one of the board as it is now.
            if cached_version == version or (recent and cached_version > since):
                return cached_version, body
        return await self._render(view, page, ttl_s=_CACHE_KEEP_S if page <= CACHED_PAGES else 0)

    async def changes(
        self, view: View, page: int, since: int, token_name: str | None = None
    ) -> dict[str, Any]:
        version, body = await self._current(view, page, token_name, since)
        if view.scope is Scope.friends and since > version:
            raise ServiceError(
                Failure.INVALID,
                "since_in_future",
                f"since={since} is later than the board's version {version}",
            )
        now = orjson.loads(body)
        try:
            old_raw = await self._boards.snapshot(view.cache_key(page), since)
        except LeaderboardUnavailableError:
            raise unavailable() from None
        result = {k: now[k] for k in ("period", "scope", "period_id", "country", "page", "total", "version")}
        result["since"] = since
        if old_raw is None:
            return {**result, "full": True, "entries": now["entries"], "removed": []}
        old = orjson.loads(unpack(old_raw)[2])["entries"]
        as_entries = [Entry(e["rank"], e["uid"], e["score"]) for e in now["entries"]]
        changed, removed = changed_entries([Entry(e["rank"], e["uid"], e["score"]) for e in old], as_entries)
        changed_uids = {e.uid for e in changed}
        entries = [e for e in now["entries"] if e["uid"] in changed_uids]
        return {**result, "full": False, "entries": entries, "removed": removed}

    async def stream(
        self, view: View, page: int, since: int | None, interval_s: float, token_name: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The page's deltas every ``interval_s``: first the whole page (or the changes since ``since``, the
        version a reconnecting client holds: nothing until the page moves past it).

        The first read happens here, before the caller starts its response, so a ``since`` later than the
        board's version or an unavailable board is an error the caller answers (422, 503), not a stream
        that breaks after its 200."""
        version = since if since is not None else 0
        first = await self.changes(view, page, version, token_name)
        return self._deltas(view, page, version, first, interval_s, token_name)

    async def _deltas(
        self,
        view: View,
        page: int,
        version: int,
        delta: dict[str, Any],
        interval_s: float,
        token_name: str | None,
    ) -> AsyncIterator[dict[str, Any]]:
        while True:
            if delta["full"] or delta["entries"] or delta["removed"] or version == 0:
                yield delta
            version = int(delta["version"])
            await asyncio.sleep(interval_s)
            delta = await self.changes(view, page, version, token_name)


#: How long a render stays in Redis: served within the period's TTL, or longer while the version holds.
_CACHE_KEEP_S = 600
