"""Leaderboards: pages, around-me, deltas and the live stream (DESIGN.md §4).

Pages and deltas of the global board, and of a country board named with ``?country=``, are public (the
same for every caller): they need no token and a hot page is answered from process memory; a page that
needs Redis counts against the per-IP rate limit. The caller's own views (``friends``, ``/me``, ``country``
without ``?country=``) need a token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from sse_starlette import EventSourceResponse

from app.api.deps import ContainerDep, caller_ip, current_user, limit_ip
from app.api.errors import service_errors
from app.api.leaderboard_schemas import (
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
from app.core.auth import Principal
from app.services.leaderboards import Period, Scope
from app.services.leaderboards_service import PAGE_TTL_S, View, resolve
from app.services.users import ServiceError

router = APIRouter(prefix="/v1/leaderboards", tags=["leaderboards"])

PeriodPath = Annotated[str, Path(max_length=16, description="daily, weekly, monthly or all_time")]
ScopePath = Annotated[str, Path(max_length=16, description="global, country or friends")]
_ERRORS = service_errors(401, 404, 503)


def _json(body: bytes, cache_control: str) -> Response:
    return Response(body, media_type="application/json", headers={"Cache-Control": cache_control})


def _public(scope: Scope, country: str | None) -> bool:
    return scope is Scope.global_ or (scope is Scope.country and country is not None)


async def _signed_in(request: Request, c: ContainerDep) -> Principal:
    await limit_ip(c, await caller_ip(request, c))
    return await current_user(request, c, None)


async def _view(
    request: Request, c: ContainerDep, period: Period, scope: Scope, country: str | None
) -> tuple[View, Principal | None]:
    if _public(scope, country):
        await limit_ip(c, await caller_ip(request, c))
        return await c.leaderboards.view(period, scope, None, None, country), None
    user = await _signed_in(request, c)
    return await c.leaderboards.view(period, scope, user.uid, user.name, country), user


@router.get("")
async def list_periods(c: ContainerDep, response: Response) -> Periods:
    """The boards' current period ids and next reset times (UTC)."""
    response.headers["Cache-Control"] = "public, max-age=30"
    return Periods.model_validate({"periods": c.leaderboards.periods()})


@router.get("/{period}/{scope}", response_model=PageBody, responses=service_errors(401, 404, 422, 503))
async def get_page(
    period: PeriodPath,
    scope: ScopePath,
    request: Request,
    c: ContainerDep,
    page: PageQuery = 1,
    country: CountryQuery = None,
    period_id: PeriodIdQuery = None,
) -> Response:
    """100 entries per page (rank, uid, display name, score), the board's size and version.

    ``?period_id=`` reads the final standings of a finished period from its archive.
    """
    found_period, found_scope = resolve(period, scope)
    svc = c.leaderboards
    current = svc.current_id(found_period)
    if period_id is not None and period_id != current:
        if found_scope is Scope.friends:
            raise ServiceError(
                404, "period_not_archived", "friends boards are not archived: read global or country"
            )
        view, _ = await _view(request, c, found_period, found_scope, country)
        body = await svc.archived_page(found_period, found_scope, period_id, view.country, page)
        return _json(body, "public, max-age=3600")
    if _public(found_scope, country):
        # The hot path: a render this process already holds; no token, no Redis.
        local = svc.local_page(View(found_period, found_scope, current, country=country), page)
        if local is not None:
            return _json(local, f"public, max-age={PAGE_TTL_S[found_period]}")
    view, user = await _view(request, c, found_period, found_scope, country)
    body = await svc.page(view, page, user.name if user else None)
    private = found_scope is Scope.friends
    return _json(body, "private, no-store" if private else f"public, max-age={PAGE_TTL_S[found_period]}")


@router.get("/{period}/{scope}/me", responses=service_errors(401, 404, 422, 503))
async def around_me(
    period: PeriodPath,
    scope: ScopePath,
    request: Request,
    c: ContainerDep,
    response: Response,
    radius: RadiusQuery = 5,
    country: CountryQuery = None,
) -> AroundMe:
    """My rank and score and the players around me (``radius`` above and below; shifted at the board's
    edges so the window keeps its size). ``rank`` is null when I have no entry in this period."""
    found_period, found_scope = resolve(period, scope)
    user = await _signed_in(request, c)
    view = await c.leaderboards.view(found_period, found_scope, user.uid, user.name, country)
    response.headers["Cache-Control"] = "private, no-store"
    return AroundMe.model_validate(await c.leaderboards.around_me(view, user.uid, radius, user.name))


@router.get("/{period}/{scope}/changes", responses=service_errors(401, 404, 422, 503))
async def changes(
    period: PeriodPath,
    scope: ScopePath,
    request: Request,
    c: ContainerDep,
    response: Response,
    since: SinceQuery,
    page: PageQuery = 1,
    country: CountryQuery = None,
) -> Changes:
    """The entries of a page whose rank or score changed since version ``since`` (and the uids that left
    it); the whole page (``full: true``) when ``since`` is too old. 422 when ``since`` is in the future."""
    found_period, found_scope = resolve(period, scope)
    view, user = await _view(request, c, found_period, found_scope, country)
    response.headers["Cache-Control"] = "no-store"
    return Changes.model_validate(
        await c.leaderboards.changes(view, page, since, user.name if user else None)
    )


@router.get("/{period}/{scope}/stream", responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}})
async def stream(
    period: PeriodPath,
    scope: ScopePath,
    request: Request,
    c: ContainerDep,
    page: PageQuery = 1,
    country: CountryQuery = None,
    since: Annotated[int | None, Query(ge=0, le=2**53)] = None,
) -> EventSourceResponse:
    """Server-sent events: a ``delta`` event (the body of ``/changes``) at once, then every 30 s when the
    page changed."""
    found_period, found_scope = resolve(period, scope)
    view, user = await _view(request, c, found_period, found_scope, country)
    interval = c.settings.leaderboard_stream_interval_s
    deltas = c.leaderboards.stream(view, page, since, interval, user.name if user else None)

    async def events() -> AsyncIterator[dict[str, Any]]:
        async for delta in deltas:
            yield {"event": "delta", "id": str(delta["version"]), "data": orjson.dumps(delta).decode()}

    return EventSourceResponse(events(), headers={"Cache-Control": "no-store"})
