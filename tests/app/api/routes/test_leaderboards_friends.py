"""The friends board over HTTP: mutual friends only; the most friends allowed (500) and around-me."""

from __future__ import annotations

import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.domain.friends import MAX_FRIENDS
from tests.app.conftest import Backends, Mint
from tests.app.fixtures.leaderboards import store_user, submit_today

#: Redis commands that walk a sorted set: a friends board must use none of them (ZMSCORE of the list only).
SCANS = ("zrange", "zrevrange", "zrangebyscore", "zrevrangebyscore", "zscan", "zrevrank", "zrank", "zcard")


def _command_calls(rds: redis.Redis) -> dict[str, int]:
    return {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in rds.info("commandstats").items()}


def test_friends_board_and_around_me_with_500_friends(
    client: TestClient, auth: Mint, db: firestore.Client, rds: redis.Redis, backends: Backends
) -> None:
    assert MAX_FRIENDS == 500
    store_user(db, "me", "Me", friends=[f"f{i:03d}" for i in range(499)])
    store_user(db, "f499", "Friend 499")
    store_user(db, "extra", "One Too Many")
    me = auth("me")
    assert (
        client.post("/v1/me/friends", headers=auth("f499"), json={"uid": "me"}).json()["status"]
        == "requested"
    )
    added = client.post("/v1/me/friends", headers=me, json={"uid": "f499"})  # accepts f499's request
    assert added.status_code == 200, added.text
    assert len(added.json()["friends"]) == 500
    full = client.post("/v1/me/friends", headers=me, json={"uid": "extra"})
    assert (full.status_code, full.json()["error"]["code"]) == (409, "too_many_friends")

    # Half the friends played (f000 1000 ... f498 1498); 300 strangers all score higher; I score 1251.
    friends = [(f"f{i:03d}", 1000 + i) for i in range(0, 500, 2)]
    strangers = [(f"s{i:03d}", 5000 + i) for i in range(300)]
    submit_today(backends, [*friends, *strangers, ("me", 1251)])
    rds.config_resetstat()

    pages = [client.get(f"/v1/leaderboards/daily/friends?page={n}", headers=me) for n in (1, 2, 3, 4)]
    around = client.get("/v1/leaderboards/daily/friends/me?radius=3", headers=me)
    calls = _command_calls(rds)

    assert all(r.status_code == 200 for r in [*pages, around]), [r.text for r in pages]
    bodies = [r.json() for r in pages]
    assert {b["total"] for b in bodies} == {251}  # 250 friends with a score, and me; no stranger
    ranked = [e["uid"] for b in bodies for e in b["entries"]]
    expected = [f"f{i:03d}" for i in range(498, 251, -2)] + ["me"] + [f"f{i:03d}" for i in range(250, -1, -2)]
    assert ranked == expected
    assert [len(b["entries"]) for b in bodies] == [100, 100, 51, 0]
    assert [e["rank"] for b in bodies for e in b["entries"]] == list(range(1, 252))
    mine = next(e for e in bodies[1]["entries"] if e["uid"] == "me")
    assert (mine["rank"], mine["score"], mine["display_name"]) == (125, 1251, "Me")

    body = around.json()
    assert (body["rank"], body["score"], body["total"]) == (125, 1251, 251)
    assert [(e["rank"], e["uid"]) for e in body["neighbours"]] == [
        (122, "f256"), (123, "f254"), (124, "f252"), (125, "me"), (126, "f250"), (127, "f248"), (128, "f246"),
    ]  # fmt: skip

    # Five reads, five ZMSCOREs of my list; the global board (600 players) was never walked.
    assert calls.get("zmscore") == 5
    assert not {name: calls[name] for name in SCANS if name in calls}


def test_friends_board_has_mutual_friends_only(
    client: TestClient, auth: Mint, db: firestore.Client, backends: Backends
) -> None:
    """Failed before issue 18: a one-sided add put any player on the adder's friends board."""
    for uid in ("alice", "bob", "carol", "dave", "mallory"):
        store_user(db, uid, uid.title())

    def add(uid: str, other: str) -> str:
        status: str = client.post("/v1/me/friends", headers=auth(uid), json={"uid": other}).json()["status"]
        return status

    assert (add("alice", "bob"), add("bob", "alice")) == ("requested", "friends")
    assert add("alice", "carol") == "requested"  # carol has not answered
    assert add("dave", "alice") == "requested"  # nor has alice
    assert (add("alice", "mallory"), add("mallory", "alice")) == ("requested", "friends")
    assert client.post("/v1/me/blocks", headers=auth("mallory"), json={"uid": "alice"}).is_success
    submit_today(backends, [("alice", 100), ("bob", 200), ("carol", 300), ("dave", 400), ("mallory", 500)])

    def board(uid: str) -> list[str]:
        r = client.get("/v1/leaderboards/daily/friends", headers=auth(uid))
        assert r.status_code == 200, r.text
        return [e["uid"] for e in r.json()["entries"]]

    assert board("alice") == ["bob", "alice"]
    assert board("bob") == ["bob", "alice"]
    assert board("carol") == ["carol"]
    assert board("dave") == ["dave"]
    assert board("mallory") == ["mallory"]
