"""Leaderboard rules: periods, boards, the score encoding, pages, around-me windows, deltas.

Periods roll over at UTC boundaries: ``daily`` (``2026-11-26``), ``weekly`` (ISO week, ``2026-W48``, from
Monday 00:00), ``monthly`` (``2026-11``) and ``all_time`` (``all``, never resets). Boards: ``global``, one
``country:CC`` per ISO country (the player's country when the game finished) and ``friends`` (the caller's
friends list and the caller, ranked by their entries on the global board; nothing is stored for it).

Score rule per board: ``best`` (a player's best in the period, the default) or ``incr`` (cumulative). The
tie-break is in the sorted-set score itself, so a board is a plain Redis sorted set of uids and every read
is one ``ZREVRANGE``/``ZREVRANK``::

    encoded = score * 2**T + (2**T - 1 - seconds_since_period_start)

with T bits of time per period (daily 17, weekly 20, monthly 22, all_time 29 counted from 2025-01-01,
enough until 2042). ``encoded`` stays below 2**53, so the double Redis stores is exact. A higher score ranks
higher; on equal scores the **earlier** achievement (for ``incr``: the earlier time the total was reached)
ranks higher; on the same score and second, the higher uid in byte order (Redis's own order of equal
scores). ``best`` keeps the highest ``encoded``: with two games of the same score the earlier one stays.

Every period orders two games the same way (for scores up to ``max_score(all_time)``), so a game that does
not raise a player's ``best`` board of a period does not raise the board of a longer period containing it
(the day's week, month and all-time; the week's all-time): the submit script skips those ``ZADD``s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

PAGE_SIZE = 100
MAX_RADIUS = 50
ALL_TIME_START = datetime(2025, 1, 1, tzinfo=UTC)


class Period(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    all_time = "all_time"


class Scope(StrEnum):
    global_ = "global"
    country = "country"
    friends = "friends"


class Rule(StrEnum):
    best = "best"
    incr = "incr"


PERIODS: tuple[Period, ...] = tuple(Period)
TIME_BITS: Mapping[Period, int] = {
    Period.daily: 17,  # 86,400 s < 2**17
    Period.weekly: 20,  # 604,800 s < 2**20
    Period.monthly: 22,  # 2,678,400 s < 2**22
    Period.all_time: 29,  # 17 years from ALL_TIME_START
}
_ID_PATTERNS: Mapping[Period, re.Pattern[str]] = {
    Period.daily: re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    Period.weekly: re.compile(r"^\d{4}-W\d{2}$"),
    Period.monthly: re.compile(r"^\d{4}-\d{2}$"),
    Period.all_time: re.compile(r"^all$"),
}
#: How long a finished period's board stays in Redis after its end (the archive job reads it at reset).
KEEP_AFTER_END: Mapping[Period, timedelta] = {
    Period.daily: timedelta(days=1),
    Period.weekly: timedelta(days=7),
    Period.monthly: timedelta(days=31),
}


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


def period_id(period: Period, at: datetime) -> str:
    at = _utc(at)
    if period is Period.daily:
        return at.strftime("%Y-%m-%d")
    if period is Period.weekly:
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    if period is Period.monthly:
        return at.strftime("%Y-%m")
    return "all"


def period_ids(at: datetime) -> dict[str, str]:
    return {period.value: period_id(period, at) for period in PERIODS}


def period_start(period: Period, at: datetime) -> datetime:
    at = _utc(at)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.daily:
        return day
    if period is Period.weekly:
        return day - timedelta(days=at.weekday())
    if period is Period.monthly:
        return day.replace(day=1)
    return ALL_TIME_START


def period_end(period: Period, start: datetime) -> datetime | None:
    """The next reset after a period that starts at ``start`` (``None``: all-time never resets)."""
    if period is Period.daily:
        return start + timedelta(days=1)
    if period is Period.weekly:
        return start + timedelta(days=7)
    if period is Period.monthly:
        return (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
    return None


def period_start_of(period: Period, pid: str) -> datetime:
    """The start of the period named ``pid``; ValueError for a malformed or impossible id."""
    if not _ID_PATTERNS[period].match(pid):
        raise ValueError(f"{pid!r} is not a {period.value} period id")
    if period is Period.daily:
        return datetime.strptime(pid, "%Y-%m-%d").replace(tzinfo=UTC)
    if period is Period.weekly:
        return datetime.strptime(pid + "-1", "%G-W%V-%u").replace(tzinfo=UTC)
    if period is Period.monthly:
        return datetime.strptime(pid, "%Y-%m").replace(tzinfo=UTC)
    return ALL_TIME_START


def previous_period_id(period: Period, at: datetime) -> str | None:
    if period is Period.all_time:
        return None
    return period_id(period, period_start(period, at) - timedelta(seconds=1))


# --- the encoding -----------------------------------------------------------------------------------


def max_score(period: Period) -> int:
    return int(2 ** (53 - TIME_BITS[period])) - 1


def time_offset(period: Period, achieved_at: datetime) -> int:
    """Whole seconds since the period started; the encoding's range is checked here."""
    offset = int((_utc(achieved_at) - period_start(period, achieved_at)).total_seconds())
    if not 0 <= offset < 2 ** TIME_BITS[period]:
        raise ValueError(f"{achieved_at.isoformat()} is outside the encodable range of the {period} boards")
    return offset


