"""Live boards through the CDN over HTTP: the latest document, full pages and segments, their headers and
every error (each with ``no-store``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.domain.leaderboards import Period, period_id
from tests.app.conftest import Backends, MakeClient, Mint
from tests.app.fixtures.leaderboards import store_user, submit_today
from tests.waiting import wait_until

IMMUTABLE = "public, max-age=31536000, immutable"
DAILY = "/v1/leaderboards/daily/global"


def _seed(backends: Backends, db: firestore.Client, games: Sequence[tuple[str, int]]) -> None:
    """Players with display names (their uid, titled), each with a finished game of today (country IE)."""
    for uid, _ in games:
        store_user(db, uid, uid.title(), country="IE")
    submit_today(backends, games)


def _ok(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _error(r: Any, status: int, code: str) -> None:
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert r.headers["cache-control"] == "no-store"


def apply(page: dict[str, Any], segment: dict[str, Any]) -> dict[str, Any]:
    """A client's step: the page it holds, the segment to its successor applied."""
    entries = {e["uid"]: e for e in page["entries"] if e["uid"] not in segment["removed"]}
    entries.update({e["uid"]: e for e in segment["entries"]})
    ranked = sorted(entries.values(), key=lambda e: e["rank"])
    return {**page, "version": segment["to"], "total": segment["total"], "entries": ranked}


def _next_latest(client: TestClient, url: str, after: int) -> dict[str, Any]:
    """The latest document once the page published a version after ``after`` (the gate is one short
    interval)."""
    return wait_until(
        lambda: (body := _ok(client.get(url)))["version"] != after and body, timeout=10, what=url
    )


def test_the_latest_document_names_the_published_page(
    make_client: MakeClient, backends: Backends, db: firestore.Client
) -> None:
    _seed(backends, db, [("alice", 300), ("bob", 200)])
    client = make_client()
    pid = period_id(Period.daily, datetime.now(UTC))

    r = client.get(f"{DAILY}/live?page=1")
    latest = _ok(r)
    assert r.headers["cache-control"] == "public, max-age=0, s-maxage=30"
    version = latest["version"]
    assert latest == {
        "period": "daily",
        "scope": "global",
        "period_id": pid,
        "country": None,
        "page": 1,
        "version": version,
        "published_at": latest["published_at"],
        "interval_s": 30.0,
        "versions": [version],
        "full": f"{DAILY}/live/{pid}/{version}?page=1",
        "segment": f"{DAILY}/live/{pid}/{{from}}-{{to}}?page=1",
    }
    published = datetime.fromisoformat(latest["published_at"])
    assert abs(published.timestamp() * 1_000_000 - version) < 1000  # the live version is its publish time

    r = client.get(latest["full"])
    full = _ok(r)
    assert r.headers["cache-control"] == IMMUTABLE
    page = _ok(client.get(f"{DAILY}?page=1"))
    assert full == {**page, "version": version}  # the page as rendered, its live version in ``version``
    assert [(e["rank"], e["uid"], e["display_name"]) for e in full["entries"]] == [
        (1, "alice", "Alice"),
        (2, "bob", "Bob"),
    ]
    # Within the interval, every request gets the same document (the board has not moved anyway).
    assert _ok(client.get(f"{DAILY}/live")) == latest


def test_a_country_board_is_live_with_its_country_in_every_path(
    make_client: MakeClient, backends: Backends, db: firestore.Client
) -> None:
    _seed(backends, db, [("alice", 300)])
    client = make_client()
    latest = _ok(client.get("/v1/leaderboards/weekly/country/live?country=IE&page=1"))
    assert latest["country"] == "IE"
    assert latest["full"].endswith(f"/{latest['version']}?page=1&country=IE")
    assert latest["segment"].endswith("/{from}-{to}?page=1&country=IE")
    full = _ok(client.get(latest["full"]))
    assert (full["country"], [e["uid"] for e in full["entries"]]) == ("IE", ["alice"])
    empty = _ok(client.get("/v1/leaderboards/weekly/country/live?country=FR"))
    assert empty["version"] != latest["version"]
    assert _ok(client.get(empty["full"]))["entries"] == []


def test_segments_join_consecutive_versions_and_bring_a_held_page_up_to_date(
    make_client: MakeClient, backends: Backends, db: firestore.Client
) -> None:
    _seed(backends, db, [("alice", 300), ("bob", 200), ("carol", 100)])
    client = make_client(leaderboard_stream_interval_s=0.2)
    url = f"{DAILY}/live?page=1"
    first = _ok(client.get(url))
    held = _ok(client.get(first["full"]))

    _seed(backends, db, [("dave", 250)])
    second = _next_latest(client, url, first["version"])
    assert second["versions"] == [first["version"], second["version"]]
    segment_url = second["segment"].format(**{"from": first["version"], "to": second["version"]})
    r = client.get(segment_url)
    segment = _ok(r)
    assert r.headers["cache-control"] == IMMUTABLE
    assert (segment["from"], segment["to"], segment["total"], segment["removed"]) == (
        first["version"],
        second["version"],
        4,
        [],
    )
    assert [(e["rank"], e["uid"]) for e in segment["entries"]] == [(2, "dave"), (3, "bob"), (4, "carol")]
    assert apply(held, segment) == _ok(client.get(second["full"]))

    # Only consecutive versions: backwards, to itself, or skipping one is no segment.
    _seed(backends, db, [("erin", 50)])
    third = _next_latest(client, url, second["version"])
    assert third["versions"] == [first["version"], second["version"], third["version"]]
    for pair in (
        (second["version"], first["version"]),
        (first["version"], first["version"]),
        (first["version"], third["version"]),
        (third["version"], third["version"] + 1),
    ):
        _error(
            client.get(second["segment"].format(**{"from": pair[0], "to": pair[1]})),
            404,
            "segment_not_available",
        )


