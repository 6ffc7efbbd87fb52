"""Leaderboards in Firestore: finished games (the boards' truth), archives, checkpoints, reward markers.

Layout (``/leaderboards/{period}/{board}`` of docs/architecture.md#firestore-layout):

- ``/leaderboards/{period}-{period_id}`` (``daily-2026-11-26``): ``period``, ``period_id``, ``final``
  (true: the archive of a finished period; false: a checkpoint of a running monthly or all-time board),
  ``as_of``, ``boards`` {board name: entry count}, ``chunk_size``, ``rewards_done_at``;
- ``/leaderboards/{period}-{period_id}/{board}/c00000``, ``c00001``, ...: the standings in rank order,
  ``CHUNK`` entries per document as two parallel arrays ``uids`` and ``scores`` (encoded, exact int64);
  board ``global`` or ``country-IE``;
- ``/leaderboards/{period}-{period_id}/rewards/{board}--{uid}``: a reward was granted (marker).

The chunks are written first and the period document last, so a job that crashes half-way leaves no
``final`` archive and simply runs again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.api_core.exceptions import GoogleAPIError
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from app.core.config import Settings
from app.core.metrics import firestore_timer
from app.domain.leaderboards import Period
from app.domain.standings import ArchiveInfo, ScoredGame
from app.repositories.clients import close_firestore, database_client
from app.repositories.games import COLLECTION as GAMES
from app.repositories.users import COLLECTION as USERS

COLLECTION = "leaderboards"
REWARDS = "rewards"
CHUNK = 1000  # a multiple of the page size: a page is always inside one chunk
_WRITE_BATCH = 50  # chunk documents per commit (each about 40 KB)


def period_doc_id(period: Period, period_id: str) -> str:
    return f"{period.value}-{period_id}"


def board_collection(name: str) -> str:
    return name.replace(":", "-")


class GamesDatabaseUnreadableError(RuntimeError):
    """A games database did not answer: boards rebuilt without its games would look complete."""

    def __init__(self, database: str, cause: Exception) -> None:
        super().__init__(
            f"games database {database!r} could not be read ({type(cause).__name__}: {cause}); the boards "
            "were not marked rebuilt. Run again when it answers, or list only the readable databases in "
            "POG_ALL_GAMES_DATABASES for this run and once more with all of them later "
            "(runbooks/procedures/redis-loss.md)"
        )


class LeaderboardArchive:
    def __init__(self, games: Mapping[str, firestore.AsyncClient], users: firestore.AsyncClient) -> None:
        """``games``: database id -> client, for every database holding finished games (every API region's
        in phase 3, whose boards are shared); ``users`` itself when the games share the users' database."""
        self._games = dict(games)
        self._db = users

    @classmethod
    def for_settings(cls, settings: Settings, users: firestore.AsyncClient) -> LeaderboardArchive:
        names = settings.databases_with_games
        return cls({name: database_client(settings, users, name) for name in names}, users)

    async def close(self) -> None:
        for games in self._games.values():
            if games is not self._db:
                await close_firestore(games)

    def _period(self, period: Period, period_id: str) -> firestore.AsyncDocumentReference:
        return self._db.collection(COLLECTION).document(period_doc_id(period, period_id))

    # --- the truth: finished games --------------------------------------------------------------

    async def finished_games(self, start: datetime, end: datetime | None) -> list[ScoredGame]:
        """Every finished game with ``start <= finished_at < end`` in every games database (index: status,
        finished_at). A database that cannot be read fails the whole call: boards rebuilt without one
        region's games would look complete."""
        rows: list[dict[str, Any]] = []
        for name, games in self._games.items():
            query = (
                games.collection(GAMES)
                .where(filter=FieldFilter("status", "==", "finished"))
                .where(filter=FieldFilter("finished_at", ">=", start))
            )
            if end is not None:
                query = query.where(filter=FieldFilter("finished_at", "<", end))
            query = query.select(["uid", "final_score", "finished_at", "country"])
            try:
                with firestore_timer("query"):
                    async for snap in query.stream():
                        rows.append({"id": snap.id, **(snap.to_dict() or {})})
            except GoogleAPIError as exc:
                raise GamesDatabaseUnreadableError(name, exc) from exc
        # Games finished before the country was recorded with them: the player's current country.
        missing = sorted({row["uid"] for row in rows if "country" not in row})
        countries = await self._countries(missing)
        return [
            ScoredGame(
                game_id=row["id"],
                uid=row["uid"],
                score=int(row["final_score"]),
                country=row["country"] if "country" in row else countries.get(row["uid"]),
                finished_at=row["finished_at"],
            )
            for row in rows
        ]

    async def _countries(self, uids: Sequence[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        refs = [self._db.collection(USERS).document(uid) for uid in uids]
        for i in range(0, len(refs), 300):
            with firestore_timer("get"):
                async for snap in self._db.get_all(refs[i : i + 300], field_paths=["country"]):
                    found[snap.id] = (snap.to_dict() or {}).get("country") if snap.exists else None
        return found

    # --- archives and checkpoints ---------------------------------------------------------------

    async def info(self, period: Period, period_id: str) -> ArchiveInfo | None:
        with firestore_timer("get"):
            snap = await self._period(period, period_id).get()
        data = snap.to_dict() if snap.exists else None
        if data is None or "as_of" not in data:
            return None
        return ArchiveInfo(
            final=bool(data.get("final")),
            as_of=data["as_of"],
            boards={str(k): int(v) for k, v in (data.get("boards") or {}).items()},
            rewards_done_at=data.get("rewards_done_at"),
        )

    async def write_standings(
        self,
        period: Period,
        period_id: str,
        boards: Mapping[str, Sequence[tuple[str, int]]],
        *,
        final: bool,
        as_of: datetime,
    ) -> None:
        """Every board's standings (rank order, encoded scores), then the period document."""
        parent = self._period(period, period_id)
        docs: list[tuple[firestore.AsyncDocumentReference, dict[str, Any]]] = []
        for name, entries in boards.items():
            collection = parent.collection(board_collection(name))
            for index, i in enumerate(range(0, len(entries), CHUNK)):
                chunk = entries[i : i + CHUNK]
                docs.append(
                    (
                        collection.document(f"c{index:05d}"),
                        {"uids": [u for u, _ in chunk], "scores": [s for _, s in chunk]},
                    )
                )
        for i in range(0, len(docs), _WRITE_BATCH):
            batch = self._db.batch()
            for ref, data in docs[i : i + _WRITE_BATCH]:
                batch.set(ref, data)
            with firestore_timer("batch"):
                await batch.commit()
        summary = {
            "period": period.value,
            "period_id": period_id,
            "final": final,
            "as_of": as_of,
            "chunk_size": CHUNK,
            "boards": {name: len(entries) for name, entries in boards.items()},
        }
        with firestore_timer("write"):
            await parent.set(summary, merge=True)

    async def chunk(self, period: Period, period_id: str, name: str, index: int) -> list[tuple[str, int]]:
        ref = self._period(period, period_id).collection(board_collection(name)).document(f"c{index:05d}")
        with firestore_timer("get"):
            snap = await ref.get()
        data = snap.to_dict() if snap.exists else None
        if data is None:
            return []
        return list(zip(data["uids"], (int(s) for s in data["scores"]), strict=True))

    async def standings(self, period: Period, period_id: str, name: str, count: int) -> list[tuple[str, int]]:
        entries: list[tuple[str, int]] = []
        for index in range((count + CHUNK - 1) // CHUNK):
            entries += await self.chunk(period, period_id, name, index)
        return entries[:count]

    # --- reward markers -------------------------------------------------------------------------

    def _marker(
        self, period: Period, period_id: str, name: str, uid: str
    ) -> firestore.AsyncDocumentReference:
        ref: firestore.AsyncDocumentReference = (
            self._period(period, period_id).collection(REWARDS).document(f"{board_collection(name)}--{uid}")
        )
        return ref

    async def rewarded(self, period: Period, period_id: str, name: str, uids: Sequence[str]) -> set[str]:
        refs = [self._marker(period, period_id, name, uid) for uid in uids]
        done: set[str] = set()
        with firestore_timer("get"):
            async for snap in self._db.get_all(refs):
                if snap.exists:
                    done.add(str((snap.to_dict() or {})["uid"]))
        return done

    async def mark_rewarded(
        self,
        period: Period,
        period_id: str,
        name: str,
        uid: str,
        rank: int,
        source_id: str,
        outcome: str,
        at: datetime,
    ) -> None:
        data = {"uid": uid, "board": name, "rank": rank, "source_id": source_id, "outcome": outcome, "at": at}
        with firestore_timer("write"):
            await self._marker(period, period_id, name, uid).set(data)

    async def mark_rewards_done(self, period: Period, period_id: str, at: datetime) -> None:
        with firestore_timer("write"):
            await self._period(period, period_id).set({"rewards_done_at": at}, merge=True)

    async def archived_page(
        self, period: Period, period_id: str, name: str, start: int, stop: int
    ) -> tuple[int, list[tuple[str, int]]] | None:
        """``(board size, entries start..stop)`` of a final archive; None when the period has none."""
        info = await self.info(period, period_id)
        if info is None or not info.final:
            return None
        total = info.boards.get(name, 0)
        if start >= total:
            return total, []
        index = start // CHUNK
        entries = await self.chunk(period, period_id, name, index)
        offset = index * CHUNK
        return total, entries[start - offset : stop - offset + 1]