def encode(period: Period, score: int, offset: int) -> int:
    span: int = 2 ** TIME_BITS[period]
    return min(score, max_score(period)) * span + (span - 1 - offset)


def decode(period: Period, encoded: float) -> tuple[int, int]:
    """``(score, seconds since the period started)`` of a stored sorted-set score."""
    span = 2 ** TIME_BITS[period]
    value = int(encoded)
    return value // span, span - 1 - value % span


# --- boards -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Board:
    """One stored board: a period's ``global`` board or one of its ``country:CC`` boards."""

    period: Period
    period_id: str
    name: str  # "global" or "country:IE"

    @property
    def scope(self) -> Scope:
        return Scope.global_ if self.name == "global" else Scope.country

    @property
    def country(self) -> str | None:
        return self.name.split(":", 1)[1] if self.name.startswith("country:") else None


def board_name(country: str | None) -> str:
    return f"country:{country}" if country else "global"


class BoardRules:
    """The score rule of each (period, board kind); ``incr`` only where /games can rebuild it.

    Spec: comma-separated ``period:kind=rule`` items, kind ``global`` or ``country``, e.g.
    ``daily:global=incr,daily:country=incr``. Finished games stay in /games 7 days (their TTL), so a
    cumulative board must be daily or weekly to be rebuilt exactly from them.
    """

    INCR_PERIODS = (Period.daily, Period.weekly)

    def __init__(self, rules: Mapping[tuple[Period, str], Rule] | None = None) -> None:
        self._rules = dict(rules or {})
        for (period, kind), rule in self._rules.items():
            if kind not in {"global", "country"}:
                raise ValueError(f"board kind must be global or country, not {kind!r}")
            if rule is Rule.incr and period not in self.INCR_PERIODS:
                raise ValueError(
                    f"{period}:{kind}=incr: incr boards must be daily or weekly (rebuilt from /games)"
                )

    @classmethod
    def parse(cls, spec: str) -> BoardRules:
        rules: dict[tuple[Period, str], Rule] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            board, sep, rule = item.partition("=")
            period, sep2, kind = board.partition(":")
            if not sep or not sep2:
                raise ValueError(f"leaderboard rule {item!r}: expected period:kind=rule")
            try:
                rules[(Period(period), kind)] = Rule(rule)
            except ValueError:
                raise ValueError(f"leaderboard rule {item!r}: unknown period or rule") from None
        return cls(rules)

    def rule(self, period: Period, name: str) -> Rule:
        kind = "global" if name == "global" else "country"
        return self._rules.get((period, kind), Rule.best)

    def any_incr(self) -> bool:
        return any(rule is Rule.incr for rule in self._rules.values())


@dataclass(frozen=True, slots=True)
class PeriodFrame:
    """One period a game belongs to: what the submit script needs to write its boards."""

    period: Period
    period_id: str
    start_s: int  # the period's start, unix seconds
    expire_at: int | None  # unix seconds; None for all-time (never expires)
    global_rule: Rule
    country_rule: Rule
    #: Indexes of the earlier frames whose period lies inside this one (the day's week may straddle two
    #: months): a game that does not raise a ``best`` board of those cannot raise this period's either.
    within: tuple[int, ...] = ()


@lru_cache(maxsize=64)
def _frame(period: Period, start: datetime) -> tuple[str, int, int | None]:
    """``(period id, start in unix seconds, expire-at)`` of the period starting at ``start``."""
    end = period_end(period, start)
    expire_at = int((end + KEEP_AFTER_END[period]).timestamp()) if end is not None else None
    return period_id(period, start), int(start.timestamp()), expire_at


def day_frames(rules: BoardRules, day: int) -> tuple[PeriodFrame, ...]:
    """The periods of a game finished on UTC day ``day`` (days since 1970-01-01), in ``PERIODS`` order.

    The same for every second of the day, so the submit path computes it once a day, not once a game.
    ValueError when a second of the day is outside a period's encodable range (before ALL_TIME_START).
    """
    day_start = datetime.fromtimestamp(day * 86_400, UTC)
    first_s, last_s = day * 86_400, day * 86_400 + 86_399
    frames: list[PeriodFrame] = []
    spans: list[tuple[int, float]] = []  # each frame's [start, end) in unix seconds
    for period in PERIODS:
        start = period_start(period, day_start)
        pid, start_s, expire_at = _frame(period, start)
        if first_s < start_s or last_s - start_s >= 2 ** TIME_BITS[period]:
            raise ValueError(f"{day_start.date()} is outside the encodable range of the {period} boards")
        end = period_end(period, start)
        spans.append((start_s, end.timestamp() if end is not None else float("inf")))
        within = tuple(i for i, (s, e) in enumerate(spans[:-1]) if s >= start_s and e <= spans[-1][1])
        frames.append(
            PeriodFrame(
                period,
                pid,
                start_s,
                expire_at,
                rules.rule(period, "global"),
                rules.rule(period, "country:XX"),
                within,
            )
        )
    return tuple(frames)
