"""The usage model's traffic against the app's routes: every call it prices is one the app serves."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import app.api.routes as routes_package
from infra.cost.usage import load_usage

pytestmark = pytest.mark.unit


def _app_routes() -> set[str]:
    """``METHOD /path`` of every route of every router in app/api/routes."""
    found: set[str] = set()
    for module in pkgutil.iter_modules(routes_package.__path__):
        router = getattr(importlib.import_module(f"{routes_package.__name__}.{module.name}"), "router", None)
        for route in getattr(router, "routes", []):
            found.update(f"{method} {route.path}" for method in getattr(route, "methods", None) or ())
    return found


def test_every_route_the_model_prices_is_served_by_the_app() -> None:
    traffic = load_usage().traffic
    priced = {*traffic.per_game, *traffic.per_session, *traffic.per_purchase}
    served = _app_routes()

    assert len(served) > 20  # the routers were found: an empty set would make the check vacuous
    assert priced - served == set()


def test_presence_costs_the_api_no_heartbeat() -> None:
    """Issue 20: clients keep their presence on the Realtime Database; the API takes no heartbeat."""
    per_session = load_usage().traffic.per_session

    assert not any("heartbeat" in route for route in per_session)
    # Once a session each: where the player connects, and where the friends' presence lives.
    assert per_session["GET /v1/me/realtime"] == per_session["GET /v1/presence/friends"] == 1
