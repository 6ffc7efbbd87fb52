"""The usage model (``usage.yaml``): what N monthly active players ask of a stack in a month and at peak.

One "user" is one monthly active player, the unit of the architecture's budget ($100/month at 10K users).
``load_usage()`` validates the file once; ``Usage.at(users)`` derives the monthly and peak quantities the
meters and the capacity rules read. Everything scales linearly with the players, except the peak, which
is the average times ``peak_to_average``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from infra.cost.yaml_model import load_model

USAGE_FILE = Path(__file__).with_name("usage.yaml")
SECONDS_PER_MONTH = 730 * 3600  # Google's billing month: 730 hours
GIB = 1024**3

Positive = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0, le=1)]


class UsageError(ValueError):
    """``usage.yaml`` is malformed: the message names the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Players(_Strict):
    daily_active_ratio: Share
    sessions_per_daily_active: Positive
    session_minutes: Positive
    games_per_session: Positive
    purchases_per_monthly_active: Annotated[float, Field(ge=0)]
    live_viewer_share_of_online: Share
    #: Of the live viewers, those on the friends board: a server-sent-events stream each (no edge caches it).
    friends_board_share_of_viewers: Share
    countries: Annotated[int, Field(ge=1)]
    mfa_sms_per_monthly_active: Annotated[float, Field(ge=0)]


class Traffic(_Strict):
    #: API calls per game, per session and per purchase, by route (``METHOD /path``).
    per_game: dict[str, Positive]
    per_session: dict[str, Positive]
    per_purchase: dict[str, Positive]
    peak_to_average: Annotated[float, Field(ge=1)]
    cache_hit_rate: Share
    response_bytes: Positive
    compression_ratio: Share
    request_bytes: Positive
    redis_bytes_per_request: Positive


class Firestore(_Strict):
    reads_per_game: Positive
    writes_per_game: Positive
    reads_per_session: Positive
    writes_per_session: Annotated[float, Field(ge=0)]
    writes_per_purchase: Positive
    reads_per_cache_miss: Positive
    game_document_bytes: Positive
    profile_bytes: Positive
    audit_entry_bytes: Positive
    games_ttl_days: Positive


class Leaderboards(_Strict):
    boards_per_player: Positive
    page_reads_per_session: Annotated[float, Field(ge=0)]


class Measured(_Strict):
    """Figures the benchmarks measured, named after the bench output they come from."""

    leaderboard_bytes_per_entry: Positive
    requests_per_second_per_vcpu: Positive
    cpu_seconds_per_request: Positive
    live_stream_viewers_per_instance: Positive


class Operations(_Strict):
    """What running the stack produces besides the players' traffic: logs, metrics, images, small buckets."""

    lb_log_entry_bytes: Positive
    app_log_bytes_per_request: Positive
    metric_series_per_instance: Positive
    metric_scrape_seconds: Positive
    image_gib: Positive
    small_bucket_gib: Positive
    job_run_seconds: Positive


class Realtime(_Strict):
    """The Realtime Database: presence written by the clients, messages and mirrors by the server."""

    presence_writes_per_session: Annotated[float, Field(ge=0)]
    presence_writes_per_game: Annotated[float, Field(ge=0)]
    messages_per_purchase: Annotated[float, Field(ge=0)]
    review_messages_per_purchase: Annotated[float, Field(ge=0)]
    reward_messages_per_monthly_active: Annotated[float, Field(ge=0)]
    mirror_writes_per_session: Annotated[float, Field(ge=0)]
    #: phase -> players online at once that phase's shards must hold, beyond the model's own peak.
    design_online_players: dict[int, Annotated[int, Field(ge=0)]]
    download_bytes_per_session: Annotated[float, Field(ge=0)]
    stored_bytes_per_player: Annotated[float, Field(ge=0)]


class Edge(_Strict):
    """Public live boards through the CDN: what the edge asks of the origin per interval."""

    interval_seconds: Positive
    live_pages_per_board: Annotated[int, Field(ge=1)]
    requests_per_page_per_interval: Positive
    locations_without_tiering: Annotated[int, Field(ge=1)]
    upper_tier_locations: Annotated[int, Field(ge=1)]


class Analytics(_Strict):
    """Analytics events: how many a daily active player produces, their size on the wire and in BigQuery."""

    events_per_daily_active: Annotated[float, Field(ge=0)]
    message_bytes: Positive
    stored_bytes_per_event: Positive


class UsageModel(_Strict):
    #: Monthly actives of the dev stack, whatever its phase: testers, QA devices, bots and load tests.
    dev_monthly_active: Annotated[int, Field(ge=1)]
    players: Players
    traffic: Traffic
    firestore: Firestore
    leaderboards: Leaderboards
    measured: Measured
    operations: Operations
    realtime: Realtime
    edge: Edge
    analytics: Analytics
    #: The architecture's figure for each user count (monthly USD).
    architecture_monthly_usd: dict[int, Positive]

    def at(self, users: int) -> Load:
        return Load.of(self, users)


