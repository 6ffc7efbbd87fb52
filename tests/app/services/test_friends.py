"""The friend service on the emulator: concurrent acceptance never leaves a friendship one-sided, and the
migration of one-sided ``friends`` entries written before issue 18."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from google.cloud import firestore

from app.composition import Parts
from app.domain.friends import Added
from tests.app.conftest import Backends, settings_for
from tests.app.fixtures.leaderboards import store_user


def _doc(db: firestore.Client, uid: str) -> dict[str, Any]:
    data = db.collection("users").document(uid).get().to_dict()
    assert data is not None
    return data


def test_both_players_asking_at_once_become_friends_on_both_sides(
    backends: Backends, db: firestore.Client
) -> None:
    """Failed before issue 18: each add wrote one document; a friendship could be one-sided."""
    for uid in ("alice", "bob"):
        store_user(db, uid, uid.title())

    async def race() -> list[tuple[Added, list[str]]]:
        async with Parts(settings_for(backends)) as parts:
            adds = [
                parts.friends.add(a, None, b)
                for _ in range(4)
                for a, b in (("alice", "bob"), ("bob", "alice"))
            ]
            return await asyncio.gather(*adds)

    outcomes = asyncio.run(race())
    assert {outcome for outcome, _ in outcomes} == {Added.REQUESTED, Added.FRIENDS}
    alice, bob = _doc(db, "alice"), _doc(db, "bob")
    assert (alice["friends"], bob["friends"]) == (["bob"], ["alice"])
    pending = [
        doc.get(field) for doc in (alice, bob) for field in ("friend_requests_in", "friend_requests_out")
    ]
    assert not any(pending)


def test_migration_keeps_mutual_entries_and_turns_one_sided_ones_into_requests(
    backends: Backends, db: firestore.Client, rds: redis.Redis
) -> None:
    store_user(db, "alice", "Alice", friends=["bob", "carol", "ghost"])
    store_user(db, "bob", "Bob", friends=["alice"])
    store_user(db, "carol", "Carol")
    rds.set("user:alice:profile", b"stale render")

    async def migrate() -> dict[str, int]:
        async with Parts(settings_for(backends)) as parts:
            return await parts.friends.migrate_one_sided()

    assert asyncio.run(migrate()) == {"kept": 2, "requested": 1, "dropped": 1}  # bob's entry and alice's
    alice, bob, carol = _doc(db, "alice"), _doc(db, "bob"), _doc(db, "carol")
    assert (alice["friends"], bob["friends"], carol["friends"]) == (["bob"], ["alice"], [])
    assert set(alice["friend_requests_out"]) == {"carol"}
    assert set(carol["friend_requests_in"]) == {"alice"}
    assert not rds.exists("user:alice:profile")
    assert asyncio.run(migrate()) == {"kept": 2, "requested": 0, "dropped": 0}  # a rerun changes nothing
