from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from app.main import create_app
from scripts.services import free_port
from tests.app.conftest import Backends, MakeClient, settings_for


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_checks_redis_and_firestore(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "checks": {"redis": "ok", "firestore": "ok"},
        "breakers": {"redis": "closed"},
    }


def test_readyz_stays_ready_but_degraded_when_redis_is_down(make_client: MakeClient) -> None:
    """The instance still serves from Firestore: it must stay in the load balancer."""
    client = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "degraded"
    assert body["checks"]["firestore"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_unknown_route_uses_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "not_found", "message": "Not Found"}}


def test_startup_freezes_the_long_lived_objects_and_shutdown_thaws_them(
    backends: Backends, clean: None
) -> None:
    app = create_app(settings_for(backends, gc_freeze_after_startup=True))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the SDK clients, the app, its routes
    assert gc.get_freeze_count() == 0
