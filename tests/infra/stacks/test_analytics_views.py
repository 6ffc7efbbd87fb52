"""The analytics views' SQL, run for real: each view transpiled from BigQuery to duckdb with sqlglot, over
an events table built from contract/analytics/bigquery_schema.json and generated events whose answers are
known (duplicates by event_id included, as Pub/Sub's at-least-once delivery makes them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
import pytest
import sqlglot

from infra.stacks.analytics import VIEW_LOOKBACK_DAYS, VIEWS, bigquery_columns, view_sql

pytestmark = pytest.mark.unit

DUCKDB_TYPES = {"STRING": "VARCHAR", "INTEGER": "BIGINT", "TIMESTAMP": "TIMESTAMP"}
TODAY = datetime.now(UTC).date()
#: The first day of the scenario; every day of it is over, except TODAY.
D0 = TODAY - timedelta(days=10)


def day(offset: int) -> date:
    return D0 + timedelta(days=offset)


class Events:
    """Envelopes as the subscription writes them: one row per delivery."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._serial = 0

    def add(
        self,
        name: str,
        on: date,
        player: str | None,
        event_id: str | None = None,
        at: time = time(12),
        **params: Any,
    ) -> str:
        self._serial += 1
        event_id = event_id or f"evt-{self._serial}"
        occurred = datetime.combine(on, at)
        self.rows.append(
            {
                "event_id": event_id,
                "name": name,
                "schema_version": 1,
                "occurred_at": occurred,
                "received_at": occurred + timedelta(seconds=self._serial),
                "source": "server",
                "player": player,
                "platform": "server",
                "app_version": None,
                "country": "IE",
                "params": json.dumps(params, sort_keys=True, separators=(",", ":")),
            }
        )
        return event_id

    def redeliver(self, event_id: str) -> None:
        """The same event again, received later (an unacknowledged delivery)."""
        first = next(r for r in self.rows if r["event_id"] == event_id)
        self.rows.append({**first, "received_at": first["received_at"] + timedelta(minutes=5)})


def scenario() -> Events:
    e = Events()
    # Sessions: a, b, c start on D0; a and b come back on D1, a again on D7; d starts on D1 and returns on
    # D8; e starts today. An event of a's from before the window must not move a's cohort.
    first = e.add("session_started", day(0), "a")
    e.redeliver(first)
    e.add("session_started", day(0), "b")
    e.add("session_started", day(0), "c")
    e.add("rate_limited", day(0), None, limit="ip")
    e.add("session_started", day(1), "a")
    e.add("session_started", day(1), "b")
    e.add("session_started", day(1), "d")
    e.add("session_started", day(7), "a")
    e.add("session_started", day(8), "d")
    e.add("session_started", TODAY, "e", at=time(0))
    e.add("session_started", TODAY - timedelta(days=VIEW_LOOKBACK_DAYS + 10), "a")
    # Games on D2: g1 accepted (finished twice over), g2 flagged, g3 abandoned. g5 starts just before
    # midnight on D3 and is rejected just after: it counts on its start's day.
    e.add("game_started", day(2), "a", game_id="g1", mode="classic")
    finished = e.add(
        "game_finished",
        day(2),
        "a",
        "game_finished:g1",
        game_id="g1",
        score=10,
        duration_ms=1,
        verdict="accepted",
    )
    e.redeliver(finished)
    e.add("game_started", day(2), "b", game_id="g2", mode="classic")
    e.add("game_finished", day(2), "b", game_id="g2", score=99, duration_ms=1, verdict="flagged")
    e.add("game_started", day(2), "a", game_id="g3", mode="classic")
    e.add("game_started", day(3), "c", at=time(23, 59), game_id="g5", mode="classic")
    e.add(
        "game_finished", day(4), "c", at=time(0, 1), game_id="g5", score=1, duration_ms=1, verdict="rejected"
    )
    # Purchases on D3 (a's grant delivered twice), a live-event reward (no product), a's refund on D4.
    grant = e.add("grant", day(3), "a", reason="purchase", product_id="coins_100", coins=100, items=0)
    e.redeliver(grant)
    e.add("grant", day(3), "b", reason="purchase", product_id="coins_100", coins=100, items=0)
    e.add("grant", day(3), "c", reason="purchase", product_id="starter_pack", coins=500, items=6)
    e.add("grant", day(3), "c", reason="live_event", product_id=None, coins=50, items=0)
    e.add("refund", day(4), "a", reason="refund", product_id="coins_100", coins=100, items=0)
    # Live events on D5: le1 joined by a, b, c (c's join delivered twice), a claims two tiers, b one;
    # le2 joined by d, nobody claims.
    for player in ("a", "b"):
        e.add("live_event_joined", day(5), player, live_event_id="le1")
    joined = e.add("live_event_joined", day(5), "c", live_event_id="le1")
    e.redeliver(joined)
    e.add("live_event_reward_claimed", day(5), "a", live_event_id="le1", coins=50, items=1)
    e.add("live_event_reward_claimed", day(5), "a", live_event_id="le1", coins=25, items=0)
    e.add("live_event_reward_claimed", day(5), "b", live_event_id="le1", coins=50, items=1)
    e.add("live_event_joined", day(5), "d", live_event_id="le2")
    return e


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    # BigQuery's DATE() and CURRENT_DATE() are UTC.
    connection.execute("SET TimeZone = 'UTC'")
    columns = ", ".join(
        f"{c['name']} {DUCKDB_TYPES[c['type']]}{' NOT NULL' if c['mode'] == 'REQUIRED' else ''}"
        for c in bigquery_columns()
    )
    connection.execute(f"CREATE TABLE events ({columns})")
    rows = scenario().rows
    names = [c["name"] for c in bigquery_columns()]
    connection.executemany(
        f"INSERT INTO events VALUES ({', '.join('?' for _ in names)})", [[r[n] for n in names] for r in rows]
    )
    yield connection
    connection.close()


