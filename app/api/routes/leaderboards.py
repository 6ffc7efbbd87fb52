"""Leaderboards: pages, around-me, deltas, the live stream and live pages through the CDN
(docs/architecture.md#the-http-contract, docs/game-api.md#live-boards-through-the-cdn).

Pages and deltas of the global board, and of a country board named with ``?country=``, are public (the
same for every caller): they need no token and a hot page is answered from process memory; a page that
needs Redis counts against the per-IP rate limit. The caller's own views (``friends``, ``/me``, ``country``
without ``?country=``) need a token.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sse_starlette import EventSourceResponse

from app.api.deps import ContainerDep, caller_ip, current_user, limit_ip
from app.api.errors import ApiError, service_errors
from app.api.fast_path import fast_path_route
from app.api.leaderboard_schemas import (
    MAX_PAGE,
    AroundMe,
    Changes,
    CountryQuery,
    LiveLatest,
    LiveSegment,
    LiveVersionPath,
    PageQuery,
    PeriodIdPath,
    PeriodIdQuery,
    Periods,
    RadiusQuery,
    SinceQuery,
)
from app.api.leaderboard_schemas import Page as PageBody
from app.api.precompressed import BrotliCopies
from app.api.routing import Router
from app.core.auth import Principal
from app.domain.leaderboards import Period, Scope
from app.repositories.errors import StoreError
from app.services.errors import Failure, ServiceError
from app.services.leaderboard_views import View, resolve
from app.services.leaderboards_live import LiveBoards, not_public
from app.services.leaderboards_service import PAGE_TTL_S

router = Router(prefix="/v1/leaderboards", tags=["leaderboards"])

PeriodPath = Annotated[str, Path(max_length=16, description="daily, weekly, monthly or all_time")]
ScopePath = Annotated[str, Path(max_length=16, description="global, country or friends")]
_ERRORS = service_errors(401, 404, 503)


@dataclass(frozen=True, slots=True)
class BoardQuery:
    """The board a request names: ``/{period}/{scope}`` (404 when unknown) and ``?country=``."""

    period: Period
    scope: Scope
    country: str | None

    @property
    def public(self) -> bool:
        """The same for every caller: no token needed (global, or a country named in the query)."""
        return self.scope is Scope.global_ or (self.scope is Scope.country and self.country is not None)


async def board_query(period: PeriodPath, scope: ScopePath, country: CountryQuery = None) -> BoardQuery:
    found_period, found_scope = resolve(period, scope)
    return BoardQuery(found_period, found_scope, country)


BoardDep = Annotated[BoardQuery, Depends(board_query)]


def _json(body: bytes, cache_control: str) -> Response:
    return Response(body, media_type="application/json", headers={"Cache-Control": cache_control})


#: The renders this process holds (``local_page``): the same bytes for every caller until they change.
_PUBLIC_PAGES = BrotliCopies()


def _public_page(request: Request, body: bytes, period: Period) -> Response:
    return _PUBLIC_PAGES.json_response(
        request, body, {"Cache-Control": f"public, max-age={PAGE_TTL_S[period]}"}
    )


async def _signed_in(request: Request, c: ContainerDep) -> Principal:
    """The caller, counted against the per-IP and per-user limits (``current_user`` takes both)."""
    return await current_user(request, c, await caller_ip(request, c))


async def _view(request: Request, c: ContainerDep, board: BoardQuery) -> tuple[View, Principal | None]:
    if board.public:
        await limit_ip(c, await caller_ip(request, c))
        return await c.leaderboards.view(board.period, board.scope, None, None, board.country), None
    user = await _signed_in(request, c)
    view = await c.leaderboards.view(board.period, board.scope, user.uid, user.name, board.country)
    return view, user


@router.get("")
async def list_periods(c: ContainerDep, response: Response) -> Periods:
    """The boards' current period ids and next reset times (UTC)."""
    response.headers["Cache-Control"] = "public, max-age=30"
    return Periods.model_validate({"periods": c.leaderboards.periods()})


async def get_page(
    board: BoardDep,
    request: Request,
    c: ContainerDep,
    page: PageQuery = 1,
    period_id: PeriodIdQuery = None,
) -> Response:
    """100 entries per page (rank, uid, display name, score), the board's size and version.

    ``?period_id=`` reads the final standings of a finished period from its archive.
    """
    svc = c.leaderboards
    current = svc.current_id(board.period)
    if period_id is not None and period_id != current:
        if board.scope is Scope.friends:
            raise ServiceError(
                Failure.NOT_FOUND,
                "period_not_archived",
                "friends boards are not archived: read global or country",
            )
        view, _ = await _view(request, c, board)
        body = await svc.archived_page(board.period, board.scope, period_id, view.country, page)
        return _json(body, "public, max-age=3600")
    if board.public:
        # A render this process already holds (usually answered by _hot_page): no token, no Redis.
        local = svc.local_page(View(board.period, board.scope, current, country=board.country), page)
        if local is not None:
            return _public_page(request, local, board.period)
    view, user = await _view(request, c, board)
    body = await svc.page(view, page, user.name if user else None)
    private = board.scope is Scope.friends
    return _json(body, "private, no-store" if private else f"public, max-age={PAGE_TTL_S[board.period]}")


