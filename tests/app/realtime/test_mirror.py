"""The friendship mirror at its REST boundary: the exact requests the API sends the shards when a
friendship is made or ends, a block lands or a player hides; the Firestore outbox that keeps them through
an outage; ``realtime sync`` and ``realtime resync``.

Two shards on the fake Realtime Database; alice and dave hash to shard 1, bob and carol to shard 0.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.composition import Parts
from app.domain.realtime import MirrorKey, shard_for
from app.ops.realtime_cli import resync_mirror, sync_outbox
from app.repositories.realtime_outbox import COLLECTION, RealtimeOutbox
from app.services.realtime import ResyncReport, SyncReport
from tests.app.conftest import Backends, MakeClient, Mint, settings_for
from tests.app.fixtures.realtime import SHARDS, FakeRtdb

S0, S1 = SHARDS
SILENT = {"print": "silent"}


@pytest.fixture
def client(make_client: MakeClient, rtdb: FakeRtdb) -> TestClient:
    assert [shard_for(u, 2) for u in ("alice", "bob", "carol", "dave")] == [1, 0, 0, 1]
    return make_client(realtime_database_urls=rtdb.urls)


def patches(rtdb: FakeRtdb) -> list[tuple[str, str, dict[str, str], Any]]:
    """Every request, as (method, shard, path, query, body) minus the method (all must be PATCH /)."""
    assert {(r.method, r.path) for r in rtdb.requests} <= {("PATCH", "/.json")}, rtdb.requests
    assert {r.authorization for r in rtdb.requests} <= {"Bearer owner"}
    return sorted(((r.shard, r.path, r.query, r.body) for r in rtdb.requests), key=lambda r: r[0])


def outbox(db: firestore.Client) -> list[dict[str, Any]]:
    return [d.to_dict() or {} for d in db.collection(COLLECTION).stream()]


def request(client: TestClient, auth: Mint, a: str, b: str) -> str:
    client.get("/v1/me", headers=auth(b))
    status: str = client.post("/v1/me/friends", headers=auth(a), json={"uid": b}).json()["status"]
    return status


def befriend(client: TestClient, auth: Mint, a: str, b: str) -> None:
    assert request(client, auth, a, b) == "requested"
    assert request(client, auth, b, a) == "friends"


def test_an_accepted_friendship_is_mirrored_on_each_players_shard(
    client: TestClient, auth: Mint, rtdb: FakeRtdb, db: firestore.Client
) -> None:
    assert request(client, auth, "bob", "alice") == "requested"
    assert rtdb.requests == []  # a request is not a friendship: nothing to read by
    assert request(client, auth, "alice", "bob") == "friends"
    assert patches(rtdb) == [
        (S0, "/.json", SILENT, {"friends/bob/alice": True}),
        (S1, "/.json", SILENT, {"friends/alice/bob": True}),
    ]
    assert rtdb.at(S1, "friends/alice") == {"bob": True}
    assert rtdb.at(S0, "friends/bob") == {"alice": True}
    assert outbox(db) == []  # applied: the record is gone
    rtdb.clear()
    assert request(client, auth, "alice", "bob") == "friends"  # again: no change, nothing sent
    assert rtdb.requests == []


def test_two_players_on_one_shard_take_one_request(client: TestClient, auth: Mint, rtdb: FakeRtdb) -> None:
    befriend(client, auth, "bob", "carol")
    assert patches(rtdb) == [(S0, "/.json", SILENT, {"friends/bob/carol": True, "friends/carol/bob": True})]


def test_an_ended_friendship_is_removed_from_both_shards(
    client: TestClient, auth: Mint, rtdb: FakeRtdb
) -> None:
    befriend(client, auth, "alice", "bob")
    rtdb.clear()
    assert client.delete("/v1/me/friends/alice", headers=auth("bob")).status_code == 204
    assert patches(rtdb) == [
        (S0, "/.json", SILENT, {"friends/bob/alice": None}),
        (S1, "/.json", SILENT, {"friends/alice/bob": None}),
    ]
    assert rtdb.tree(S0) is None
    assert rtdb.tree(S1) is None


def test_a_block_ends_the_friendship_on_the_shards(client: TestClient, auth: Mint, rtdb: FakeRtdb) -> None:
    befriend(client, auth, "alice", "carol")
    assert request(client, auth, "dave", "carol") == "requested"
    rtdb.clear()
    assert client.post("/v1/me/blocks", headers=auth("carol"), json={"uid": "alice"}).is_success
    assert patches(rtdb) == [
        (S0, "/.json", SILENT, {"friends/carol/alice": None}),
        (S1, "/.json", SILENT, {"friends/alice/carol": None}),
    ]
    rtdb.clear()
    # Blocking someone who only sent a request: no friendship ended, nothing to write.
    assert client.post("/v1/me/blocks", headers=auth("carol"), json={"uid": "dave"}).is_success
    assert rtdb.requests == []


def test_hiding_and_showing_presence(client: TestClient, auth: Mint, rtdb: FakeRtdb) -> None:
    client.get("/v1/me", headers=auth("bob"))
    assert client.patch("/v1/me", headers=auth("bob"), json={"presence_visible": False}).is_success
    assert patches(rtdb) == [(S0, "/.json", SILENT, {"hidden/bob": True})]
    rtdb.clear()
    # null leaves the setting as it is: nothing to write; another field alone neither.
    assert client.patch("/v1/me", headers=auth("bob"), json={"presence_visible": None}).is_success
    assert client.patch("/v1/me", headers=auth("bob"), json={"display_name": "Bobby"}).is_success
    assert rtdb.requests == []
    assert client.patch("/v1/me", headers=auth("bob"), json={"presence_visible": True}).is_success
    assert patches(rtdb) == [(S0, "/.json", SILENT, {"hidden/bob": None})]
    assert rtdb.tree(S0) is None


def test_an_unfriend_during_an_outage_is_kept_and_applied_by_sync(
    client: TestClient, auth: Mint, rtdb: FakeRtdb, db: firestore.Client, backends: Backends
) -> None:
    """An ex-friend must not keep read access: the outbox record commits with the change, survives the
    failed apply, and ``realtime sync`` removes the entries once the database answers again."""
    befriend(client, auth, "alice", "bob")
    rtdb.down()
    assert client.delete("/v1/me/friends/alice", headers=auth("bob")).status_code == 204  # answered anyway
    [record] = outbox(db)
    assert (record["kind"], record["uids"]) == ("friends", ["alice", "bob"])
    rtdb.up()
    rtdb.clear()
    assert rtdb.at(S1, "friends/alice/bob") is True  # stale until the sync
    settings = settings_for(backends, realtime_database_urls=rtdb.urls)
    assert asyncio.run(sync_outbox(settings, 500)) == SyncReport(applied=1, kept=0, failed=0)
    assert patches(rtdb) == [
        (S0, "/.json", SILENT, {"friends/bob/alice": None}),
        (S1, "/.json", SILENT, {"friends/alice/bob": None}),
    ]
    assert outbox(db) == []
    rtdb.clear()
    assert asyncio.run(sync_outbox(settings, 500)) == SyncReport(applied=0, kept=0, failed=0)
    assert rtdb.requests == []


def test_a_late_apply_never_restores_access_a_later_change_removed(
    client: TestClient, auth: Mint, rtdb: FakeRtdb, db: firestore.Client, backends: Backends
) -> None:
    """A sync run reads the friendship's record (left by an outage), then stalls; meanwhile the players
    unfriend and that change is applied. The stalled apply then writes what Firestore says now (no
    friendship), never the ``true`` of the change it was recorded for."""
    rtdb.down()
    befriend(client, auth, "alice", "bob")
    settings = settings_for(backends, realtime_database_urls=rtdb.urls)
    key = MirrorKey.friendship("alice", "bob")

    async def stale_record() -> Any:
        async with Parts(settings) as parts:
            return await RealtimeOutbox(parts.db).get(key)

    record = asyncio.run(stale_record())
    assert record is not None
    rtdb.up()
    assert client.delete("/v1/me/friends/alice", headers=auth("bob")).status_code == 204
    assert outbox(db) == []

    async def late_apply() -> bool:
        async with Parts(settings) as parts:
            assert parts.mirror is not None
            return await parts.mirror.apply(record)

    assert asyncio.run(late_apply()) is False  # applied, but not its record to delete any more
    bodies = [body for _, _, _, body in patches(rtdb)]
    assert len(bodies) == 4  # the unfriend's two requests, then the late apply's two
    assert all(value is None for body in bodies for value in body.values())
    assert rtdb.tree(S0) is None
    assert rtdb.tree(S1) is None


def test_sync_reports_what_it_could_not_apply_and_keeps_it(
    client: TestClient, auth: Mint, rtdb: FakeRtdb, db: firestore.Client, backends: Backends
) -> None:
    rtdb.down()
    befriend(client, auth, "alice", "bob")
    settings = settings_for(backends, realtime_database_urls=rtdb.urls)
    assert asyncio.run(sync_outbox(settings, 500)) == SyncReport(applied=0, kept=0, failed=1)
    assert len(outbox(db)) == 1


def test_a_record_written_again_while_it_was_applied_stays(backends: Backends, db: firestore.Client) -> None:
    """The apply deletes the record only if it is the version it read: a change committed meanwhile
    keeps its own record for its own apply (or the next sync)."""

    async def run() -> tuple[bool, bool, bool]:
        async with Parts(settings_for(backends)) as parts:
            store = RealtimeOutbox(parts.db)
            key = MirrorKey.friendship("bob", "alice")
            batch = parts.db.batch()
            store.record(batch, key)
            await batch.commit()
            read = await store.get(key)
            assert read is not None
            batch = parts.db.batch()
            store.record(batch, key)  # the same key again: a later change
            await batch.commit()
            stale = await store.settle(read)
            again = await store.get(key)
            assert again is not None
            assert again.version != read.version
            return stale, await store.settle(again), await store.get(key) is None

    assert asyncio.run(run()) == (False, True, True)
    assert outbox(db) == []


def _user(db: firestore.Client, uid: str, friends: list[str], visible: bool = True) -> None:
    db.collection("users").document(uid).set(
        {"uid": uid, "display_name": uid, "friends": friends, "presence_visible": visible}
    )


def test_resync_rebuilds_every_shard_from_firestore(
    rtdb: FakeRtdb, db: firestore.Client, backends: Backends
) -> None:
    """After a shard-count change a player's nodes may sit on their old shard, and a restore may leave
    nodes Firestore no longer has: resync writes each player's nodes on their shard, deletes them on the
    others, and deletes the nodes of players that are gone."""
    _user(db, "alice", ["bob"])
    _user(db, "bob", ["alice"])
    _user(db, "carol", [], visible=False)
    _user(db, "dave", [])
    rtdb.seed(S0, "friends/alice", {"mallory": True})  # alice's nodes on the wrong shard
    rtdb.seed(S1, "friends/alice", {"bob": True, "mallory": True})  # and a friendship that ended
    rtdb.seed(S1, "friends/ghost", {"alice": True})  # a player Firestore no longer has
    rtdb.seed(S0, "hidden/ghost", True)
    rtdb.seed(S0, "presence/bob", {"state": "online", "last_changed": 1})  # the clients' own: untouched
    settings = settings_for(backends, realtime_database_urls=rtdb.urls)

    report = asyncio.run(resync_mirror(settings))

    assert report == ResyncReport(players=4, written={0: 2, 1: 2}, removed={0: 1, 1: 1})
    page = {
        S0: {
            "friends/alice": None, "hidden/alice": None,
            "friends/bob": {"alice": True}, "hidden/bob": None,
            "friends/carol": None, "hidden/carol": True,
            "friends/dave": None, "hidden/dave": None,
        },
        S1: {
            "friends/alice": {"bob": True}, "hidden/alice": None,
            "friends/bob": None, "hidden/bob": None,
            "friends/carol": None, "hidden/carol": None,
            "friends/dave": None, "hidden/dave": None,
        },
    }  # fmt: skip
    writes = [(r.shard, r.body) for r in rtdb.requests if r.method == "PATCH"]
    reads = sorted((r.shard, r.path, r.query["shallow"]) for r in rtdb.requests if r.method == "GET")
    assert sorted(writes[:2], key=lambda w: w[0]) == [(S0, page[S0]), (S1, page[S1])]
    assert writes[2:] == [(S0, {"hidden/ghost": None}), (S1, {"friends/ghost": None})]
    assert reads == [(s, p, "true") for s in SHARDS for p in ("/friends.json", "/hidden.json")]
    assert rtdb.tree(S0) == {
        "friends": {"bob": {"alice": True}},
        "hidden": {"carol": True},
        "presence": {"bob": {"state": "online", "last_changed": 1}},
    }
    assert rtdb.tree(S1) == {"friends": {"alice": {"bob": True}}}
    rtdb.clear()
    assert asyncio.run(resync_mirror(settings)).removed == {0: 0, 1: 0}  # a rerun changes nothing
    assert [r.body for r in rtdb.requests if r.method == "PATCH"] in (
        [page[S0], page[S1]],
        [page[S1], page[S0]],
    )
