"""The analytics catalogue: every event's name, version, source and typed params, in one place.

The Pub/Sub schema (contract/analytics/events.avsc), the BigQuery table
(contract/analytics/bigquery_schema.json), contract/analytics/catalogue.json and docs/analytics-events.md
are checked against or generated from this module by scripts/analytics_catalogue.py. An event's params are
a strict model (unknown fields refused, strings and numbers bounded); a change to them bumps the event's
version.

Everything here is pure: the envelope an event travels in, the players' pseudonyms, the Avro JSON encoding
Pub/Sub checks messages with.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from app.domain.games import MAX_SCORE
from app.domain.ledger import ReviewStatus

Source = Literal["server", "client"]
#: Where an event comes from: the clients' own platforms, or the API itself.
PLATFORMS = ("ios", "android", "web", "server")

#: A pseudonym or an event id: this many hex characters of a SHA-256.
ID_HEX_CHARS = 32

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Coins = Annotated[int, Field(ge=0, le=10**12)]
Items = Annotated[int, Field(ge=0, le=10**6)]


class Params(BaseModel):
    """An event's own fields: strict (``"2"`` is not 2), nothing undeclared, every value bounded."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- server events --------------------------------------------------------------------------------


class SessionStarted(Params):
    pass


class GameStarted(Params):
    game_id: Id = Field(description="The game session's id")
    mode: Label = Field(description="classic, timed or challenge")


class GameFinished(Params):
    game_id: Id = Field(description="The game session's id")
    score: int = Field(ge=0, le=MAX_SCORE, description="The score the player sent")
    duration_ms: int = Field(ge=0, le=7 * 24 * 3600 * 1000, description="Start to finish, by the server")
    verdict: Literal["accepted", "flagged", "rejected"] = Field(description="The plausibility check's")


class Grant(Params):
    reason: Label = Field(description="purchase, live_event, leaderboard, admin...")
    product_id: Id | None = Field(default=None, description="The catalog's product, when a purchase")
    coins: Coins = Field(description="Coins granted")
    items: Items = Field(description="How many items were granted")


class Refund(Params):
    reason: Label = Field(description="refund, revocation, chargeback...")
    product_id: Id | None = Field(default=None, description="The catalog's product, when a purchase")
    coins: Coins = Field(description="Coins taken back")
    items: Items = Field(description="How many items were taken back")


class PurchaseHeld(Params):
    reason: Label = Field(description="The fraud check that held it")
    product_id: Id | None = Field(default=None, description="The catalog's product")


class ReviewDecided(Params):
    decision: Literal[ReviewStatus.approved, ReviewStatus.rejected, ReviewStatus.void] = Field(
        description="approved, rejected, or void (refunded or disputed while held)"
    )
    product_id: Id | None = Field(default=None, description="The catalog's product")


class LiveEventJoined(Params):
    live_event_id: Id = Field(description="The live event's id")


class LiveEventRewardClaimed(Params):
    live_event_id: Id = Field(description="The live event's id")
    coins: Coins = Field(description="Coins granted")
    items: Items = Field(description="How many items were granted")


class LeaderboardPeriodReward(Params):
    period: Label = Field(description="daily, weekly...")
    period_id: Id = Field(description="The closed period, e.g. 2025-01-31")
    rank: int = Field(ge=1, le=10**9, description="The player's rank in it")
    coins: Coins = Field(description="Coins granted")


class RateLimited(Params):
    limit: Label = Field(description="Which limit refused the request (user, ip, ...)")


class BreakerOpened(Params):
    dependency: Label = Field(description="What stopped answering (redis, ...)")


# --- client events --------------------------------------------------------------------------------


class ScreenViewed(Params):
    screen: Label = Field(description="The screen's name in the client")


class TutorialStep(Params):
    step: int = Field(ge=0, le=1000, description="The step reached")


class StoreViewed(Params):
    pass


class AdRewardWatched(Params):
    placement: Label = Field(description="Where the rewarded ad was offered")


@dataclass(frozen=True, slots=True)
class EventType:
    name: str
    version: int
    source: Source
    description: str
    params: type[Params]


