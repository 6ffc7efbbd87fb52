"""Friends by consent over HTTP: requests, acceptance, refusal, removal, blocks, and their error paths."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.domain.friends import MAX_FRIENDS, MAX_OUTGOING_REQUESTS
from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.app_check import FakeAppCheck


def _doc(db: firestore.Client, uid: str) -> dict[str, Any]:
    data = db.collection("users").document(uid).get().to_dict()
    assert data is not None
    return data


def _players(client: TestClient, auth: Mint, *uids: str) -> None:
    for uid in uids:
        r = client.patch("/v1/me", headers=auth(uid), json={"display_name": uid.title()})
        assert r.status_code == 200, r.text


def _add(client: TestClient, auth: Mint, uid: str, other: str) -> Any:
    return client.post("/v1/me/friends", headers=auth(uid), json={"uid": other})


def _error(r: Any, status: int, code: str) -> None:
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


def _requests(client: TestClient, auth: Mint, uid: str) -> tuple[list[str], list[str]]:
    body = client.get("/v1/me/friends/requests", headers=auth(uid)).json()
    return [r["uid"] for r in body["incoming"]], [r["uid"] for r in body["outgoing"]]


def _friends(client: TestClient, auth: Mint, uid: str) -> list[str]:
    friends: list[str] = client.get("/v1/me", headers=auth(uid)).json()["friends"]
    return friends


def test_friends_only_once_both_asked(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    """Failed before issue 18: one POST made bob alice's friend, without bob's consent."""
    _players(client, auth, "alice", "bob")
    r = _add(client, auth, "alice", "bob")
    assert (r.status_code, r.json()) == (200, {"status": "requested", "friends": []})
    assert _add(client, auth, "alice", "bob").json() == {"status": "requested", "friends": []}  # idempotent
    assert _friends(client, auth, "alice") == _friends(client, auth, "bob") == []

    incoming = client.get("/v1/me/friends/requests", headers=auth("bob"))
    assert incoming.status_code == 200
    assert incoming.headers["cache-control"] == "private, no-store"
    (request,) = incoming.json()["incoming"]
    assert (request["uid"], request["display_name"]) == ("alice", "Alice")
    assert request["created_at"]
    assert _requests(client, auth, "alice") == ([], ["bob"])

    r = _add(client, auth, "bob", "alice")  # bob asks alice back: that accepts
    assert r.json() == {"status": "friends", "friends": ["alice"]}
    assert _friends(client, auth, "alice") == ["bob"]
    assert _friends(client, auth, "bob") == ["alice"]
    assert _requests(client, auth, "alice") == _requests(client, auth, "bob") == ([], [])
    assert _add(client, auth, "alice", "bob").json() == {"status": "friends", "friends": ["bob"]}
    assert _doc(db, "alice")["friends"] == ["bob"]
    assert _doc(db, "bob")["friends"] == ["alice"]


def test_adding_yourself_is_400_and_an_unknown_player_404(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    _players(client, auth, "alice")
    before = _doc(db, "alice")
    _error(_add(client, auth, "alice", "alice"), 400, "cannot_friend_self")
    _error(_add(client, auth, "alice", "ghost"), 404, "user_not_found")
    assert _doc(db, "alice") == before
    assert not db.collection("users").document("ghost").get().exists


@pytest.mark.parametrize(
    "body",
    [{}, {"uid": ""}, {"uid": "a/b"}, {"uid": "x" * 129}, {"uid": 7}, {"uid": "bob", "mutual": True}],
    ids=["missing", "empty", "slash", "long", "int", "extra-field"],
)
def test_add_friend_invalid_body_is_422(client: TestClient, auth: Mint, body: dict[str, object]) -> None:
    assert client.post("/v1/me/friends", headers=auth("alice"), json=body).status_code == 422


def test_a_full_friends_list_is_409_and_nothing_changes(
    client: TestClient, auth: Mint, db: firestore.Client, rds: redis.Redis
) -> None:
    _players(client, auth, "alice", "bob")
    full = [f"f{i}" for i in range(MAX_FRIENDS)]
    db.collection("users").document("alice").update({"friends": full})
    rds.delete("user:alice:profile")  # as a server-side write would
    _error(_add(client, auth, "alice", "bob"), 409, "too_many_friends")
    assert _requests(client, auth, "bob") == ([], [])

    _add(client, auth, "bob", "alice")  # bob asks; alice (full) cannot accept, bob cannot either
    _error(_add(client, auth, "alice", "bob"), 409, "too_many_friends")
    assert (_doc(db, "alice")["friends"], _doc(db, "bob")["friends"]) == (full, [])
    assert _requests(client, auth, "alice") == (["bob"], [])


def test_accepting_when_the_other_player_is_full_is_409(
    client: TestClient, auth: Mint, db: firestore.Client, rds: redis.Redis
) -> None:
    _players(client, auth, "alice", "bob")
    _add(client, auth, "alice", "bob")
    full = [f"f{i}" for i in range(MAX_FRIENDS)]
    db.collection("users").document("alice").update({"friends": full})
    rds.delete("user:alice:profile")
    _error(_add(client, auth, "bob", "alice"), 409, "their_friends_full")
    assert _doc(db, "bob")["friends"] == []


def test_too_many_pending_requests_is_409(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    _players(client, auth, "alice", "bob")
    waiting = {f"r{i}": _doc(db, "alice")["created_at"] for i in range(MAX_OUTGOING_REQUESTS)}
    db.collection("users").document("alice").update({"friend_requests_out": waiting})
    r = _add(client, auth, "alice", "bob")
    _error(r, 409, "too_many_requests")
    assert "cancel" in r.json()["error"]["message"]
    assert _requests(client, auth, "bob") == ([], [])


def test_refusing_and_cancelling_requests(client: TestClient, auth: Mint) -> None:
    _players(client, auth, "alice", "bob")
    _add(client, auth, "alice", "bob")
    assert client.delete("/v1/me/friends/requests/alice", headers=auth("bob")).status_code == 204  # refused
    assert _requests(client, auth, "alice") == _requests(client, auth, "bob") == ([], [])
    _add(client, auth, "alice", "bob")
    assert client.delete("/v1/me/friends/requests/bob", headers=auth("alice")).status_code == 204  # cancelled
    assert _requests(client, auth, "bob") == ([], [])
    assert _add(client, auth, "bob", "alice").json()["status"] == "requested"  # nothing left to accept


def test_refusing_an_unknown_request_is_404(client: TestClient, auth: Mint) -> None:
    _players(client, auth, "alice", "bob")
    _error(client.delete("/v1/me/friends/requests/bob", headers=auth("alice")), 404, "request_not_found")
    _error(client.delete("/v1/me/friends/requests/ghost", headers=auth("alice")), 404, "request_not_found")
    assert client.delete("/v1/me/friends/requests/" + "x" * 129, headers=auth("alice")).status_code == 422


def test_removing_a_friend_ends_it_both_ways(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    _players(client, auth, "alice", "bob")
    _add(client, auth, "alice", "bob")
    _add(client, auth, "bob", "alice")
    assert client.delete("/v1/me/friends/alice", headers=auth("bob")).status_code == 204
    assert _friends(client, auth, "alice") == _friends(client, auth, "bob") == []
    assert _doc(db, "alice")["friends"] == _doc(db, "bob")["friends"] == []
    _error(client.delete("/v1/me/friends/alice", headers=auth("bob")), 404, "friend_not_found")
    assert client.delete("/v1/me/friends/" + "x" * 129, headers=auth("bob")).status_code == 422


def test_blocking_ends_friendship_both_ways_and_hides_the_blocked_players_requests(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    _players(client, auth, "alice", "mallory")
    _add(client, auth, "mallory", "alice")
    _add(client, auth, "alice", "mallory")
    assert _friends(client, auth, "mallory") == ["alice"]

    r = client.post("/v1/me/blocks", headers=auth("alice"), json={"uid": "mallory"})
    assert (r.status_code, r.json()) == (200, {"blocked": ["mallory"]})
    assert client.post("/v1/me/blocks", headers=auth("alice"), json={"uid": "mallory"}).json() == {
        "blocked": ["mallory"]
    }
    assert _friends(client, auth, "alice") == _friends(client, auth, "mallory") == []
    assert _doc(db, "mallory")["friends"] == []

    # mallory's new request looks pending to mallory, exactly as an unanswered one; alice never sees it.
    assert _add(client, auth, "mallory", "alice").json() == {"status": "requested", "friends": []}
    assert _requests(client, auth, "mallory") == ([], ["alice"])
    assert _requests(client, auth, "alice") == ([], [])
    _error(_add(client, auth, "alice", "mallory"), 409, "player_blocked")
    assert client.get("/v1/me/blocks", headers=auth("alice")).json() == {"blocked": ["mallory"]}
    assert client.get("/v1/me/blocks", headers=auth("mallory")).json() == {"blocked": []}

    assert client.delete("/v1/me/blocks/mallory", headers=auth("alice")).status_code == 204
    assert client.get("/v1/me/blocks", headers=auth("alice")).json() == {"blocked": []}
    assert _requests(client, auth, "alice") == ([], [])  # the hidden request is not delivered on unblock
    _error(client.delete("/v1/me/blocks/mallory", headers=auth("alice")), 404, "block_not_found")


def test_blocking_yourself_is_400_and_an_unknown_player_404(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    _players(client, auth, "alice")
    _error(
        client.post("/v1/me/blocks", headers=auth("alice"), json={"uid": "alice"}), 400, "cannot_block_self"
    )
    _error(client.post("/v1/me/blocks", headers=auth("alice"), json={"uid": "ghost"}), 404, "user_not_found")
    assert "blocked" not in _doc(db, "alice")
    assert client.post("/v1/me/blocks", headers=auth("alice"), json={"uid": "a/b"}).status_code == 422


def test_blocking_removes_pending_requests_both_ways(client: TestClient, auth: Mint) -> None:
    _players(client, auth, "alice", "bob", "carol")
    _add(client, auth, "bob", "alice")
    _add(client, auth, "alice", "carol")
    client.post("/v1/me/blocks", headers=auth("alice"), json={"uid": "bob"})
    client.post("/v1/me/blocks", headers=auth("alice"), json={"uid": "carol"})
    assert _requests(client, auth, "alice") == ([], [])
    assert _requests(client, auth, "bob") == _requests(client, auth, "carol") == ([], [])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/me/friends", {"uid": "bob"}),
        ("DELETE", "/v1/me/friends/bob", None),
        ("DELETE", "/v1/me/friends/requests/bob", None),
        ("POST", "/v1/me/blocks", {"uid": "bob"}),
        ("DELETE", "/v1/me/blocks/bob", None),
    ],
)
def test_friend_changes_need_app_check_when_enforced(
    make_client: MakeClient,
    fake_app_check: FakeAppCheck,
    auth: Mint,
    db: firestore.Client,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    """Failed before issue 18: any holder of an ID token could change friendships without an attested app."""
    client = make_client(app_check="enforce")
    _players(client, auth, "alice", "bob")
    before = _doc(db, "alice")
    r = client.request(method, path, headers=auth("alice"), json=body)
    _error(r, 401, "app_check_required")
    assert _doc(db, "alice") == before
    attested = client.request(method, path, headers=auth("alice") | fake_app_check.header(), json=body)
    assert attested.status_code != 401, attested.text
