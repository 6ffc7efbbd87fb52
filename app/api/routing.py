"""``Router``: an ``APIRouter`` that skips its scan for a path none of its routes can match.

FastAPI matches a request by trying every route of every included router in order, at about a
microsecond and a half per route, and tries the matched router's routes twice. The routers of this app
each serve one path prefix, so a request for ``/v1/presence/friends`` would otherwise pay for every
route included before it (tens of microseconds per request, more than some handlers cost).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from starlette.routing import BaseRoute, Match
from starlette.types import Scope


class Router(APIRouter):
    """Include it without a ``prefix`` (its routes' own paths are the ones compared, as the app does)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prefix_of: tuple[int, str] = (-1, "")

    def _common_prefix(self) -> str:
        """The literal start every route's path shares (up to the first path parameter)."""
        count, prefix = self._prefix_of
        if count != len(self.routes):
            paths = [str(getattr(route, "path", "")) for route in self.routes]
            # By characters, not path segments: any literal start shared by all of them will do.
            prefix = os.path.commonprefix(paths).split("{", 1)[0] if paths else ""  # noqa: RUF071
            self._prefix_of = (len(self.routes), prefix)
        return prefix

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        root_path = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :]
        if not path.startswith(self._common_prefix()):
            return Match.NONE, {}
        return super().matches(scope)


#: The methods a route of this app may serve, in the order an ``Allow`` header lists them.
METHODS: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route serves at the request's path, OPTIONS included; empty for a path no route
    serves.

    Starlette answers a wrong method from the first route whose path matches, listing that route's methods
    only: on ``/v1/me``, served by two routes (GET and PATCH), its ``Allow`` said ``GET``. Asking every
    route, once per method, costs a few microseconds per route, and only on a 405 or an OPTIONS.
    """
    allowed = [
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    return [*allowed, "OPTIONS"] if allowed else []