def _events(*events: EventType) -> dict[str, EventType]:
    return {event.name: event for event in events}


CATALOGUE: Mapping[str, EventType] = _events(
    EventType(
        "session_started",
        1,
        "server",
        "GET /v1/me when the player had no session mark in the last 30 minutes",
        SessionStarted,
    ),
    EventType("game_started", 1, "server", "A game session started (POST /v1/games)", GameStarted),
    EventType("game_finished", 1, "server", "A game session finished, whatever the verdict", GameFinished),
    EventType(
        "grant",
        1,
        "server",
        "Coins or items granted: a purchase, a reward, an admin's grant (never card or receipt data)",
        Grant,
    ),
    EventType("refund", 1, "server", "A refund or revocation took coins or items back", Refund),
    EventType("purchase_held", 1, "server", "A purchase was held for review", PurchaseHeld),
    EventType("review_decided", 1, "server", "An admin decided a held purchase", ReviewDecided),
    EventType("live_event_joined", 1, "server", "The player joined a live event", LiveEventJoined),
    EventType(
        "live_event_reward_claimed",
        1,
        "server",
        "The player claimed a live event's reward",
        LiveEventRewardClaimed,
    ),
    EventType(
        "leaderboard_period_reward",
        1,
        "server",
        "A closed leaderboard period rewarded the player",
        LeaderboardPeriodReward,
    ),
    EventType(
        "rate_limited",
        1,
        "server",
        "A rate limit refused a request (no player for per-IP limits)",
        RateLimited,
    ),
    EventType("breaker_opened", 1, "server", "A circuit breaker opened (no player)", BreakerOpened),
    EventType("screen_viewed", 1, "client", "The client showed a screen", ScreenViewed),
    EventType("tutorial_step", 1, "client", "The player reached a tutorial step", TutorialStep),
    EventType("store_viewed", 1, "client", "The player opened the store", StoreViewed),
    EventType(
        "ad_reward_watched", 1, "client", "The player watched a rewarded ad to its end", AdRewardWatched
    ),
)

CLIENT_EVENTS = tuple(sorted(name for name, event in CATALOGUE.items() if event.source == "client"))


# --- validation -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an event: a stable ``code``, where (``name``, ``params.x``) and what to do."""

    code: str
    where: str
    message: str


class CatalogueError(ValueError):
    """An event the catalogue does not declare, or params that break its schema."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{p.where}: {p.message}" for p in problems))
        self.problems = tuple(problems)


def event_type(name: str) -> EventType:
    found = CATALOGUE.get(name)
    if found is None:
        raise CatalogueError(
            [
                Problem(
                    "unknown_event",
                    "name",
                    f"{name[:64]!r} is not an event of the catalogue (docs/analytics-events.md); "
                    f"client events: {', '.join(CLIENT_EVENTS)}",
                )
            ]
        )
    return found


def _problem(event: EventType, error: Mapping[str, Any]) -> Problem:
    field = ".".join(str(part) for part in error.get("loc", ())) or "params"
    where = f"params.{field}" if field != "params" else field
    label = f"{event.name} v{event.version}"
    if error.get("type") == "extra_forbidden":
        declared = ", ".join(event.params.model_fields) or "no fields"
        return Problem(
            "undeclared_field", where, f"{field!r} is not a field of {label} (it declares {declared})"
        )
    if error.get("type") == "missing":
        return Problem("invalid_params", where, f"required by {label}")
    return Problem("invalid_params", where, str(error.get("msg", "invalid")))


def validate_params(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The event's params checked against its schema, as the plain dict that goes into the envelope
    (every declared field, defaults included); ``CatalogueError`` naming each problem otherwise."""
    event = event_type(name)
    try:
        model = event.params.model_validate(dict(params))
    except ValidationError as exc:
        raise CatalogueError([_problem(event, error) for error in exc.errors()]) from None
    return model.model_dump(mode="json")


# --- the envelope ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvelopeField:
    name: str
    kind: Literal["string", "int", "timestamp"]
    nullable: bool
    description: str


