"""Firebase App Check on the sensitive routes (app/api/app_check.py): every refusal of ``enforce`` on the
game finish and the device routes, ``monitor`` and ``off``, the metric, the OpenAPI. Tokens are signed with
a test key whose JWKS the fake App Check serves (tests/app/fixtures/app_check.py): the SDK's checks run."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.core.metrics import REGISTRY
from tests.app import tokens
from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.app_check import FakeAppCheck

FINISH = "/v1/games/{game_id}/finish"


def _count(route: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("pog_app_check_total", {"route": route, "outcome": outcome}) or 0.0


def _played(client: TestClient, headers: dict[str, str]) -> str:
    """A started game with one event worth 5 points (finished with score 5)."""
    r = client.post("/v1/games", headers=headers, json={})
    assert r.status_code == 201, r.text
    game_id: str = r.json()["game_id"]
    events = [{"type": "coin", "t_ms": 0, "points": 5}]
    r = client.post(f"/v1/games/{game_id}/events", headers=headers, json={"events": events})
    assert r.status_code == 200, r.text
    return game_id


def _finish(client: TestClient, headers: dict[str, str], game_id: str) -> Any:
    return client.post(f"/v1/games/{game_id}/finish", headers=headers, json={"score": 5})


def _status(db: firestore.Client, game_id: str) -> Any:
    data = db.collection("games").document(game_id).get().to_dict()
    assert data is not None
    return data["status"]


@pytest.fixture
def enforced(make_client: MakeClient, fake_app_check: FakeAppCheck) -> TestClient:
    return make_client(app_check="enforce")


def test_enforce_accepts_a_valid_token_and_counts_it(
    enforced: TestClient, auth: Mint, fake_app_check: FakeAppCheck, db: firestore.Client
) -> None:
    h = auth("alice")
    game_id = _played(enforced, h)
    before = _count(FINISH, "ok")
    r = _finish(enforced, h | fake_app_check.header(), game_id)
    assert r.status_code == 200, r.text
    assert r.json()["final_score"] == 5
    assert _count(FINISH, "ok") == before + 1
    assert _status(db, game_id) == "finished"
    assert fake_app_check.consumed == []  # a standard token is not consumed


def test_enforce_refuses_a_finish_without_a_token(
    enforced: TestClient, auth: Mint, fake_app_check: FakeAppCheck, db: firestore.Client
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token (any script holding a
    valid account could post scores)."""
    h = auth("alice")
    game_id = _played(enforced, h)
    before = _count(FINISH, "missing")
    r = _finish(enforced, h, game_id)
    assert r.status_code == 401, r.text
    assert r.json()["error"] == {
        "code": "app_check_required",
        "message": "an App Check token is required (X-Firebase-AppCheck)",
    }
    assert _count(FINISH, "missing") == before + 1
    assert _status(db, game_id) == "active"  # nothing changed: the same game still finishes with a token
    assert _finish(enforced, h | fake_app_check.header(), game_id).status_code == 200