def test_an_expired_version_is_404_with_no_store(
    make_client: MakeClient, backends: Backends, db: firestore.Client
) -> None:
    _seed(backends, db, [("alice", 300)])
    # keep 2 x 0.1 s (+ the margin): a version lives about a second after its last publish turn.
    client = make_client(leaderboard_stream_interval_s=0.1, leaderboard_live_keep=2)
    latest = _ok(client.get(f"{DAILY}/live"))
    _ok(client.get(latest["full"]))
    wait_until(lambda: client.get(latest["full"]).status_code == 404, timeout=10, what="expiry")
    _error(client.get(latest["full"]), 404, "version_not_published")
    assert _ok(client.get(f"{DAILY}/live"))["version"] > latest["version"]  # a new chain, a new version


def test_a_page_past_the_boards_end_is_404_and_stores_nothing(
    client: TestClient, backends: Backends, db: firestore.Client, rds: redis.Redis
) -> None:
    """Walking page numbers would store a body per page in Redis: past the last page nothing is published
    (page 1 is, empty or not)."""
    _seed(backends, db, [("alice", 300)])
    for page in (2, 1_000_000):
        _error(client.get(f"{DAILY}/live?page={page}"), 404, "page_past_end")
    assert "last page (1)" in client.get(f"{DAILY}/live?page=2").json()["error"]["message"]
    assert sorted(k.decode() for k in rds.scan_iter("live:*")) == []
    _ok(client.get(f"{DAILY}/live?page=1"))
    assert {k.decode().split("}")[0] for k in rds.scan_iter("live:*")} == {
        f"live:{{leaderboard:global:daily:{period_id(Period.daily, datetime.now(UTC))}:p1"
    }


@pytest.mark.parametrize(
    "path",
    [
        "/v1/leaderboards/daily/friends/live",
        "/v1/leaderboards/daily/friends/live?country=IE",
        "/v1/leaderboards/daily/country/live",
        "/v1/leaderboards/weekly/friends/live/2026-W48/1",
        "/v1/leaderboards/weekly/country/live/2026-W48/1-2",
    ],
)
def test_boards_that_are_not_public_are_not_live(client: TestClient, auth: Mint, path: str) -> None:
    r = client.get(path, headers=auth("alice"))
    _error(r, 404, "board_not_public")
    assert "/stream" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/leaderboards/hourly/global/live", 404, "unknown_period"),
        ("/v1/leaderboards/daily/team/live", 404, "unknown_scope"),
        ("/v1/leaderboards/daily/global/live?page=0", 422, "validation_error"),
        ("/v1/leaderboards/daily/global/live?country=IE", 422, "invalid_country"),
        ("/v1/leaderboards/daily/country/live?country=ie", 422, "validation_error"),
        ("/v1/leaderboards/daily/country/live?country=ZZ", 422, "invalid_country"),
        ("/v1/leaderboards/daily/global/live/2026-11-26/0", 422, "validation_error"),
        (f"/v1/leaderboards/daily/global/live/2026-11-26/{2**53 + 1}", 422, "validation_error"),
        ("/v1/leaderboards/daily/global/live/26-11-26/5", 422, "validation_error"),
        ("/v1/leaderboards/daily/global/live/2026-W48/5", 422, "invalid_period_id"),
        ("/v1/leaderboards/daily/global/live/2026-11-26/5", 404, "version_not_published"),
        ("/v1/leaderboards/daily/global/live/2026-11-26/5-6", 404, "segment_not_available"),
        ("/v1/leaderboards/daily/global/live/2026-11-26/0-6", 422, "validation_error"),
        ("/v1/leaderboards/monthly/global/live/2026-11-26/5-6", 422, "invalid_period_id"),
        # The edge keys on page and country as written: a second spelling of either is refused, never
        # cached (tests/bench/test_live_cdn.py shows the poisoning it would allow through nginx).
        ("/v1/leaderboards/daily/global/live?page=1&page=2", 422, "repeated_parameter"),
        ("/v1/leaderboards/daily/country/live?country=IE&country=FR", 422, "repeated_parameter"),
        ("/v1/leaderboards/daily/global/live?page=01", 422, "page_not_canonical"),
        ("/v1/leaderboards/daily/global/live/2026-11-26/5?page=1&page=2", 422, "repeated_parameter"),
        ("/v1/leaderboards/daily/global/live/2026-11-26/5-6?page=002", 422, "page_not_canonical"),
    ],
)
def test_bad_input(client: TestClient, path: str, status: int, code: str) -> None:
    _error(client.get(path), status, code)


@pytest.mark.parametrize(
    "path", [f"{DAILY}/live", f"{DAILY}/live/2026-11-26/5", f"{DAILY}/live/2026-11-26/5-6"]
)
def test_redis_unavailable_is_a_503_with_no_store(make_client: MakeClient, path: str) -> None:
    # Port 1: nothing listens there, so every Redis call is refused at once.
    client = make_client(redis_url="redis://127.0.0.1:1/0")
    _error(client.get(path), 503, "leaderboard_unavailable")
