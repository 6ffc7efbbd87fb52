"""Limited-use App Check tokens on reward claims and Stripe checkouts: each token is consumed at App Check
(the fake ``verifyAppCheckToken`` of tests/app/fixtures/app_check.py), and a replayed one is refused."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.core.metrics import REGISTRY
from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.app_check import APP_ID, FakeAppCheck
from tests.app.fixtures.events import ADMIN_NET, FakeFcm, RecordingGranter, create_event, play

CLAIM = "/v1/events/{event_id}/claim"
CHECKOUT = "/v1/purchases/stripe/checkout"


def _count(route: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("pog_app_check_total", {"route": route, "outcome": outcome}) or 0.0


def _events_client(make_client: MakeClient, fcm: FakeFcm, granter: RecordingGranter, mode: str) -> TestClient:
    client = make_client(admin_ip_allowlist=ADMIN_NET, fcm_endpoint=fcm.url, app_check=mode)
    client.app.state.container.live_events.granter = granter  # type: ignore[attr-defined]
    return client


def _qualified(
    client: TestClient, admin: dict[str, str], player: dict[str, str], app_check: FakeAppCheck
) -> str:
    """A running event whose goal (one game) the player has met (the finish carries a standard token)."""
    event_id = create_event(client, admin, goal={"metric": "games_played", "target": 1})
    assert client.post(f"/v1/events/{event_id}/join", headers=player).status_code == 200
    play(client, player | app_check.header(), [1])
    return event_id


def test_a_replayed_claim_token_is_refused(
    make_client: MakeClient,
    fcm: FakeFcm,
    granter: RecordingGranter,
    admin: dict[str, str],
    auth: Mint,
    fake_app_check: FakeAppCheck,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token, and would accept a
    captured one again (a claim token is limited-use: consumed at App Check on first use)."""
    client = _events_client(make_client, fcm, granter, "enforce")
    h = auth("alice")
    event_id = _qualified(client, admin, h, fake_app_check)
    r = client.post(f"/v1/events/{event_id}/claim", headers=h)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "app_check_required")
    assert granter.calls == []
    token = fake_app_check.token()
    r = client.post(f"/v1/events/{event_id}/claim", headers=h | fake_app_check.header(token))
    assert r.status_code == 200, r.text
    assert fake_app_check.consumed == [token]
    before = _count(CLAIM, "replayed")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="app.app_check"):
        r = client.post(f"/v1/events/{event_id}/claim", headers=h | fake_app_check.header(token))
    assert r.status_code == 401, r.text
    assert r.json()["error"] == {
        "code": "app_check_replayed",
        "message": "this limited-use App Check token was already used",
    }
    assert _count(CLAIM, "replayed") == before + 1
    assert len(granter.calls) == 1  # the replay reached no service
    [record] = [r for r in caplog.records if r.name == "app.app_check"]
    assert (record.outcome, record.app_id, record.event) == ("replayed", APP_ID, "app_check_refused")  # type: ignore[attr-defined]


def test_monitor_consumes_and_counts_a_replay_but_lets_it_through(
    make_client: MakeClient,
    fcm: FakeFcm,
    granter: RecordingGranter,
    admin: dict[str, str],
    auth: Mint,
    fake_app_check: FakeAppCheck,
) -> None:
    client = _events_client(make_client, fcm, granter, "monitor")
    h = auth("alice")
    event_id = _qualified(client, admin, h, fake_app_check)
    token = fake_app_check.token()
    before = _count(CLAIM, "replayed")
    headers = h | fake_app_check.header(token)
    assert client.post(f"/v1/events/{event_id}/claim", headers=headers).status_code == 200
    assert client.post(f"/v1/events/{event_id}/claim", headers=headers).status_code == 200
    assert fake_app_check.consumed == [token, token]
    assert _count(CLAIM, "replayed") == before + 1


def test_app_check_unreachable_is_503_under_enforce_and_passes_under_monitor(
    make_client: MakeClient, auth: Mint, fake_app_check: FakeAppCheck
) -> None:
    """A consumption call App Check refuses (here: the runtime may not verify tokens) is our outage (503,
    retry), not the client's fault."""
    fake_app_check.consume_down = True
    h = auth("alice")
    enforced = make_client(app_check="enforce")
    r = enforced.post(CHECKOUT, headers=h | fake_app_check.header(), json={"product_id": "coins_100"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "app_check_unavailable"
    before = _count(CHECKOUT, "unavailable")
    monitored = make_client(app_check="monitor")
    r = monitored.post(CHECKOUT, headers=h | fake_app_check.header(), json={"product_id": "coins_100"})
    # Past App Check: this app has no Stripe Checkout configured.
    assert r.json()["error"]["code"] != "app_check_unavailable", r.text
    assert _count(CHECKOUT, "unavailable") == before + 1


def test_checkout_needs_a_fresh_limited_use_token(
    make_client: MakeClient, auth: Mint, fake_app_check: FakeAppCheck, db: firestore.Client
) -> None:
    """Failed before issue 18: the route accepted a request with no App Check token."""
    client = make_client(app_check="enforce")
    h = auth("alice")
    body = {"product_id": "coins_100"}
    r = client.post(CHECKOUT, headers=h, json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "app_check_required")
    token = fake_app_check.token()
    r = client.post(CHECKOUT, headers=h | fake_app_check.header(token), json=body)
    # App Check passed: the request reached the checkout, which this app has not configured (503).
    assert r.json()["error"]["code"] not in {"app_check_required", "app_check_invalid", "app_check_replayed"}
    r = client.post(CHECKOUT, headers=h | fake_app_check.header(token), json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "app_check_replayed")
    assert fake_app_check.consumed == [token, token]
    assert list(db.collection("transactions").stream()) == []
