"""Live boards through the CDN: each public page published at most once per interval, as immutable versions.

A page's *latest document* names the page's current live version and the versions still kept; the edge
keeps it one interval. The page at a live version (*full*) and the change between two consecutive live
versions (*segment*) never change, so the edge keeps them for good. The origin's work is then per page,
interval and edge location, whatever the number of viewers (docs/game-api.md#live-boards-through-the-cdn).

Publishing happens on a request for the latest document: the first one after the page's gate (one
interval, ``SET NX PX`` in Redis, so one origin of all) renders the page as the board is now and appends
it when the board's version moved since the last live version. A page with no chain (never published, or
its chain evicted) holds its turn only for a short first-publish hold, and a gate left from a lost chain is
taken over at once: a page is never left unpublished for the rest of an interval.

A *live version* is not a board version, which can repeat with other content: after a flush a rebuild
restarts it at its own clock's time in µs (at or below the old one when that clock is behind the origin
that started it), a failover to a replica that missed the last submits counts them again, and a page
re-published at the same board version after its chain expired may show renamed players. So the live
version is the publish time in µs, raised past the chain's last one and past every body still stored: a
URL at a live version names one body, forever. The published body says its live version in ``version``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson

from app.core.metrics import count_live_publish, count_live_render
from app.domain.leaderboards import PAGE_SIZE, Scope
from app.domain.live_boards import LiveEntry, Published
from app.repositories.errors import LeaderboardUnavailableError
from app.services.errors import Failure, ServiceError
from app.services.leaderboard_views import View, parse_period_id, unavailable

#: A body trimmed off the chain stays this many intervals more: a latest document cached at the edge (one
#: interval) still offers segments from it, to a client that polls once an interval. The chain and its
#: bodies stay ``keep`` + this many intervals after the page's last publish turn (nobody viewing it).
MARGIN_INTERVALS = 4
#: While a page has no chain, its publish turn is held this long (a render takes milliseconds): an origin
#: that dies before its first publish blocks the page no longer than this.
FIRST_PUBLISH_HOLD_S = 1.0
#: A request that finds no version published yet, while another origin holds the turn, retries the turn
#: this long (past the hold, so it takes over from an origin that died), then answers 503: retry.
FIRST_PUBLISH_WAIT_S = 2.0
_FIRST_PUBLISH_POLL_S = 0.05

T = TypeVar("T")

#: The page as the board is now: (board version, rendered body).
Render = Callable[[View, int], Awaitable[tuple[int, bytes]]]


class LiveStore(Protocol):
    async def open_gate(
        self, page_key: str, interval_ms: int, hold_ms: int
    ) -> tuple[bool, list[LiveEntry]]: ...
    async def publish(
        self,
        page_key: str,
        board_version: int,
        now_us: int,
        published_ms: int,
        body: bytes,
        *,
        keep: int,
        ttl_s: int,
        grace_s: int,
        interval_ms: int,
    ) -> tuple[bool, list[LiveEntry]]: ...
    async def published(self, page_key: str, versions: Sequence[int]) -> list[Published | None]: ...
    async def release_gate(self, page_key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Latest:
    """A page's latest document, without what the request names and the paths (the API writes those)."""

    version: int
    published_at: datetime
    interval_s: float
    versions: list[int]


def not_public() -> ServiceError:
    return ServiceError(
        Failure.NOT_FOUND,
        "board_not_public",
        "only public boards are served through the CDN (global, or country with ?country=CC): read a "
        "friends board or your own country's with …/stream or …/changes",
    )


def page_past_end(page: int, last: int) -> ServiceError:
    return ServiceError(
        Failure.NOT_FOUND,
        "page_past_end",
        f"page {page} is past the board's last page ({last}): live pages are published only up to it",
    )


def _body_at(published: Published, version: int) -> bytes:
    """The stored render with its live version in ``version`` (the render says its board version)."""
    body = orjson.loads(published.body)
    body["version"] = version
    return orjson.dumps(body)


def segment_between(old: Published, new: Published) -> tuple[int, list[dict[str, Any]], list[str]]:
    """``(total, entries, removed)``: the entries of ``new`` that differ from ``old`` (rank, score or display
    name) or are new, and the uids of ``old`` not in ``new``. ``old``'s entries without ``removed``, with
    ``entries`` put in (by uid) and ordered by rank, are ``new``'s."""
    before = {e["uid"]: e for e in orjson.loads(old.body)["entries"]}
    now = orjson.loads(new.body)
    entries = [e for e in now["entries"] if before.get(e["uid"]) != e]
    kept = {e["uid"] for e in now["entries"]}
    return int(now["total"]), entries, [uid for uid in before if uid not in kept]


