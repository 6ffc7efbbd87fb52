"""Firebase App Check on the sensitive routes: ``dependencies=[AppCheck]`` or ``[AppCheckLimitedUse]``.

The client sends the token in ``X-Firebase-AppCheck``; ``AppCheckLimitedUse`` consumes it at App Check, so
a captured token cannot be replayed (claims, checkouts). The caller is authenticated (and counted against
the rate limits) first, so an anonymous flood costs no App Check call. ``POG_APP_CHECK`` decides what a
failed check does: ``monitor`` counts and logs it and lets the request through, ``enforce`` refuses it
(401 ``app_check_required`` / ``app_check_invalid`` / ``app_check_replayed``: the client gets a fresh
token and retries once; 503 ``app_check_unavailable`` when App Check cannot be reached), ``off`` skips it.
Every outcome is counted in ``pog_app_check_total{route,outcome}`` (docs/game-api.md#app-check).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from app.api.deps import Container, CurrentUser
from app.api.errors import ApiError, service_errors
from app.core.app_check import AppCheckResult, Outcome
from app.core.metrics import count_app_check
from app.core.observability import route_template

log = logging.getLogger("app.app_check")

APP_CHECK_HEADER = "X-Firebase-AppCheck"

#: What ``enforce`` answers for each refused outcome: status, code, message.
_REFUSALS: dict[Outcome, tuple[int, str, str]] = {
    Outcome.MISSING: (401, "app_check_required", f"an App Check token is required ({APP_CHECK_HEADER})"),
    Outcome.INVALID: (401, "app_check_invalid", "invalid or expired App Check token"),
    Outcome.REPLAYED: (401, "app_check_replayed", "this limited-use App Check token was already used"),
    Outcome.UNAVAILABLE: (503, "app_check_unavailable", "App Check verification is unavailable, retry"),
}

#: The OpenAPI entries of a route with App Check (merge into its ``responses``).
APP_CHECK_ERRORS = service_errors(401, 503)

AppCheckToken = Annotated[
    str | None,
    Header(
        alias=APP_CHECK_HEADER,
        description="A Firebase App Check token (limited-use on claims and checkouts); docs/game-api.md",
    ),
]


def _refusal(outcome: Outcome) -> ApiError:
    return ApiError(*_REFUSALS[outcome])


def _app_check(limited_use: bool) -> Callable[..., Awaitable[None]]:
    async def app_check(request: Request, user: CurrentUser, token: AppCheckToken = None) -> None:
        c: Container = request.app.state.container
        mode = c.settings.app_check
        if mode == "off":
            return
        result = await c.app_check.check(token, limited_use=limited_use)
        route = route_template(request.scope)
        count_app_check(route, result.outcome.value)
        if result.outcome is Outcome.OK:
            return
        _log(result, route, user.uid, mode)
        if mode == "enforce":
            raise _refusal(result.outcome)

    return app_check


def _log(result: AppCheckResult, route: str, uid: str, mode: str) -> None:
    fields: dict[str, Any] = {
        "event": "app_check_refused" if mode == "enforce" else "app_check_failed",
        "route": route,
        "outcome": result.outcome.value,
        "uid": uid,
        "app_id": result.app_id,
        "reason": result.reason,
    }
    log.warning("app check %s on %s", result.outcome.value, route, extra=fields)


#: A standard token: the request comes from our app on a genuine device.
AppCheck = Depends(_app_check(limited_use=False))
#: A limited-use token, consumed at App Check: a second use of the same token is refused.
AppCheckLimitedUse = Depends(_app_check(limited_use=True))
