"""The analytics catalogue, the envelope and its Avro JSON encoding, checked with fastavro against the
topic's own schema (contract/analytics/events.avsc)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fastavro
import fastavro.json_read
import pytest

from app.domain import analytics
from app.domain.analytics import CATALOGUE, CatalogueError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = fastavro.parse_schema(json.loads((ROOT / "contract/analytics/events.avsc").read_text()))
WHEN = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)

#: The spec's names (issue 21): renaming one breaks every query that selects it.
SERVER = {
    "session_started",
    "game_started",
    "game_finished",
    "grant",
    "refund",
    "purchase_held",
    "review_decided",
    "live_event_joined",
    "live_event_reward_claimed",
    "leaderboard_period_reward",
    "rate_limited",
    "breaker_opened",
}
CLIENT = {"screen_viewed", "tutorial_step", "store_viewed", "ad_reward_watched"}


def test_the_catalogue_holds_the_spec_s_events() -> None:
    assert {n for n, e in CATALOGUE.items() if e.source == "server"} == SERVER
    assert {n for n, e in CATALOGUE.items() if e.source == "client"} == CLIENT
    assert {e.version for e in CATALOGUE.values()} == {1}


def _envelope(
    player: str | None, country: str | None, platform: str = "server", **params: Any
) -> dict[str, Any]:
    event = CATALOGUE["game_finished"]
    checked = analytics.validate_params(event.name, params)
    return analytics.envelope(
        event,
        checked,
        event_id="game_finished:g1",
        occurred_at=WHEN,
        received_at=WHEN + timedelta(seconds=1),
        player=player,
        platform=platform,
        app_version=None,
        country=country,
    )


def test_an_envelope_refuses_a_platform_the_schema_does_not_name() -> None:
    params = {"game_id": "g1", "score": 1, "duration_ms": 1, "verdict": "accepted"}
    with pytest.raises(ValueError, match="platform 'switch' is not one of ios, android, web, server"):
        _envelope(None, None, platform="switch", **params)


def _read(encoded: bytes) -> dict[str, Any]:
    records = list(fastavro.json_read.json_reader(io.StringIO(encoded.decode()), SCHEMA))
    assert len(records) == 1
    record: dict[str, Any] = records[0]
    return record


def test_an_envelope_in_avro_json_is_what_the_topic_s_schema_reads() -> None:
    params = {"verdict": "accepted", "score": 1200, "game_id": "g1", "duration_ms": 61_000}
    envelope = _envelope("ab" * 16, "IE", **params)
    assert envelope["params"] == '{"duration_ms":61000,"game_id":"g1","score":1200,"verdict":"accepted"}'
    assert envelope["occurred_at"] == 1740830400123456
    encoded = analytics.avro_json(envelope)
    assert json.loads(encoded)["player"] == {"string": "ab" * 16}
    assert json.loads(encoded)["app_version"] is None
    record = _read(encoded)
    assert record["player"] == "ab" * 16
    assert record["country"] == "IE"
    assert record["app_version"] is None
    assert record["occurred_at"] == WHEN
    assert json.loads(record["params"]) == params


def test_an_envelope_without_a_player_is_valid_too() -> None:
    params = {"verdict": "rejected", "score": 0, "game_id": "g1", "duration_ms": 0}
    assert _read(analytics.avro_json(_envelope(None, None, **params)))["player"] is None


def test_an_incomplete_envelope_is_refused_before_pub_sub_would() -> None:
    with pytest.raises(ValueError, match="the envelope lacks country, params"):
        analytics.avro_json({"event_id": "x", "player": None} | {f.name: 1 for f in analytics.ENVELOPE[:9]})


def test_timestamps_are_utc_microseconds_and_need_a_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert analytics.micros(WHEN.astimezone(plus_two)) == analytics.micros(WHEN)
    with pytest.raises(ValueError, match="has no time zone"):
        analytics.micros(datetime(2025, 1, 1))


def test_a_pseudonym_is_keyed_and_never_the_uid() -> None:
    one, other = b"k" * 32, b"j" * 32
    assert analytics.pseudonym(one, "alice") == analytics.pseudonym(one, "alice")
    assert analytics.pseudonym(one, "alice") != analytics.pseudonym(other, "alice")
    assert analytics.pseudonym(one, "alice") != analytics.pseudonym(one, "bob")
    assert len(analytics.pseudonym(one, "alice")) == 32
    assert "alice" not in analytics.pseudonym(one, "alice")


@pytest.mark.parametrize(
    ("name", "params", "code", "where"),
    [
        ("nope", {}, "unknown_event", "name"),
        (
            "grant",
            {"reason": "purchase", "coins": 5, "items": 0, "receipt": "x"},
            "undeclared_field",
            "params.receipt",
        ),
        ("grant", {"reason": "purchase", "coins": "5", "items": 0}, "invalid_params", "params.coins"),
        ("grant", {"reason": "purchase", "coins": -1, "items": 0}, "invalid_params", "params.coins"),
        ("screen_viewed", {"screen": "x" * 65}, "invalid_params", "params.screen"),
        (
            "game_finished",
            {"game_id": "g", "score": 1, "duration_ms": 1, "verdict": "ok"},
            "invalid_params",
            "params.verdict",
        ),
    ],
)
def test_bad_params_name_the_field(name: str, params: dict[str, Any], code: str, where: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        analytics.validate_params(name, params)
    assert [(p.code, p.where) for p in caught.value.problems] == [(code, where)]


def test_an_optional_field_is_in_every_envelope() -> None:
    assert analytics.validate_params("purchase_held", {"reason": "velocity"}) == {
        "reason": "velocity",
        "product_id": None,
    }