class LiveBoards:
    def __init__(
        self,
        store: LiveStore,
        render: Render,
        *,
        interval_s: float,
        keep: int,
        now_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self._store = store
        self._render = render
        self.interval_s = interval_s
        self._keep = keep
        self._now_us = now_us
        self._ttl_s = max(1, math.ceil(interval_s * (keep + MARGIN_INTERVALS)))
        self._grace_s = max(1, math.ceil(interval_s * MARGIN_INTERVALS))
        self._interval_ms = max(1, int(interval_s * 1000))

    @staticmethod
    def at_period(view: View, pid: str) -> View:
        """The board of ``view`` in the period ``pid`` (422 for a malformed id)."""
        parse_period_id(view.period, pid)
        return View(view.period, view.scope, pid, country=view.country)

    async def latest(self, view: View, page: int) -> Latest:
        """The page's latest document; publishes first when this request takes the page's turn."""
        if view.scope is Scope.friends:
            raise not_public()
        key = view.cache_key(page)
        chain = await self._turn(view, page, key)
        count_live_render("latest")
        last = chain[-1]
        return Latest(
            last.version,
            datetime.fromtimestamp(last.published_ms / 1000, UTC),
            self.interval_s,
            [e.version for e in chain],
        )

    async def full(self, view: View, page: int, version: int) -> bytes:
        """The page as published at ``version``; 404 ``version_not_published`` when it is not kept."""
        (found,) = await self._io(self._store.published(view.cache_key(page), [version]))
        if found is None:
            raise ServiceError(
                Failure.NOT_FOUND,
                "version_not_published",
                f"version {version} of this page is not kept (or was never published): read the "
                "latest document (…/live) and fetch its full page",
            )
        count_live_render("full")
        return _body_at(found, version)

    async def segment(self, view: View, page: int, first: int, then: int) -> dict[str, Any]:
        """What changed on the page from live version ``first`` to its successor ``then``; 404
        ``segment_not_available`` for any other pair, or when either is no longer kept."""
        old, new = await self._io(self._store.published(view.cache_key(page), [first, then]))
        if old is None or new is None or new.previous != first:
            raise ServiceError(
                Failure.NOT_FOUND,
                "segment_not_available",
                f"no segment from {first} to {then}: segments join consecutive versions still kept; "
                "fetch the full page the latest document (…/live) names",
            )
        total, entries, removed = segment_between(old, new)
        count_live_render("segment")
        return {
            "period": view.period.value,
            "scope": view.scope.value,
            "period_id": view.period_id,
            "country": view.country,
            "page": page,
            "from": first,
            "to": then,
            "total": total,
            "entries": entries,
            "removed": removed,
        }

    async def _turn(self, view: View, page: int, key: str) -> list[LiveEntry]:
        """The page's chain, after publishing when this request takes the page's turn. With no version
        published yet and the turn held elsewhere, the turn is retried until that origin has published,
        or taken over when it has not within the hold."""
        hold_ms = max(1, int(FIRST_PUBLISH_HOLD_S * 1000))
        deadline = time.monotonic() + FIRST_PUBLISH_WAIT_S
        while True:
            taken, chain = await self._io(self._store.open_gate(key, self._interval_ms, hold_ms))
            if taken:
                return await self._publish(view, page, key)
            if chain:
                return chain
            if time.monotonic() >= deadline:
                raise unavailable()
            await asyncio.sleep(_FIRST_PUBLISH_POLL_S)

    async def _publish(self, view: View, page: int, key: str) -> list[LiveEntry]:
        board_version, body = await self._render(view, page)
        # A page past the board's end is refused, not published: each page number would otherwise store a
        # body in Redis for ``keep`` + 4 intervals, a page per request for anyone walking page numbers.
        last = max(1, math.ceil(int(orjson.loads(body)["total"]) / PAGE_SIZE))
        if page > last:
            await self._io(self._store.release_gate(key))
            raise page_past_end(page, last)
        now_us = self._now_us()
        appended, chain = await self._io(
            self._store.publish(
                key,
                board_version,
                now_us,
                now_us // 1000,
                body,
                keep=self._keep,
                ttl_s=self._ttl_s,
                grace_s=self._grace_s,
                interval_ms=self._interval_ms,
            )
        )
        count_live_publish(appended)
        return chain

    @staticmethod
    async def _io(call: Awaitable[T]) -> T:
        try:
            return await call
        except LeaderboardUnavailableError:
            raise unavailable() from None
