"""Deterministic test data for drills: collections, subcollections two levels deep, every value type.

Layout for N documents: users (10 %), users/{uid}/games (30 %), users/{uid}/games/{id}/events (30 %),
transactions and events (the rest). Written in batches of 500 (Firestore's limit per batch).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore

from backups.clients import sdk_client
from backups.errors import BackupError
from backups.targets import Target

BATCH_SIZE = 500
MIN_DOCUMENTS = 10
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def layout(count: int) -> dict[str, int]:
    if count < MIN_DOCUMENTS:
        raise BackupError(f"--seed needs at least {MIN_DOCUMENTS} documents; got {count}")
    users, games, game_events = count // 10, count * 3 // 10, count * 3 // 10
    rest = count - users - games - game_events
    return {
        "users": users,
        "games": games,
        "game_events": game_events,
        "transactions": rest // 2,
        "events": rest - rest // 2,
    }


def _when(rng: random.Random) -> datetime:
    return _EPOCH + timedelta(seconds=rng.randrange(0, 300 * 86400), microseconds=rng.randrange(1_000_000))


Documents = Iterator[tuple[Any, dict[str, Any]]]


def documents(client: firestore.Client, count: int, seed: int = 7) -> Documents:
    """(document reference, fields) pairs; the same ``count`` and ``seed`` give the same data."""
    rng = random.Random(seed)
    plan = layout(count)
    users = [f"u{i:06d}" for i in range(plan["users"])]
    games = [(users[i % len(users)], f"g{i:06d}") for i in range(plan["games"])]
    # One generator after the other on the same random stream: the order is part of "the same data".
    yield from _users(client, rng, users)
    yield from _games(client, rng, games)
    yield from _game_events(client, rng, games, plan["game_events"])
    yield from _transactions(client, rng, users, plan["transactions"])
    yield from _events(client, rng, plan["events"])


def _users(client: firestore.Client, rng: random.Random, users: list[str]) -> Documents:
    for i, uid in enumerate(users):
        yield (
            client.document("users", uid),
            {
                "display_name": f"Player {i} ✨",
                "country": rng.choice(["US", "DE", "BR", "JP", "IN"]),
                "coins": rng.randrange(0, 10**12),
                "ratio": rng.random(),
                "premium": rng.random() < 0.2,
                "deleted_at": None,
                "created_at": _when(rng),
                "avatar": rng.randbytes(16),
                "home": firestore.GeoPoint(rng.uniform(-90, 90), rng.uniform(-180, 180)),
                "friend": client.document("users", users[(i + 1) % len(users)]),
                "stats": {
                    "level": rng.randrange(1, 100),
                    "badges": [f"b{rng.randrange(50)}" for _ in range(3)],
                    "last": {"score": rng.random() * 1000, "at": _when(rng)},
                },
                "tags": ["new", rng.randrange(100), 2.5, True, None],
            },
        )


def _games(client: firestore.Client, rng: random.Random, games: list[tuple[str, str]]) -> Documents:
    for i, (uid, game_id) in enumerate(games):
        yield (
            client.document("users", uid, "games", game_id),
            {
                "uid": uid,
                "score": rng.randrange(0, 100_000),
                "duration_s": rng.random() * 600,
                "finished_at": _when(rng),
                "mode": rng.choice(["classic", "blitz"]),
                "moves": [rng.randrange(9) for _ in range(8)],
                "meta": {"client": "ios" if i % 2 else "android", "version": [1, i % 7, 0]},
            },
        )


def _game_events(
    client: firestore.Client, rng: random.Random, games: list[tuple[str, str]], count: int
) -> Documents:
    for i in range(count):
        uid, game_id = games[i % len(games)]
        yield (
            client.document("users", uid, "games", game_id, "events", f"e{i:06d}"),
            {
                "type": rng.choice(["tap", "bonus", "pause"]),
                "t_ms": rng.randrange(0, 600_000),
                "payload": rng.randbytes(8),
                "at": firestore.GeoPoint(rng.uniform(-90, 90), rng.uniform(-180, 180)),
            },
        )


def _transactions(client: firestore.Client, rng: random.Random, users: list[str], count: int) -> Documents:
    for i in range(count):
        uid = users[i % len(users)]
        yield (
            client.document("transactions", f"t{i:06d}"),
            {
                "user": client.document("users", uid),
                "amount_cents": rng.randrange(99, 9999),
                "currency": "USD",
                "created_at": _when(rng),
                "items": [{"sku": f"sku-{rng.randrange(20)}", "qty": rng.randrange(1, 5)}],
            },
        )


def _events(client: firestore.Client, rng: random.Random, count: int) -> Documents:
    for i in range(count):
        yield (
            client.document("events", f"ev{i:05d}"),
            {
                "name": f"Event {i}",
                "starts_at": _when(rng),
                "active": i % 3 == 0,
                "rewards": [{"rank": r, "coins": 1000 // r} for r in range(1, 4)],
            },
        )


def seed(target: Target, count: int, seed: int = 7) -> int:
    """Write ``count`` documents into ``target``; returns how many were written."""
    client = sdk_client(target)
    written = 0
    try:
        batch = client.batch()
        for reference, fields in documents(client, count, seed):
            batch.set(reference, fields)
            written += 1
            if written % BATCH_SIZE == 0:
                batch.commit()
                batch = client.batch()
        if written % BATCH_SIZE:
            batch.commit()
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return written
