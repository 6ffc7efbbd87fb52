"""Live boards through the CDN on a real 3-node Redis Cluster: a page's chain, bodies and gate in one slot
(its publish script and reads are single-slot), the pages spread over the shards. The pages are page 1 of
every period's global board and two countries' boards (a page past a board's end is never published)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from google.cloud import firestore

from app.domain.leaderboards import Period, Scope, period_id
from app.repositories.leaderboard_live import body_key, chain_key, gate_key
from app.services.leaderboard_views import View
from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.leaderboards import store_user
from tests.app.repositories.cluster.conftest import Shards
from tests.waiting import wait_until

COUNTRIES = ("IE", "FR")


def _finish(client: TestClient, headers: dict[str, str], score: int) -> None:
    game_id = client.post("/v1/games", headers=headers).json()["game_id"]
    events = {"events": [{"type": "coin", "t_ms": 0, "points": score}]}
    assert client.post(f"/v1/games/{game_id}/events", headers=headers, json=events).status_code == 200
    assert (
        client.post(f"/v1/games/{game_id}/finish", headers=headers, json={"score": score}).status_code == 200
    )


def _ok(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _views() -> dict[str, View]:
    """Page 1's URL of every live board the players below are on, and its board."""
    now = datetime.now(UTC)
    views = {}
    for period in Period:
        pid = period_id(period, now)
        views[f"/v1/leaderboards/{period.value}/global/live"] = View(period, Scope.global_, pid)
        for country in COUNTRIES:
            url = f"/v1/leaderboards/{period.value}/country/live?country={country}"
            views[url] = View(period, Scope.country, pid, country=country)
    return views


def test_live_pages_on_a_cluster(
    make_cluster_client: MakeClient, auth: Mint, shards: Shards, db: firestore.Client
) -> None:
    client = make_cluster_client(rate_limit_ip="100000/minute", leaderboard_stream_interval_s=0.2)
    for uid, country, score in (("alice", "IE", 30), ("carol", "FR", 20)):
        store_user(db, uid, uid.title(), country=country)
        _finish(client, auth(uid), score)
    views = _views()
    latest = {url: _ok(client.get(url)) for url in views}
    daily = "/v1/leaderboards/daily/global/live"
    first = latest[daily]
    assert [e["uid"] for e in _ok(client.get(first["full"]))["entries"]] == ["alice", "carol"]

    _finish(client, auth("bob"), 40)
    second = wait_until(
        lambda: (body := _ok(client.get(daily)))["version"] != first["version"] and body,
        timeout=10,
        what=daily,
    )
    segment = _ok(client.get(second["segment"].format(**{"from": first["version"], "to": second["version"]})))
    assert [(e["rank"], e["uid"]) for e in segment["entries"]] == [(1, "bob"), (2, "alice"), (3, "carol")]

    page_keys = [view.cache_key(1) for view in views.values()]
    assert len(page_keys) == len(Period) * (1 + len(COUNTRIES))
    for url, page_key in zip(views, page_keys, strict=True):
        keys = [chain_key(page_key), gate_key(page_key), body_key(page_key, latest[url]["version"])]
        assert {shards.owner(key) for key in keys} == {shards.owner(chain_key(page_key))}
        # (the gate lasts one interval: it may be gone by now)
        assert shards.clients[shards.owner(chain_key(page_key))].exists(keys[0], keys[2]) == 2
    assert len({shards.owner(chain_key(key)) for key in page_keys}) > 1