@dataclass(frozen=True)
class Load:
    """What ``users`` monthly active players ask of the stack (per month unless named ``peak_``)."""

    model: UsageModel
    users: int
    daily_active: float
    sessions: float
    games: float
    purchases: float
    requests_by_route: dict[str, float]
    peak_requests_per_second: float
    peak_concurrent_players: float
    peak_live_viewers: float
    realtime_writes: float
    firestore_reads: float
    firestore_writes: float
    firestore_stored_gib: float
    egress_gib: float

    @property
    def analytics_events_per_day(self) -> float:
        return self.daily_active * self.model.analytics.events_per_daily_active

    @property
    def requests(self) -> float:
        return sum(self.requests_by_route.values())

    @property
    def average_requests_per_second(self) -> float:
        return self.requests / SECONDS_PER_MONTH

    @property
    def peak_friends_board_viewers(self) -> float:
        """Live viewers on the friends board: each holds a server-sent-events stream on Cloud Run."""
        return self.peak_live_viewers * self.model.players.friends_board_share_of_viewers

    @property
    def peak_public_board_viewers(self) -> float:
        """Live viewers on the global and country boards: they poll the CDN, not the API."""
        return self.peak_live_viewers - self.peak_friends_board_viewers

    @property
    def peak_realtime_writes_per_second(self) -> float:
        """Writes to the Realtime Database (all shards) at the evening peak."""
        return self.realtime_writes / SECONDS_PER_MONTH * self.model.traffic.peak_to_average

    @property
    def leaderboard_entries(self) -> float:
        """Entries on the live boards: every player on each board they belong to."""
        return self.users * self.model.leaderboards.boards_per_player

    @classmethod
    def of(cls, model: UsageModel, users: int) -> Load:
        p, t, f, rt = model.players, model.traffic, model.firestore, model.realtime
        daily = users * p.daily_active_ratio
        sessions = daily * p.sessions_per_daily_active * 30
        games = sessions * p.games_per_session
        purchases = users * p.purchases_per_monthly_active
        routes: dict[str, float] = {}
        for counts, times in ((t.per_game, games), (t.per_session, sessions), (t.per_purchase, purchases)):
            for route, per in counts.items():
                routes[route] = routes.get(route, 0.0) + per * times
        requests = sum(routes.values())
        concurrent = sessions * p.session_minutes * 60 / SECONDS_PER_MONTH * t.peak_to_average
        misses = requests * (1 - t.cache_hit_rate)
        reads = games * f.reads_per_game + sessions * f.reads_per_session + misses * f.reads_per_cache_miss
        writes = (
            games * f.writes_per_game + sessions * f.writes_per_session + purchases * f.writes_per_purchase
        )
        live_games = games * f.games_ttl_days / 30
        stored = (
            users * f.profile_bytes
            + live_games * f.game_document_bytes
            + purchases * 12 * f.audit_entry_bytes
        )
        egress = requests * t.response_bytes * (1 - t.compression_ratio)
        realtime_writes = (
            sessions * (rt.presence_writes_per_session + rt.mirror_writes_per_session)
            + games * rt.presence_writes_per_game
            + purchases * (rt.messages_per_purchase + rt.review_messages_per_purchase)
            + users * rt.reward_messages_per_monthly_active
        )
        return cls(
            model=model,
            users=users,
            daily_active=daily,
            sessions=sessions,
            games=games,
            purchases=purchases,
            requests_by_route=routes,
            peak_requests_per_second=requests / SECONDS_PER_MONTH * t.peak_to_average,
            peak_concurrent_players=concurrent,
            peak_live_viewers=concurrent * p.live_viewer_share_of_online,
            realtime_writes=realtime_writes,
            firestore_reads=reads,
            firestore_writes=writes,
            firestore_stored_gib=stored / GIB,
            egress_gib=egress / GIB,
        )


#: The top of each phase's user range (monthly active players): where a phase's sizing must still hold.
PHASE_TOP_USERS: dict[int, int] = {1: 100_000, 2: 1_000_000, 3: 10_000_000}


def top_of_phase(phase: int) -> int:
    """The user count a phase is sized and priced at: the top of its range (an unknown phase: the first's)."""
    return PHASE_TOP_USERS.get(phase, PHASE_TOP_USERS[1])


def phase_for(users: int) -> int:
    """The first phase whose range holds ``users`` (beyond phase 3's top, still phase 3)."""
    return next((phase for phase, top in sorted(PHASE_TOP_USERS.items()) if users <= top), 3)


def priced_users(stack: str, phase: int, model: UsageModel) -> int:
    """The load a stack is priced and budgeted at: prod at the top of its phase; dev, which serves the team
    and its tests rather than the phase's players, at ``dev_monthly_active``."""
    return top_of_phase(phase) if stack == "prod" else model.dev_monthly_active


@cache
def load_usage(path: Path = USAGE_FILE) -> UsageModel:
    return load_model(path, UsageModel, UsageError, "the usage model", "fix it in the usage model")


def parse_users(text: str) -> list[int]:
    """``10k,100k,1m,10m`` or ``25000``: user counts for ``--users``; ValueError names the bad one."""
    counts: list[int] = []
    for part in (p.strip().lower() for p in text.split(",")):
        factor = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1) if part else 1
        digits = part[:-1] if factor != 1 else part
        try:
            value = float(digits) * factor
        except ValueError:
            raise ValueError(f"{part!r} is not a user count: use e.g. 25000, 10k, 1.5m") from None
        if value < 1 or value != int(value):
            raise ValueError(f"{part!r} is not a whole number of users (at least 1)")
        counts.append(int(value))
    return counts