def _refused_as_invalid(client: TestClient, headers: dict[str, str], db: firestore.Client) -> None:
    game_id = _played(client, {"Authorization": headers["Authorization"]})
    before = _count(FINISH, "invalid")
    r = _finish(client, headers, game_id)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "app_check_invalid", r.text
    assert _count(FINISH, "invalid") == before + 1
    assert _status(db, game_id) == "active"


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", "x" * 5000, "e30.e30.e30"])
def test_enforce_refuses_a_malformed_token(
    enforced: TestClient, auth: Mint, db: firestore.Client, token: str
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token (nor a malformed one)."""
    _refused_as_invalid(enforced, auth("alice") | {"X-Firebase-AppCheck": token}, db)


def test_enforce_refuses_a_token_of_another_project(
    enforced: TestClient, auth: Mint, fake_app_check: FakeAppCheck, db: firestore.Client
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token (nor another
    project's: the audience must name ours)."""
    token = fake_app_check.token(aud=["projects/999", "projects/someone-elses-game"])
    _refused_as_invalid(enforced, auth("alice") | fake_app_check.header(token), db)


def test_enforce_refuses_an_expired_token(
    enforced: TestClient, auth: Mint, fake_app_check: FakeAppCheck, db: firestore.Client
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token (nor an expired one)."""
    now = int(time.time())
    token = fake_app_check.token(iat=now - 7200, exp=now - 3600)
    _refused_as_invalid(enforced, auth("alice") | fake_app_check.header(token), db)


def test_enforce_refuses_a_token_of_an_unknown_key(
    enforced: TestClient, auth: Mint, fake_app_check: FakeAppCheck, db: firestore.Client
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token (nor one signed with
    a key App Check does not publish)."""
    other = tokens.TestKey("someone-elses-kid")
    _refused_as_invalid(enforced, auth("alice") | fake_app_check.header(fake_app_check.token(other)), db)


def test_enforce_refuses_a_forged_signature(
    enforced: TestClient, auth: Mint, fake_app_check: FakeAppCheck, db: firestore.Client
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token (nor one signed by
    another key under the published kid)."""
    forged = fake_app_check.token(tokens.TestKey("x"), kid=fake_app_check.key.kid)
    _refused_as_invalid(enforced, auth("alice") | fake_app_check.header(forged), db)


def test_enforce_refuses_a_token_of_another_issuer(
    enforced: TestClient, auth: Mint, fake_app_check: FakeAppCheck, db: firestore.Client
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token (nor one that App
    Check did not issue)."""
    token = fake_app_check.token(iss="https://securetoken.google.com/demo")
    _refused_as_invalid(enforced, auth("alice") | fake_app_check.header(token), db)


def test_the_id_token_is_checked_first(enforced: TestClient, fake_app_check: FakeAppCheck) -> None:
    """No App Check work (nor a metric) for a caller without a valid ID token: 401 ``unauthorized``."""
    before = _count(FINISH, "ok")
    r = enforced.post("/v1/games/g_0/finish", headers=fake_app_check.header(), json={"score": 5})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert _count(FINISH, "ok") == before


def test_monitor_lets_failures_through_and_counts_and_logs_them(
    make_client: MakeClient,
    auth: Mint,
    fake_app_check: FakeAppCheck,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``monitor`` (dev's setting) verifies, counts and logs, and refuses nothing."""
    client = make_client(app_check="monitor")
    h = auth("alice")
    before = {outcome: _count(FINISH, outcome) for outcome in ("missing", "invalid", "ok")}
    with caplog.at_level(logging.WARNING, logger="app.app_check"):
        assert _finish(client, h, _played(client, h)).status_code == 200
        bad = fake_app_check.header(fake_app_check.token(aud=["projects/1"]))
        assert _finish(client, h | bad, _played(client, h)).status_code == 200
        assert _finish(client, h | fake_app_check.header(), _played(client, h)).status_code == 200
    assert {outcome: _count(FINISH, outcome) - before[outcome] for outcome in before} == {
        "missing": 1,
        "invalid": 1,
        "ok": 1,
    }
    logged = [(r.outcome, r.event, r.uid, r.route) for r in caplog.records if r.name == "app.app_check"]  # type: ignore[attr-defined]
    assert logged == [
        ("missing", "app_check_failed", "alice", FINISH),
        ("invalid", "app_check_failed", "alice", FINISH),
    ]
    assert "audience" in caplog.records[-1].reason  # type: ignore[attr-defined]


def test_off_checks_nothing(make_client: MakeClient, auth: Mint, fake_app_check: FakeAppCheck) -> None:
    client = make_client(app_check="off")
    h = auth("alice")
    before = _count(FINISH, "invalid")
    bad = {"X-Firebase-AppCheck": "not-a-token"}
    assert _finish(client, h | bad, _played(client, h)).status_code == 200
    assert _count(FINISH, "invalid") == before
    assert fake_app_check.jwks_fetches == 0


def test_enforce_guards_device_registration_and_removal(
    enforced: TestClient, auth: Mint, fake_app_check: FakeAppCheck, db: firestore.Client
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token (a script could
    register or drop push devices)."""
    h = auth("alice")
    body = {"token": "fcm-token-" + "a" * 40, "platform": "android"}
    r = enforced.post("/v1/me/devices", headers=h, json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "app_check_required")
    assert list(db.collection("users").document("alice").collection("devices").stream()) == []
    r = enforced.post("/v1/me/devices", headers=h | fake_app_check.header(), json=body)
    assert r.status_code == 201, r.text
    device_id = r.json()["device_id"]
    r = enforced.delete(f"/v1/me/devices/{device_id}", headers=h)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "app_check_required")
    assert len(list(db.collection("users").document("alice").collection("devices").stream())) == 1
    r = enforced.delete(f"/v1/me/devices/{device_id}", headers=h | fake_app_check.header())
    assert r.status_code == 204, r.text
    assert list(db.collection("users").document("alice").collection("devices").stream()) == []


def test_openapi_documents_the_header_and_the_refusals(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    guarded = {
        ("/v1/games/{game_id}/finish", "post"),
        ("/v1/events/{event_id}/claim", "post"),
        ("/v1/purchases/stripe/checkout", "post"),
        ("/v1/me/devices", "post"),
        ("/v1/me/devices/{device_id}", "delete"),
    }
    documented = {
        (path, method)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if any(p["name"] == "X-Firebase-AppCheck" for p in operation.get("parameters", []))
    }
    # The friend changes may join them (docs/game-api.md#app-check); reads never need App Check.
    assert guarded <= documented
    assert not [(path, method) for path, method in documented if method == "get"]
    statuses = {(path, method): set(paths[path][method]["responses"]) for path, method in guarded}
    assert all({"401", "503"} <= found for found in statuses.values()), statuses
