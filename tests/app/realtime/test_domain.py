"""The pure parts of the realtime layout (app/domain/realtime.py) and its setting."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.domain import realtime
from app.domain.realtime import MirrorKey, MirrorWrite, PlayerMirror, Shards, shard_for
from tests.app.core.settings_env import DEV

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
PROD_URLS = (
    "https://pot-of-gold-prod-default-rtdb.europe-west1.firebasedatabase.app,"
    "https://pot-of-gold-prod-rtdb-1.europe-west1.firebasedatabase.app"
)


@pytest.mark.parametrize(
    ("uid", "first_8_bytes", "shards"),
    [
        # The vectors docs/realtime.md gives clients: SHA-256(uid)[:8] as a big-endian unsigned integer.
        ("alice", 3159282601090220207, {1: 0, 2: 1, 3: 2, 8: 7}),
        ("bob", 9346719481748178650, {1: 0, 2: 0, 3: 2, 8: 2}),
        ("Zq3x9YbK2mVtP0aLrE8uN1wHc4d2", 11988065907925743976, {1: 0, 2: 0, 3: 1, 8: 0}),
    ],
)
def test_shard_for_is_the_documented_function(uid: str, first_8_bytes: int, shards: dict[int, int]) -> None:
    assert {n: shard_for(uid, n) for n in shards} == shards
    assert {n: first_8_bytes % n for n in shards} == shards


def test_players_spread_evenly_over_the_shards() -> None:
    counts = Counter(shard_for(f"player-{i}", 8) for i in range(80_000))
    assert set(counts) == set(range(8))
    assert max(counts.values()) / min(counts.values()) < 1.1


def test_a_layout_needs_a_shard() -> None:
    with pytest.raises(ValueError, match="at least one shard"):
        shard_for("alice", 0)
    with pytest.raises(ValueError, match="at least one database URL"):
        Shards(())


@pytest.mark.parametrize(
    ("uid", "reason"),
    [("", "empty"), ("a.b", "'.'"), ("a/b", "'/'"), ("a$b#c", "'#$'"), ("a[b]", "'[]'"), ("a\nb", r"'\n'")],
)
def test_a_uid_the_database_cannot_hold_is_refused_with_the_reason(uid: str, reason: str) -> None:
    assert not realtime.is_key(uid)
    with pytest.raises(realtime.RealtimeKeyError, match=re.escape(reason)):
        realtime.presence_path(uid)


def test_message_ids_sort_by_creation_time() -> None:
    ids = [realtime.message_id(NOW + timedelta(milliseconds=ms)) for ms in (0, 1, 999, 60_000)]
    assert ids == sorted(ids)
    assert all(len(i) == 20 and realtime.is_key(i) for i in ids)
    assert realtime.message_id(NOW, b"\x00" * 12) != realtime.message_id(NOW, b"\x01" * 12)
    with pytest.raises(ValueError, match="12 bytes"):
        realtime.message_id(NOW, b"\x00")


def _entries(ages: dict[str, timedelta]) -> dict[str, Any]:
    return {k: {"at": realtime.epoch_ms(NOW - age)} for k, age in ages.items()}


def test_trim_drops_what_is_older_than_a_week() -> None:
    week = realtime.MESSAGE_MAX_AGE
    found = _entries({"a": week + timedelta(seconds=1), "b": week - timedelta(seconds=1), "c": timedelta(0)})
    assert realtime.to_trim(found, NOW) == ["a"]


def test_trim_keeps_room_for_one_more_under_the_limit() -> None:
    n = realtime.MAX_MESSAGES
    found = _entries({f"m{i:03d}": timedelta(minutes=n - i) for i in range(n + 3)})
    assert realtime.to_trim(found, NOW) == ["m000", "m001", "m002", "m003"]  # oldest first
    assert realtime.to_trim(_entries({"m": timedelta(0)}), NOW) == []
    assert realtime.to_trim({"bad": "not a message", "ok": {"at": realtime.epoch_ms(NOW)}}, NOW) == ["bad"]


def test_a_friendship_is_one_entry_on_each_players_shard() -> None:
    key = MirrorKey.friendship("bob", "alice")
    assert key == MirrorKey.friendship("alice", "bob")
    assert key.uids == ("alice", "bob")
    assert realtime.mirror_writes(key, True) == [
        MirrorWrite("alice", "friends/alice/bob", True),
        MirrorWrite("bob", "friends/bob/alice", True),
    ]
    assert [w.value for w in realtime.mirror_writes(key, False)] == [None, None]
    shards = Shards(("https://a-default-rtdb.firebaseio.com", "https://b-rtdb-1.firebaseio.com"))
    assert realtime.by_shard(shards, realtime.mirror_writes(key, True)) == {
        1: {"friends/alice/bob": True},
        0: {"friends/bob/alice": True},
    }
    assert realtime.mirror_writes(MirrorKey.friendship("a.b", "bob"), True) == []  # unaddressable


def test_a_hidden_flag_and_the_record_ids() -> None:
    key = MirrorKey.hidden("carol")
    assert realtime.mirror_writes(key, True) == [MirrorWrite("carol", "hidden/carol", True)]
    assert realtime.mirror_writes(key, False) == [MirrorWrite("carol", "hidden/carol", None)]
    ids = {MirrorKey.hidden("carol").record_id, MirrorKey.friendship("carol", "x").record_id}
    assert len(ids) == 2
    assert all(len(i) == 40 and "/" not in i for i in ids)
    assert MirrorKey.of("friends", ["b", "a"]) == MirrorKey.friendship("a", "b")
    with pytest.raises(ValueError, match="not a mirror key"):
        MirrorKey.of("friends", ["a"])


def test_a_players_nodes_are_whole_values() -> None:
    player = PlayerMirror("alice", ("bob", "odd.uid", "carol"), hidden=True)
    assert realtime.player_values(player) == {
        "friends/alice": {"bob": True, "carol": True},
        "hidden/alice": True,
    }
    assert realtime.player_values(PlayerMirror("dave", (), hidden=False)) == {
        "friends/dave": None,
        "hidden/dave": None,
    }


def test_the_setting_takes_a_list_or_commas_and_one_spelling_per_database() -> None:
    settings = Settings(environment="test", realtime_database_urls=PROD_URLS.replace(",", "/,") + "/")
    assert settings.realtime_database_urls == PROD_URLS.split(",")
    listed = Settings(environment="test", realtime_database_urls='["https://x-default-rtdb.firebaseio.com"]')
    assert listed.realtime_database_urls == ["https://x-default-rtdb.firebaseio.com"]
    assert Settings(environment="test").realtime_database_urls == []


@pytest.mark.parametrize(
    ("environment", "urls", "message"),
    [
        ("test", "https://example.com", "are not Realtime Database URLs"),
        ("test", "http://203.0.113.9:9000/?ns=x", "are not Realtime Database URLs"),
        ("dev", "http://127.0.0.1:9000/?ns=x", "are not Realtime Database URLs"),
        ("test", PROD_URLS + "," + PROD_URLS.split(",")[0] + "/", "listed twice"),
        ("dev", "", "POG_REALTIME_DATABASE_URLS is required in dev"),
    ],
)
def test_bad_urls_name_the_setting_and_the_fix(environment: str, urls: str, message: str) -> None:
    extra = DEV if environment == "dev" else {}
    with pytest.raises((ValidationError, ValueError), match=message):
        Settings(environment=environment, realtime_database_urls=urls, **extra)  # type: ignore[arg-type]


def test_a_fake_is_allowed_off_the_stacks_only() -> None:
    fake = "http://127.0.0.1:9000/?ns=pog-test-0"
    assert Settings(environment="local", realtime_database_urls=fake).realtime_database_urls == [fake]
    dev = Settings(environment="dev", realtime_database_urls=PROD_URLS, **DEV)
    assert len(dev.realtime_database_urls) == 2
