"""Which board a request reads: the period and scope named in the path, the country, the caller's friends.

Also the services' checks of a period id or a country code (422 with the reason) and the format of a
rendered page as the cache keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from app.domain.countries import ISO_3166_ALPHA2
from app.domain.leaderboards import PAGE_SIZE, Board, Period, Scope, board_name, period_start_of
from app.domain.standings import Entry
from app.services.errors import Failure, ServiceError


def parse_period_id(period: Period, pid: str) -> datetime:
    """The start of the period named ``pid``; 422 for a malformed or impossible id."""
    try:
        return period_start_of(period, pid)
    except ValueError:
        raise ServiceError(
            Failure.INVALID, "invalid_period_id", f"{pid!r} is not a {period.value} period id"
        ) from None


def valid_country(code: str) -> str:
    if code not in ISO_3166_ALPHA2:
        raise ServiceError(
            Failure.INVALID, "invalid_country", f"{code!r} is not an ISO 3166-1 alpha-2 country code"
        )
    return code


def resolve(period: str, scope: str) -> tuple[Period, Scope]:
    try:
        found_period = Period(period)
    except ValueError:
        raise ServiceError(
            Failure.NOT_FOUND,
            "unknown_period",
            f"no period {period!r}; use daily, weekly, monthly or all_time",
        ) from None
    try:
        found_scope = Scope(scope)
    except ValueError:
        raise ServiceError(
            Failure.NOT_FOUND, "unknown_scope", f"no scope {scope!r}; use global, country or friends"
        ) from None
    return found_period, found_scope


def unavailable() -> ServiceError:
    return ServiceError(
        Failure.UNAVAILABLE, "leaderboard_unavailable", "the live leaderboards are unavailable; retry shortly"
    )


@dataclass(frozen=True, slots=True)
class View:
    """A resolved board to read: a stored board, or the caller's friends (computed from the global one)."""

    period: Period
    scope: Scope
    period_id: str
    country: str | None = None
    viewer: str | None = None  # the caller, for friends

    @property
    def board(self) -> Board:
        name = board_name(self.country) if self.scope is Scope.country else "global"
        return Board(self.period, self.period_id, name)

    def cache_key(self, page: int) -> str:
        place = f"{self.country}:" if self.country else ""
        who = f"{self.viewer}:" if self.scope is Scope.friends else ""
        return f"leaderboard:{self.scope.value}:{who}{place}{self.period.value}:{self.period_id}:p{page}"


def pack(version: int, rendered_at_ms: int, body: bytes) -> bytes:
    return b"%d|%d|" % (version, rendered_at_ms) + body


def unpack(value: bytes) -> tuple[int, int, bytes]:
    version, rendered_at, body = value.split(b"|", 2)
    return int(version), int(rendered_at), body


def entry_json(entry: Entry, names: dict[str, str]) -> dict[str, Any]:
    return {
        "rank": entry.rank,
        "uid": entry.uid,
        "display_name": names.get(entry.uid, ""),
        "score": entry.score,
    }


def page_body(
    view: View,
    page: int,
    total: int,
    version: int,
    entries: list[dict[str, Any]],
    next_reset: datetime | None,
) -> bytes:
    """A rendered page of a live board (``next_reset``: None for a past period)."""
    return orjson.dumps(
        {
            "period": view.period.value,
            "scope": view.scope.value,
            "period_id": view.period_id,
            "country": view.country,
            "page": page,
            "page_size": PAGE_SIZE,
            "total": total,
            "version": version,
            "next_reset_at": next_reset.isoformat() if next_reset else None,
            "archived": False,
            "entries": entries,
        }
    )