def run(db: duckdb.DuckDBPyConnection, view: str, order_by: str) -> list[dict[str, Any]]:
    sql = sqlglot.transpile(view_sql(view, "`events`"), read="bigquery", write="duckdb")[0]
    cursor = db.execute(f"SELECT * FROM ({sql}) ORDER BY {order_by}")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_the_events_table_has_the_contracts_columns(db: duckdb.DuckDBPyConnection) -> None:
    described = db.execute("DESCRIBE events").fetchall()
    assert [row[0] for row in described] == [
        "event_id", "name", "schema_version", "occurred_at", "received_at", "source", "player",
        "platform", "app_version", "country", "params",
    ]  # fmt: skip


def test_every_view_transpiles_to_duckdb() -> None:
    assert len(VIEWS) == 5
    for view in VIEWS:
        assert sqlglot.transpile(view_sql(view, "`events`"), read="bigquery", write="duckdb")[0]


def test_daily_actives_count_each_player_and_session_once(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "daily_actives", "day")

    assert [r["day"] for r in rows] == [day(n) for n in (0, 1, 2, 3, 4, 5, 7, 8)] + [TODAY]
    assert rows[0] == {"day": day(0), "active_players": 3, "sessions": 3, "events": 3}
    assert rows[1] == {"day": day(1), "active_players": 3, "sessions": 3, "events": 3}
    assert rows[2] == {"day": day(2), "active_players": 2, "sessions": 0, "events": 5}


def test_retention_by_cohort_day(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "retention", "cohort_day")

    assert rows == [
        {
            "cohort_day": day(0),
            "cohort_players": 3,
            "day1_players": 2,
            "day1_retention": pytest.approx(2 / 3),
            "day7_players": 1,
            "day7_retention": pytest.approx(1 / 3),
        },
        {
            "cohort_day": day(1),
            "cohort_players": 1,
            "day1_players": 0,
            "day1_retention": 0.0,
            "day7_players": 1,
            "day7_retention": 1.0,
        },
        # Today's cohort cannot have returned yet: unknown, not zero.
        {
            "cohort_day": TODAY,
            "cohort_players": 1,
            "day1_players": None,
            "day1_retention": None,
            "day7_players": None,
            "day7_retention": None,
        },
    ]


def test_game_funnel_counts_games_on_the_day_they_started(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "game_funnel", "day")

    assert rows == [
        {
            "day": day(2),
            "games_started": 3,
            "games_finished": 2,
            "finish_rate": pytest.approx(2 / 3),
            "finished_accepted": 1,
            "finished_flagged": 1,
            "finished_rejected": 0,
            "players_started": 2,
        },
        {
            "day": day(3),
            "games_started": 1,
            "games_finished": 1,
            "finish_rate": 1.0,
            "finished_accepted": 0,
            "finished_flagged": 0,
            "finished_rejected": 1,
            "players_started": 1,
        },
    ]


def test_revenue_counts_purchases_minus_refunds_per_product(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "revenue_daily", "day, product_id")

    assert rows == [
        {
            "day": day(3),
            "product_id": "coins_100",
            "purchases": 2,
            "refunds": 0,
            "net_purchases": 2,
            "paying_players": 2,
            "net_coins": 200,
            "net_items": 0,
        },
        {
            "day": day(3),
            "product_id": "starter_pack",
            "purchases": 1,
            "refunds": 0,
            "net_purchases": 1,
            "paying_players": 1,
            "net_coins": 500,
            "net_items": 6,
        },
        {
            "day": day(4),
            "product_id": "coins_100",
            "purchases": 0,
            "refunds": 1,
            "net_purchases": -1,
            "paying_players": 0,
            "net_coins": -100,
            "net_items": 0,
        },
    ]


def test_live_event_participation(db: duckdb.DuckDBPyConnection) -> None:
    rows = run(db, "live_event_participation", "live_event_id")

    assert rows == [
        {
            "live_event_id": "le1",
            "first_day": day(5),
            "players_joined": 3,
            "players_claimed": 2,
            "claim_rate": pytest.approx(2 / 3),
            "claims": 3,
            "coins_claimed": 125,
            "items_claimed": 2,
        },
        {
            "live_event_id": "le2",
            "first_day": day(5),
            "players_joined": 1,
            "players_claimed": 0,
            "claim_rate": 0.0,
            "claims": 0,
            "coins_claimed": 0,
            "items_claimed": 0,
        },
    ]


def test_an_unknown_view_names_the_file_it_expected() -> None:
    with pytest.raises(ValueError, match=r"no view 'weekly_actives': expected .*weekly_actives\.sql"):
        view_sql("weekly_actives", "`events`")