#: The envelope every event travels in, in the order of the Avro schema and the BigQuery table.
ENVELOPE: tuple[EnvelopeField, ...] = (
    EnvelopeField(
        "event_id",
        "string",
        False,
        "Unique per event; the deduplication key (Pub/Sub delivers at least once)",
    ),
    EnvelopeField("name", "string", False, "The event's name in the catalogue (docs/analytics-events.md)"),
    EnvelopeField("schema_version", "int", False, "The version of the event's schema in the catalogue"),
    EnvelopeField(
        "occurred_at", "timestamp", False, "When it happened (the table is partitioned by its date)"
    ),
    EnvelopeField("received_at", "timestamp", False, "When the API received or produced it"),
    EnvelopeField("source", "string", False, "server or client"),
    EnvelopeField(
        "player",
        "string",
        True,
        "Pseudonymous player id: a keyed hash of the uid, never the uid, an email, a name or an address",
    ),
    EnvelopeField("platform", "string", True, "ios, android, web, or server"),
    EnvelopeField("app_version", "string", True, "The client's version, as it says"),
    EnvelopeField("country", "string", True, "ISO 3166-1 alpha-2, stamped by the server"),
    EnvelopeField(
        "params",
        "string",
        False,
        "The event's own fields as a JSON object (the catalogue declares them per name and version)",
    ),
)


def pseudonym(key: bytes, uid: str) -> str:
    """The player's id in analytics: HMAC-SHA256 of the uid under the stack's key (the uid cannot be
    recovered from it without the key, and two stacks' pseudonyms of one player differ)."""
    return hmac.new(key, uid.encode(), hashlib.sha256).hexdigest()[:ID_HEX_CHARS]


def client_event_id(player: str, client_id: str) -> str:
    """A client event's id: the same for a retried batch (dedup downstream), apart per player."""
    return hashlib.sha256(f"{player}:{client_id}".encode()).hexdigest()[:ID_HEX_CHARS]


def server_event_id(key: str) -> str:
    """A server event's id from the caller's deterministic key (``game_finished:{game_id}``): hashed, so a
    key that names a player (``live_event_joined:{event}:{uid}``) never puts the uid in the table."""
    return hashlib.sha256(f"server:{key}".encode()).hexdigest()[:ID_HEX_CHARS]


def micros(moment: datetime) -> int:
    """Avro's timestamp-micros (and BigQuery's TIMESTAMP from it): microseconds since the epoch, UTC."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: analytics timestamps are UTC")
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def params_json(params: Mapping[str, Any]) -> str:
    """The params column: a compact JSON object, keys sorted."""
    return orjson.dumps(dict(params), option=orjson.OPT_SORT_KEYS).decode()


def envelope(
    event: EventType,
    params: Mapping[str, Any],
    *,
    event_id: str,
    occurred_at: datetime,
    received_at: datetime,
    player: str | None,
    platform: str | None,
    app_version: str | None,
    country: str | None,
) -> dict[str, Any]:
    """One event as the sink takes it: plain JSON values (timestamps in microseconds), no Avro unions."""
    if platform is not None and platform not in PLATFORMS:
        raise ValueError(f"platform {platform!r} is not one of {', '.join(PLATFORMS)}")
    return {
        "event_id": event_id,
        "name": event.name,
        "schema_version": event.version,
        "occurred_at": micros(occurred_at),
        "received_at": micros(received_at),
        "source": event.source,
        "player": player,
        "platform": platform,
        "app_version": app_version,
        "country": country,
        "params": params_json(params),
    }


def avro_json(event: Mapping[str, Any]) -> bytes:
    """The envelope in Avro's JSON encoding, as the topic's schema checks it: a present nullable value is
    wrapped in its union branch (``{"string": "ab12"}``), an absent one is ``null``."""
    missing = [field.name for field in ENVELOPE if field.name not in event]
    if missing:
        raise ValueError(f"the envelope lacks {', '.join(missing)}")
    encoded = {
        field.name: (
            {"string": event[field.name]}
            if field.nullable and event[field.name] is not None
            else event[field.name]
        )
        for field in ENVELOPE
    }
    return orjson.dumps(encoded)
