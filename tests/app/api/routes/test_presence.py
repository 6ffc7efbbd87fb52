"""Presence over HTTP: the API says where each node is on the Realtime Database and reads none of it.
Who may read whose node is the rules' job (tests/app/realtime/test_rules.py), fed by the friendship
mirror (tests/app/realtime/test_mirror.py)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.domain.realtime import shard_for
from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.realtime import FakeRtdb


@pytest.fixture
def client(make_client: MakeClient, rtdb: FakeRtdb) -> TestClient:
    return make_client(realtime_database_urls=",".join(rtdb.urls))


def _befriend(client: TestClient, auth: Mint, a: str, b: str) -> None:
    client.get("/v1/me", headers=auth(b))
    assert client.post("/v1/me/friends", headers=auth(a), json={"uid": b}).json()["status"] == "requested"
    assert client.post("/v1/me/friends", headers=auth(b), json={"uid": a}).json()["status"] == "friends"


def _friends(client: TestClient, auth: Mint, uid: str) -> list[dict[str, Any]]:
    r = client.get("/v1/presence/friends", headers=auth(uid))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store"
    friends: list[dict[str, Any]] = r.json()["friends"]
    return friends


def test_my_realtime_setup_names_my_shard_and_every_shard(
    client: TestClient, auth: Mint, rtdb: FakeRtdb
) -> None:
    assert (shard_for("alice", 2), shard_for("bob", 2)) == (1, 0)  # the fixtures' shards, pinned
    r = client.get("/v1/me/realtime", headers=auth("alice"))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "database_url": rtdb.urls[1],
        "shard": 1,
        "shard_count": 2,
        "database_urls": rtdb.urls,
        "presence_path": "/presence/alice",
        "messages_path": "/messages/alice",
    }
    assert r.headers["cache-control"] == "private, max-age=3600"
    assert client.get("/v1/me/realtime", headers=auth("bob")).json()["database_url"] == rtdb.urls[0]
    assert rtdb.requests == []  # the API reads nothing there to answer


def test_friends_presence_is_where_to_read_each_mutual_friend(client: TestClient, auth: Mint) -> None:
    """Failed before issue 18 for one-sided adds; now the list holds mutual friends only, each with the
    shard and node to read (hidden ones too: the rules refuse those reads)."""
    client.get("/v1/me", headers=auth("mallory"))
    assert client.post("/v1/me/friends", headers=auth("stalker"), json={"uid": "mallory"}).is_success
    assert _friends(client, auth, "stalker") == []  # a request is not a friendship
    _befriend(client, auth, "alice", "bob")
    _befriend(client, auth, "alice", "carol")
    assert client.patch("/v1/me", headers=auth("carol"), json={"presence_visible": False}).is_success
    urls = client.get("/v1/me/realtime", headers=auth("alice")).json()["database_urls"]
    assert sorted(_friends(client, auth, "alice"), key=lambda f: f["uid"]) == [
        {"uid": "bob", "database_url": urls[shard_for("bob", 2)], "path": "/presence/bob"},
        {"uid": "carol", "database_url": urls[shard_for("carol", 2)], "path": "/presence/carol"},
    ]
    assert [f["uid"] for f in _friends(client, auth, "bob")] == ["alice"]
    assert client.delete("/v1/me/friends/alice", headers=auth("bob")).status_code == 204
    assert client.post("/v1/me/blocks", headers=auth("carol"), json={"uid": "alice"}).is_success
    assert _friends(client, auth, "alice") == []


def test_the_heartbeat_is_gone_and_says_where_presence_went(client: TestClient, auth: Mint) -> None:
    for headers in (auth("alice"), {}):  # no token needed to learn it is gone
        r = client.post("/v1/presence/heartbeat", headers=headers, json={"status": "in_game"})
        assert r.status_code == 410
        assert r.json()["error"]["code"] == "heartbeat_gone"
        assert "/v1/me/realtime" in r.json()["error"]["message"]
        assert r.headers["cache-control"] == "no-store"
    schema = client.get("/openapi.json").json()
    assert "/v1/presence/heartbeat" not in schema["paths"]
    assert {"/v1/me/realtime", "/v1/presence/friends"} <= set(schema["paths"])


def test_without_a_realtime_database_there_is_nowhere_to_point(make_client: MakeClient, auth: Mint) -> None:
    off = make_client()  # local runs and tests only: dev and prod require the URLs
    for path in ("/v1/me/realtime", "/v1/presence/friends"):
        r = off.get(path, headers=auth("alice"))
        assert (r.status_code, r.json()["error"]["code"]) == (404, "realtime_off"), path


def test_a_uid_the_database_cannot_hold_is_refused_with_the_reason(client: TestClient, auth: Mint) -> None:
    r = client.get("/v1/me/realtime", headers=auth("odd.uid"))
    assert (r.status_code, r.json()["error"]["code"]) == (422, "uid_not_realtime")


@pytest.mark.parametrize("path", ["/v1/me/realtime", "/v1/presence/friends"])
def test_presence_needs_a_token(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthorized")


def test_presence_visible_must_be_a_boolean(client: TestClient, auth: Mint) -> None:
    r = client.patch("/v1/me", headers=auth("bob"), json={"presence_visible": "no"})
    assert r.status_code == 422
    assert client.get("/v1/me", headers=auth("bob")).json()["presence_visible"] is True
