"""``Router``: a router skips its scan for a path outside its routes' common start, and every route of
the app is still found for its own path, by the same endpoint, with routers skipped on the way."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Match

from app.api.routing import Router
from app.core.config import Settings
from app.main import create_app

pytestmark = pytest.mark.unit


def _scope(path: str, method: str = "GET", root_path: str = "") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path, "headers": []}


async def _noop() -> None:
    return None


def _games_router() -> Router:
    router = Router()
    router.add_api_route("/v1/games/{game_id}/events", _noop, methods=["POST"])
    router.add_api_route("/v1/games/{game_id}/finish", _noop, methods=["POST"])
    return router


def test_the_common_start_stops_at_the_first_path_parameter() -> None:
    router = _games_router()
    assert router._common_prefix() == "/v1/games/"
    router.add_api_route("/v1/gallery", _noop)
    assert router._common_prefix() == "/v1/ga"  # recomputed when a route is added


def test_a_path_outside_the_common_start_is_not_scanned() -> None:
    router = _games_router()
    calls = []
    scan = router.routes[0].matches

    def counted(scope: object) -> object:
        calls.append(scope)
        return scan(scope)  # type: ignore[arg-type]

    router.routes[0].matches = counted  # type: ignore[method-assign]
    assert router.matches(_scope("/v1/me"))[0] is Match.NONE
    assert calls == []


@pytest.mark.parametrize(
    ("path", "root_path"), [("/v1/games/g1/events", ""), ("/api/v1/games/g1/events", "/api")]
)
def test_a_path_inside_is_scanned_as_by_fastapi(path: str, root_path: str) -> None:
    app = create_app(Settings(environment="test", firebase_project_id="demo-routing"))
    app.include_router(_games_router())
    scope = _scope(path, "POST", root_path) | {"app": app}
    assert [route.matches(scope)[0] for route in app.router.routes][-1] is Match.FULL


def test_every_route_of_the_app_is_found_for_its_own_path() -> None:
    app = create_app(Settings(environment="test", firebase_project_id="demo-routing"))
    checked = 0
    for included in app.router.routes:
        router = getattr(included, "original_router", None)  # None: the docs routes FastAPI adds itself
        for route in router.routes if router is not None else []:
            assert isinstance(route, APIRoute)
            path = re.sub(r"\{[^}]+\}", "x1", route.path)
            for method in route.methods:
                scope = _scope(path, method) | {"app": app}
                found = next(r for r in app.router.routes if r.matches(scope)[0] is Match.FULL)
                assert found is included, f"{method} {route.path} matched another router"
                checked += 1
    assert checked >= 30