_PAGE = re.compile(r"^[1-9][0-9]{0,6}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


async def _hot_page(request: Request) -> Response | None:
    """The page ``get_page`` would answer from this process's render, found without FastAPI's parameter
    solving (half the cost of a hot page); None for anything else, which takes the full path (and its
    validation and errors). Only plain public requests qualify: ``page`` and ``country`` at most once each,
    in their canonical forms, no ``period_id``."""
    query = request.query_params
    if not set(query) <= {"page", "country"} or len(query.multi_items()) != len(query):
        return None
    page, country = query.get("page", "1"), query.get("country")
    if not _PAGE.match(page) or int(page) > MAX_PAGE or (country is not None and not _COUNTRY.match(country)):
        return None
    try:
        period, scope = resolve(request.path_params["period"], request.path_params["scope"])
    except ServiceError:
        return None
    board = BoardQuery(period, scope, country)
    if not board.public:
        return None
    svc = request.app.state.container.leaderboards
    local = svc.local_page(View(period, scope, svc.current_id(period), country=country), int(page))
    return None if local is None else _public_page(request, local, period)


router.add_api_route(
    "/{period}/{scope}",
    get_page,
    methods=["GET"],
    response_model=PageBody,
    responses=service_errors(401, 404, 422, 503),
    route_class_override=fast_path_route(_hot_page),
)


@router.get("/{period}/{scope}/me", responses=service_errors(401, 404, 422, 503))
async def around_me(
    board: BoardDep,
    request: Request,
    c: ContainerDep,
    response: Response,
    radius: RadiusQuery = 5,
) -> AroundMe:
    """My rank and score and the players around me (``radius`` above and below; shifted at the board's
    edges so the window keeps its size). ``rank`` is null when I have no entry in this period."""
    user = await _signed_in(request, c)
    view = await c.leaderboards.view(board.period, board.scope, user.uid, user.name, board.country)
    response.headers["Cache-Control"] = "private, no-store"
    return AroundMe.model_validate(await c.leaderboards.around_me(view, user.uid, radius, user.name))


@router.get("/{period}/{scope}/changes", responses=service_errors(401, 404, 422, 503))
async def changes(
    board: BoardDep,
    request: Request,
    c: ContainerDep,
    response: Response,
    since: SinceQuery,
    page: PageQuery = 1,
) -> Changes:
    """The entries of a page whose rank or score changed since version ``since`` (and the uids that left
    it); the whole page (``full: true``) when ``since`` is too old. 422 when ``since`` is in the future."""
    view, user = await _view(request, c, board)
    response.headers["Cache-Control"] = "no-store"
    return Changes.model_validate(
        await c.leaderboards.changes(view, page, since, user.name if user else None)
    )


StreamSince = Annotated[
    int | None, Query(ge=0, le=2**53, description="the version of the page the client holds")
]
#: A version as ``?since=`` takes it: the id of an event this stream sent.
LastEventId = Annotated[
    int | None,
    Header(
        alias="Last-Event-ID",
        ge=0,
        le=2**53,
        description="the id of the last event received (sent by EventSource on reconnect); wins over since",
    ),
]
#: A comment line at least this often: Cloudflare closes a proxied connection idle for 100 s, and the
#: stream is silent between changes.
STREAM_KEEPALIVE_S = 15.0


@router.get("/{period}/{scope}/stream", responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}})
async def stream(
    board: BoardDep,
    request: Request,
    c: ContainerDep,
    page: PageQuery = 1,
    since: StreamSince = None,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Server-sent events: a ``delta`` event (the body of ``/changes``) at once, then every 30 s when the
    page changed. Each event's id is the page's version: a reconnect sending ``Last-Event-ID`` (or
    ``?since=``; the header wins) resumes after it. The first event carries ``retry`` (the interval, in
    ms) and a comment keeps an idle stream open (docs/game-api.md#live-board-stream)."""
    view, user = await _view(request, c, board)
    interval = c.settings.leaderboard_stream_interval_s
    resume_from = last_event_id if last_event_id is not None else since
    deltas = await c.leaderboards.stream(view, page, resume_from, interval, user.name if user else None)
    retry_ms = int(interval * 1000)

    async def events() -> AsyncIterator[dict[str, Any]]:
        retry: int | None = retry_ms  # once: the client keeps it until told otherwise
        async for delta in deltas:
            yield {
                "event": "delta",
                "id": str(delta["version"]),
                "data": orjson.dumps(delta).decode(),
                "retry": retry,
            }
            retry = None

    return EventSourceResponse(
        events(), headers={"Cache-Control": "no-store"}, ping=min(interval, STREAM_KEEPALIVE_S)
    )


# --- live boards through the CDN (docs/game-api.md#live-boards-through-the-cdn) ---------------------------

#: A full page or a segment never changes: the edge and the client keep it for good.
IMMUTABLE = "public, max-age=31536000, immutable"


class NoStoreErrors(APIRoute):
    """Every error of a live route says ``Cache-Control: no-store``: a version not kept yet (or no longer)
    must never be remembered at the edge as missing."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        full = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await full(request)
            except (ServiceError, StoreError, ApiError, RequestValidationError) as exc:
                handlers = request.app.exception_handlers
                answer = next(handlers[cls] for cls in type(exc).__mro__ if cls in handlers)
                response: Response = await answer(request, exc)
                response.headers["Cache-Control"] = "no-store"
                return response

        return handler


def _one_spelling(request: Request) -> None:
    """The edge keys a live document on ``page`` and ``country`` as written, the framework reads the last
    of a repeated one: ``?page=1&page=2`` would store page 2 under page 1's key for every viewer. So each
    is refused (422, never cached) unless given once, in its one spelling (no leading zeros)."""
    query = request.query_params
    for name in ("page", "country"):
        if len(query.getlist(name)) > 1:
            raise ServiceError(
                Failure.INVALID,
                "repeated_parameter",
                f"?{name}= is given {len(query.getlist(name))} times: give it once",
            )
    page = query.get("page")
    if page is not None and not _PAGE.match(page):
        raise ServiceError(
            Failure.INVALID,
            "page_not_canonical",
            f"?page={page[:16]} is not a page number as the live paths write it: 1, 2, ... (no leading 0)",
        )


async def _live(request: Request, c: ContainerDep, board: BoardQuery) -> tuple[LiveBoards, View]:
    """The live boards and the public board named (404 ``board_not_public`` for any other), counted
    against the caller's per-IP limit (behind the CDN: the edge's misses only)."""
    live = c.leaderboards.live
    _one_spelling(request)
    if not board.public:
        raise not_public()
    if live is None:  # only a service built without the composition root
        raise ServiceError(Failure.UNAVAILABLE, "live_boards_off", "live boards are not configured here")
    await limit_ip(c, await caller_ip(request, c))
    return live, await c.leaderboards.view(board.period, board.scope, None, None, board.country)


def _live_paths(view: View, page: int, version: int) -> tuple[str, str]:
    """The latest document's ``full`` and ``segment``: one spelling of each URL (the edge's cache key)."""
    base = f"{router.prefix}/{view.period.value}/{view.scope.value}/live/{view.period_id}"
    query = f"?page={page}" + (f"&country={view.country}" if view.country else "")
    return f"{base}/{version}{query}", f"{base}/{{from}}-{{to}}{query}"


_LIVE_ERRORS = service_errors(404, 422, 429, 503)


async def live_latest(board: BoardDep, request: Request, c: ContainerDep, page: PageQuery = 1) -> Response:
    """A public page's latest live document: its live ``version``, the ``versions`` kept (oldest first),
    the paths of the ``full`` page and of a ``segment``. The edge keeps it one interval; requesting it
    publishes the page (at most once per interval of all origins) when the board moved."""
    live, view = await _live(request, c, board)
    latest = await live.latest(view, page)
    full, segment = _live_paths(view, page, latest.version)
    body = {
        "period": view.period.value,
        "scope": view.scope.value,
        "period_id": view.period_id,
        "country": view.country,
        "page": page,
        "version": latest.version,
        "published_at": latest.published_at,
        "interval_s": latest.interval_s,
        "versions": latest.versions,
        "full": full,
        "segment": segment,
    }
    edge_s = max(1, int(latest.interval_s))
    return _json(orjson.dumps(body), f"public, max-age=0, s-maxage={edge_s}")


async def live_full(
    board: BoardDep,
    request: Request,
    c: ContainerDep,
    period_id: PeriodIdPath,
    version: LiveVersionPath,
    page: PageQuery = 1,
) -> Response:
    """The page as published at a live version (its ``version`` says the live version); immutable.
    404 ``version_not_published`` when that version is not kept."""
    live, view = await _live(request, c, board)
    return _json(await live.full(live.at_period(view, period_id), page, version), IMMUTABLE)


async def live_segment(
    board: BoardDep,
    request: Request,
    c: ContainerDep,
    period_id: PeriodIdPath,
    from_version: LiveVersionPath,
    to_version: LiveVersionPath,
    page: PageQuery = 1,
) -> Response:
    """What changed on the page from a live version to the next one: the entries whose rank, score or
    display name changed (or that are new) and the uids that left; immutable. 404
    ``segment_not_available`` unless ``to`` follows ``from`` and both are kept: fetch the full page."""
    live, view = await _live(request, c, board)
    segment = await live.segment(live.at_period(view, period_id), page, from_version, to_version)
    return _json(orjson.dumps(segment), IMMUTABLE)


for _path, _endpoint, _model in (
    ("/{period}/{scope}/live", live_latest, LiveLatest),
    ("/{period}/{scope}/live/{period_id}/{version:int}", live_full, PageBody),
    ("/{period}/{scope}/live/{period_id}/{from_version:int}-{to_version:int}", live_segment, LiveSegment),
):
    router.add_api_route(
        _path,
        _endpoint,
        methods=["GET"],
        response_model=_model,
        responses=_LIVE_ERRORS,
        route_class_override=NoStoreErrors,
    )
