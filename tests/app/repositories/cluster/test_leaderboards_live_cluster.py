"""Live boards through the CDN on a real 3-node Redis Cluster: a page's chain, bodies and gate in one slot
(its publish script and reads are single-slot), the pages spread over the shards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from google.cloud import firestore

from app.domain.leaderboards import Period, period_id
from app.repositories.leaderboard_live import body_key, chain_key, gate_key
from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.leaderboards import store_user
from tests.app.repositories.cluster.conftest import Shards
from tests.waiting import wait_until

PAGES = range(1, 11)


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


def test_live_pages_on_a_cluster(
    make_cluster_client: MakeClient, auth: Mint, shards: Shards, db: firestore.Client
) -> None:
    client = make_cluster_client(rate_limit_ip="100000/minute", leaderboard_stream_interval_s=0.2)
    store_user(db, "alice", "Alice")
    _finish(client, auth("alice"), 30)
    latest = {page: _ok(client.get(f"/v1/leaderboards/daily/global/live?page={page}")) for page in PAGES}
    first = latest[1]
    assert [e["uid"] for e in _ok(client.get(first["full"]))["entries"]] == ["alice"]

    _finish(client, auth("bob"), 40)
    url = "/v1/leaderboards/daily/global/live?page=1"
    second = wait_until(
        lambda: (body := _ok(client.get(url)))["version"] != first["version"] and body, timeout=10, what=url
    )
    segment = _ok(client.get(second["segment"].format(**{"from": first["version"], "to": second["version"]})))
    assert [(e["rank"], e["uid"]) for e in segment["entries"]] == [(1, "bob"), (2, "alice")]

    pid = period_id(Period.daily, datetime.now(UTC))
    page_keys = {page: f"leaderboard:global:daily:{pid}:p{page}" for page in PAGES}
    for page, page_key in page_keys.items():
        keys = [chain_key(page_key), gate_key(page_key), body_key(page_key, latest[page]["version"])]
        assert {shards.owner(key) for key in keys} == {shards.owner(chain_key(page_key))}
        # (the gate lasts one interval: it may be gone by now)
        assert shards.clients[shards.owner(chain_key(page_key))].exists(keys[0], keys[2]) == 2
    assert len({shards.owner(chain_key(key)) for key in page_keys.values()}) > 1
