"""Analytics events (docs/analytics-events.md): checked against the catalogue, stamped, offered to a sink.

``emit`` is the server's own events (a programming error in the params raises ``ValueError``, which tests
catch); ``client_batch`` is ``POST /v1/analytics/events``: the whole batch is checked before anything is
offered, and the server stamps what the client must not set (player, received time, country, source).

The sink (``EventSink``) never blocks and never raises: publishing happens off the request path. Without
a sink (``None``: analytics off) events are checked and dropped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from app.domain import analytics as catalogue
from app.domain.analytics import CatalogueError, Problem
from app.services.errors import Failure, ServiceError

log = logging.getLogger("app.analytics")

#: How far a client's ``occurred_at`` may be from the server's clock: a day back (a device offline for a
#: while still reports), five minutes ahead (clock skew).
MAX_AGE = timedelta(hours=24)
MAX_AHEAD = timedelta(minutes=5)
#: Problems listed in one error message (all of them are found; the message stays readable).
MAX_LISTED = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


class EventSink(Protocol):
    def offer(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Takes envelopes (plain JSON-able dicts, not Avro-wrapped); never blocks, never raises."""
        ...


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """One event of a client's batch: its own id (unique per event), a catalogue name, when, its params."""

    id: str
    name: str
    occurred_at: datetime
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ClientBatch:
    platform: str
    app_version: str | None
    events: Sequence[ClientEvent]


class SessionMarks(Protocol):
    async def first_in_session(self, uid: str) -> bool:
        """True when the player had no mark in the last 30 minutes (and marks them now)."""
        ...


class Analytics:
    def __init__(
        self,
        sink: EventSink | None,
        pseudonym_key: bytes,
        clock: Callable[[], datetime] = utc_now,
        sessions: SessionMarks | None = None,
    ) -> None:
        self._sink = sink
        self._key = pseudonym_key
        self._clock = clock
        self._sessions = sessions

    @property
    def tracks_sessions(self) -> bool:
        return self._sink is not None and self._sessions is not None

    async def session_seen(self, uid: str) -> None:
        """``session_started`` when the player's profile is read for the first time in 30 minutes (``GET
        /v1/me``, after the response). Never raises."""
        if self._sessions is None:
            return
        try:
            first = await self._sessions.first_in_session(uid)
        except Exception:
            log.exception("session mark failed", extra={"event": "analytics_sink_error"})
            return
        if first:
            self.emit("session_started", uid, {})

    def player(self, uid: str) -> str:
        return catalogue.pseudonym(self._key, uid)

    def _offer(self, events: Sequence[Mapping[str, Any]]) -> None:
        if self._sink is None:
            return
        try:
            self._sink.offer(events)
        except Exception:  # the sink promises not to raise; a request never fails for analytics
            log.exception("the analytics sink raised", extra={"event": "analytics_sink_error"})

    def emit(
        self,
        name: str,
        uid: str | None,
        params: Mapping[str, Any],
        *,
        event_id: str | None = None,
    ) -> None:
        """A server event: ``event_id`` deterministic when the action has an id (``f"game_finished:{id}"``,
        so a retried request makes the same one; it is hashed, so it may name the player), else a random
        one. ``ValueError`` for a name or params the catalogue refuses (a bug of the caller)."""
        event = catalogue.event_type(name)
        if event.source != "server":
            raise ValueError(f"{name} is a client event: only POST /v1/analytics/events sends it")
        checked = catalogue.validate_params(name, params)
        now = self._clock()
        envelope = catalogue.envelope(
            event,
            checked,
            event_id=catalogue.server_event_id(event_id) if event_id is not None else uuid.uuid4().hex,
            occurred_at=now,
            received_at=now,
            player=self.player(uid) if uid is not None else None,
            platform="server",
            app_version=None,
            country=None,
        )
        self._offer([envelope])

    async def client_batch(
        self, uid: str, batch: ClientBatch, country: Callable[[], Awaitable[str | None]]
    ) -> int:
        """Checks every event of the batch, then offers them all (or none: 422 naming each problem by its
        index). ``country`` is asked only for a valid batch. Returns how many were accepted."""
        now = self._clock()
        problems: list[tuple[int, Problem]] = []
        checked: list[tuple[catalogue.EventType, dict[str, Any]]] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(batch.events):
            found = _check(item, now)
            problems.extend((index, problem) for problem in found[1])
            if found[0] is not None:
                checked.append(found[0])
            if item.id in seen:
                where = f"events[{seen[item.id]}].id"
                problems.append(
                    (index, Problem("duplicate_event", "id", f"repeats {where}: one id per event"))
                )
            seen.setdefault(item.id, index)
        if problems:
            raise _invalid(problems)
        player = self.player(uid)
        stamped = await country()
        envelopes = [
            catalogue.envelope(
                event,
                params,
                event_id=catalogue.client_event_id(player, item.id),
                occurred_at=item.occurred_at,
                received_at=now,
                player=player,
                platform=batch.platform,
                app_version=batch.app_version,
                country=stamped,
            )
            for item, (event, params) in zip(batch.events, checked, strict=True)
        ]
        self._offer(envelopes)
        return len(envelopes)


def _check(
    item: ClientEvent, now: datetime
) -> tuple[tuple[catalogue.EventType, dict[str, Any]] | None, list[Problem]]:
    problems: list[Problem] = []
    if item.occurred_at < now - MAX_AGE:
        message = f"{item.occurred_at.isoformat()} is more than 24 h old: drop events older than a day"
        problems.append(Problem("stale_event", "occurred_at", message))
    elif item.occurred_at > now + MAX_AHEAD:
        message = f"{item.occurred_at.isoformat()} is more than 5 min ahead of the server: send UTC times"
        problems.append(Problem("future_event", "occurred_at", message))
    try:
        event = catalogue.event_type(item.name)
        if event.source != "client":
            message = f"{item.name!r} is a server event: only the API sends it"
            return None, [*problems, Problem("server_event", "name", message)]
        params = catalogue.validate_params(item.name, item.params)
    except CatalogueError as exc:
        return None, [*problems, *exc.problems]
    return ((event, params) if not problems else None), problems


def _invalid(problems: Sequence[tuple[int, Problem]]) -> ServiceError:
    listed = "; ".join(f"events[{i}].{p.where}: {p.message}" for i, p in problems[:MAX_LISTED])
    more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
    return ServiceError(Failure.INVALID, problems[0][1].code, f"{listed}{more}")
