"""Routes with a fast path: a handler that answers the common case before FastAPI solves the route's
parameters and dependencies (on the hottest routes that solving costs more than the work itself).

The fast handler returns None for anything it does not handle, and the request then takes the route's
full path: the same validation, errors and OpenAPI schema as any route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

FastHandler = Callable[[Request], Awaitable[Response | None]]


def fast_path_route(fast: FastHandler) -> type[APIRoute]:
    """An ``APIRoute`` class (``route_class_override``) that tries ``fast`` first."""

    class FastPathRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            full = super().get_route_handler()

            async def fast_or_full(request: Request) -> Response:
                return await fast(request) or await full(request)

            return fast_or_full

    FastPathRoute.__name__ = f"FastPathRoute[{getattr(fast, '__name__', 'fast')}]"
    return FastPathRoute
