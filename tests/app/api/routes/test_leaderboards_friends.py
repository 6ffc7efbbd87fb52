"""A player with the most friends allowed (500) reads the friends board and around-me over HTTP."""

from __future__ import annotations

import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.services.users import MAX_FRIENDS
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
    added = client.post("/v1/me/friends", headers=me, json={"uid": "f499"})
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
