"""``Router``: a router skips its scan for a path outside its routes' common start, and every route of
the app is still found for its own path, by the same endpoint, with routers skipped on the way."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Match, Route

from app.api.routing import Router, allowed_methods
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
            # An int convertor matches digits only (the live versions); every other parameter takes "x1".
            path = re.sub(r"\{[^}]+\}", "x1", re.sub(r"\{[^}:]+:int\}", "1", route.path))
            for method in route.methods:
                scope = _scope(path, method) | {"app": app}
                found = next(r for r in app.router.routes if r.matches(scope)[0] is Match.FULL)
                assert found is included, f"{method} {route.path} matched another router"
                checked += 1
    assert checked >= 30


def _served_methods(app: FastAPI) -> dict[str, set[str]]:
    """Concrete path -> the methods of every route whose path pattern matches it, by the routes' regexes
    (not by ``allowed_methods``, which this checks)."""
    routes = [
        route
        for included in app.router.routes
        for route in getattr(getattr(included, "original_router", None), "routes", [included])
    ]
    paths = {re.sub(r"\{[^}]+\}", "x1", str(getattr(route, "path", ""))) for route in routes}
    served: dict[str, set[str]] = {}
    for path in paths:
        for route in routes:
            if isinstance(route, Route) and route.path_regex.match(path):
                served.setdefault(path, set()).update(route.methods or ())
    return served


def test_options_answers_every_method_of_the_path() -> None:
    """Failed before issue 18: OPTIONS /v1/me was a 405 whose Allow said GET (the first route on the path),
    though PATCH /v1/me is served too."""
    app = create_app(Settings(environment="test", firebase_project_id="demo-routing"))
    client = TestClient(app)
    served = _served_methods(app)
    assert len(served) >= 30
    answers = {path: client.options(path) for path in served}
    assert {path: r.status_code for path, r in answers.items()} == dict.fromkeys(served, 204)
    allow = {path: set(r.headers["allow"].split(", ")) for path, r in answers.items()}
    assert allow == {path: methods | {"OPTIONS"} for path, methods in served.items()}
    assert allow["/v1/me"] == {"GET", "PATCH", "OPTIONS"}


def test_a_405_lists_every_method_of_the_path() -> None:
    """Failed before issue 18: DELETE /v1/me answered Allow: GET."""
    app = create_app(Settings(environment="test", firebase_project_id="demo-routing"))
    client = TestClient(app)
    served = _served_methods(app)
    refused = {path: client.put(path) for path, methods in served.items() if "PUT" not in methods}
    assert len(refused) >= 30
    assert {path: r.status_code for path, r in refused.items()} == dict.fromkeys(refused, 405)
    assert {path: set(r.headers["allow"].split(", ")) for path, r in refused.items()} == {
        path: served[path] | {"OPTIONS"} for path in refused
    }
    assert refused["/v1/me"].json()["error"]["code"] == "method_not_allowed"


def test_options_on_a_path_nothing_serves_is_a_404() -> None:
    client = TestClient(create_app(Settings(environment="test", firebase_project_id="demo-routing")))
    assert client.options("/v1/nowhere").status_code == 404
    assert allowed_methods([], {"type": "http", "method": "OPTIONS", "path": "/v1/me"}) == []
