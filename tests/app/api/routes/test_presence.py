"""Presence and friendship: only mutual friends see it, and a player may hide it altogether."""

from __future__ import annotations

from typing import Any

import redis
from fastapi.testclient import TestClient

from tests.app.conftest import Mint


def _seen(client: TestClient, auth: Mint, uid: str) -> list[dict[str, Any]]:
    r = client.get("/v1/presence/friends", headers=auth(uid))
    assert r.status_code == 200, r.text
    friends: list[dict[str, Any]] = r.json()["friends"]
    return friends


def _befriend(client: TestClient, auth: Mint, a: str, b: str) -> None:
    client.get("/v1/me", headers=auth(b))
    assert client.post("/v1/me/friends", headers=auth(a), json={"uid": b}).json()["status"] == "requested"
    assert client.post("/v1/me/friends", headers=auth(b), json={"uid": a}).json()["status"] == "friends"


def test_presence_is_not_visible_before_the_request_is_accepted(client: TestClient, auth: Mint) -> None:
    """Failed before issue 18: adding any uid showed that player's status and last-seen time at once."""
    client.get("/v1/me", headers=auth("victim"))
    assert client.post("/v1/me/friends", headers=auth("stalker"), json={"uid": "victim"}).status_code == 200
    assert client.post(
        "/v1/presence/heartbeat", headers=auth("victim"), json={"status": "in_game"}
    ).is_success
    assert _seen(client, auth, "stalker") == []

    assert client.post("/v1/me/friends", headers=auth("victim"), json={"uid": "stalker"}).json()[
        "status"
    ] == ("friends")
    (seen,) = _seen(client, auth, "stalker")
    assert (seen["uid"], seen["online"], seen["status"]) == ("victim", True, "in_game")
    assert seen["last_seen_at"] is not None


def test_a_hidden_player_is_offline_to_friends_and_their_heartbeat_still_works(
    client: TestClient, auth: Mint, rds: redis.Redis
) -> None:
    _befriend(client, auth, "alice", "bob")
    client.post("/v1/presence/heartbeat", headers=auth("bob"))
    assert _seen(client, auth, "alice")[0]["online"] is True

    r = client.patch("/v1/me", headers=auth("bob"), json={"presence_visible": False})
    assert (r.status_code, r.json()["presence_visible"]) == (200, False)
    hidden = [{"uid": "bob", "online": False, "status": None, "last_seen_at": None}]
    assert _seen(client, auth, "alice") == hidden  # at once: the live heartbeat is dropped
    beat = client.post("/v1/presence/heartbeat", headers=auth("bob"), json={"status": "in_game"})
    assert (beat.status_code, beat.json()["status"]) == (200, "in_game")
    assert _seen(client, auth, "alice") == hidden
    assert not rds.exists("presence:bob")
    assert _seen(client, auth, "bob")[0]["uid"] == "alice"  # bob still sees his friends

    # null leaves the setting as it is; true shows bob again from his next heartbeat
    assert (
        client.patch("/v1/me", headers=auth("bob"), json={"presence_visible": None}).json()[
            "presence_visible"
        ]
        is False
    )
    assert client.patch("/v1/me", headers=auth("bob"), json={"presence_visible": True}).is_success
    client.post("/v1/presence/heartbeat", headers=auth("bob"))
    assert _seen(client, auth, "alice")[0]["online"] is True


def test_presence_visible_must_be_a_boolean(client: TestClient, auth: Mint) -> None:
    r = client.patch("/v1/me", headers=auth("bob"), json={"presence_visible": "no"})
    assert r.status_code == 422
    assert client.get("/v1/me", headers=auth("bob")).json()["presence_visible"] is True


def test_presence_ends_with_the_friendship_and_with_a_block(client: TestClient, auth: Mint) -> None:
    _befriend(client, auth, "alice", "bob")
    _befriend(client, auth, "alice", "carol")
    client.post("/v1/presence/heartbeat", headers=auth("bob"))
    client.post("/v1/presence/heartbeat", headers=auth("carol"))
    assert client.delete("/v1/me/friends/alice", headers=auth("bob")).status_code == 204
    assert client.post("/v1/me/blocks", headers=auth("carol"), json={"uid": "alice"}).is_success
    assert _seen(client, auth, "alice") == []
