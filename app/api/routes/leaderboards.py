"""Leaderboards: pages, around-me, deltas and the live stream (docs/architecture.md#the-http-contract).

Pages and deltas of the global board, and of a country board named with ``?country=``, are public (the
same for every caller): they need no token and a hot page is answered from process memory; a page that
needs Redis counts against the per-IP rate limit. The caller's own views (``friends``, ``/me``, ``country``
without ``?country=``) need a token.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Path, Query, Request, Response
from sse_starlette import EventSourceResponse

from app.api.deps import ContainerDep, caller_ip, current_user, limit_ip
from app.api.errors import service_errors
from app.api.fast_path import fast_path_route
from app.api.leaderboard_schemas import (
    MAX_PAGE,
    AroundMe,
    Changes,
    CountryQuery,
    PageQuery,
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
from app.services.errors import Failure, ServiceError
from app.services.leaderboard_views import View, resolve
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
