"""The leaderboard routes over HTTP: every error path, authorization, the stream (presence:
test_presence.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.routes import leaderboards as leaderboards_route
from app.domain.leaderboards import Period, period_id
from tests.app.conftest import MakeClient, Mint


def _played(client: TestClient, headers: dict[str, str], score: int) -> dict[str, Any]:
    game_id = client.post("/v1/games", headers=headers).json()["game_id"]
    events = [{"type": "coin", "t_ms": 0, "points": score}] if score else []
    if events:
        assert (
            client.post(f"/v1/games/{game_id}/events", headers=headers, json={"events": events}).status_code
            == 200
        )
    r = client.post(f"/v1/games/{game_id}/finish", headers=headers, json={"score": score})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _error(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


@pytest.fixture
def board(client: TestClient, auth: Mint) -> TestClient:
    """alice 300 (IE), bob 200 (FR), carol 100 (IE); alice is friends with carol."""
    for uid, country, score in (("alice", "IE", 300), ("bob", "FR", 200), ("carol", "IE", 100)):
        h = auth(uid)
        assert (
            client.patch(
                "/v1/me", headers=h, json={"display_name": uid.title(), "country": country}
            ).status_code
            == 200
        )
        _played(client, h, score)
    assert client.post("/v1/me/friends", headers=auth("alice"), json={"uid": "carol"}).status_code == 200
    assert client.post("/v1/me/friends", headers=auth("carol"), json={"uid": "alice"}).status_code == 200
    return client


def test_list_gives_current_periods_and_next_resets(client: TestClient) -> None:
    body = client.get("/v1/leaderboards").json()
    now = datetime.now(UTC)
    daily = next(p for p in body["periods"] if p["period"] == "daily")
    assert daily["period_id"] == period_id(Period.daily, now)
    assert datetime.fromisoformat(daily["next_reset_at"]) > now
    assert next(p for p in body["periods"] if p["period"] == "all_time")["next_reset_at"] is None


def test_global_page_is_public_and_cached(board: TestClient) -> None:
    r = board.get("/v1/leaderboards/daily/global?page=1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(e["rank"], e["uid"], e["display_name"], e["score"]) for e in body["entries"]] == [
        (1, "alice", "Alice", 300),
        (2, "bob", "Bob", 200),
        (3, "carol", "Carol", 100),
    ]
    assert body["total"] == 3
    assert body["version"] > 0
    assert body["archived"] is False
    assert r.headers["cache-control"] == "public, max-age=60"
    assert board.get("/v1/leaderboards/weekly/global").headers["cache-control"] == "public, max-age=300"


def test_country_board_by_query_or_by_my_profile(board: TestClient, auth: Mint) -> None:
    ie = board.get("/v1/leaderboards/weekly/country?country=IE").json()
    assert [e["uid"] for e in ie["entries"]] == ["alice", "carol"]
    mine = board.get("/v1/leaderboards/weekly/country", headers=auth("bob")).json()
    assert (mine["country"], [e["uid"] for e in mine["entries"]]) == ("FR", ["bob"])
    _error(board.get("/v1/leaderboards/weekly/country"), 401, "unauthorized")


def test_friends_board_shows_only_my_friends(board: TestClient, auth: Mint) -> None:
    alice = board.get("/v1/leaderboards/monthly/friends", headers=auth("alice")).json()
    assert [e["uid"] for e in alice["entries"]] == ["alice", "carol"]
    bob = board.get("/v1/leaderboards/monthly/friends", headers=auth("bob")).json()
    assert [e["uid"] for e in bob["entries"]] == ["bob"]  # not alice's friends: his own list
    _error(board.get("/v1/leaderboards/monthly/friends"), 401, "unauthorized")


def test_me_is_my_own_rank_only(board: TestClient, auth: Mint) -> None:
    me = board.get("/v1/leaderboards/all_time/global/me?radius=1", headers=auth("bob")).json()
    assert (me["rank"], me["score"]) == (2, 200)
    assert [e["uid"] for e in me["neighbours"]] == ["alice", "bob", "carol"]
    friends = board.get("/v1/leaderboards/all_time/friends/me?radius=0", headers=auth("carol")).json()
    assert (friends["rank"], friends["total"]) == (2, 2)  # friendship is mutual: alice is above carol
    nobody = board.get("/v1/leaderboards/daily/global/me", headers=auth("dave")).json()
    assert nobody["rank"] is None
    assert nobody["neighbours"] == []
    _error(board.get("/v1/leaderboards/daily/global/me"), 401, "unauthorized")


def test_changes_and_their_errors(board: TestClient, auth: Mint) -> None:
    first = board.get("/v1/leaderboards/daily/global").json()
    _played(board, auth("carol"), 250)
    delta = board.get(f"/v1/leaderboards/daily/global/changes?since={first['version']}").json()
    assert delta["full"] is False
    assert [(e["rank"], e["uid"]) for e in delta["entries"]] == [(2, "carol"), (3, "bob")]
    old = board.get("/v1/leaderboards/daily/global/changes?since=0").json()
    assert old["full"] is True
    assert len(old["entries"]) == 3
    _error(
        board.get(f"/v1/leaderboards/daily/global/changes?since={delta['version'] + 10}"),
        422,
        "since_in_future",
    )
    _error(board.get("/v1/leaderboards/daily/global/changes?since=-1"), 422, "validation_error")
    _error(board.get("/v1/leaderboards/daily/global/changes"), 422, "validation_error")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/leaderboards/hourly/global", 404, "unknown_period"),
        ("/v1/leaderboards/daily/team", 404, "unknown_scope"),
        ("/v1/leaderboards/hourly/global/me", 404, "unknown_period"),
        ("/v1/leaderboards/daily/team/changes?since=0", 404, "unknown_scope"),
        ("/v1/leaderboards/daily/global?page=0", 422, "validation_error"),
        ("/v1/leaderboards/daily/global?page=-3", 422, "validation_error"),
        ("/v1/leaderboards/daily/country?country=ie", 422, "validation_error"),
        ("/v1/leaderboards/daily/country?country=ZZ", 422, "invalid_country"),
        ("/v1/leaderboards/daily/global?country=IE", 422, "invalid_country"),
        ("/v1/leaderboards/daily/global?period_id=2026-99-99", 422, "invalid_period_id"),
        ("/v1/leaderboards/daily/global?period_id=2026-W01", 422, "invalid_period_id"),
        ("/v1/leaderboards/daily/global?period_id=2020-01-01", 404, "period_not_archived"),
        ("/v1/leaderboards/daily/global?period_id=2999-01-01", 404, "period_not_found"),
        ("/v1/leaderboards/daily/global/me?radius=51", 422, "validation_error"),
    ],
)
def test_bad_input(board: TestClient, auth: Mint, path: str, status: int, code: str) -> None:
    _error(board.get(path, headers=auth("alice")), status, code)


def test_page_beyond_the_end_is_empty_with_the_total(board: TestClient) -> None:
    body = board.get("/v1/leaderboards/daily/global?page=7").json()
    assert (body["page"], body["total"], body["entries"]) == (7, 3, [])


def test_country_required_when_my_profile_has_none(client: TestClient, auth: Mint) -> None:
    _error(client.get("/v1/leaderboards/daily/country", headers=auth("erin")), 422, "country_required")


def test_stream_sends_the_page_then_deltas(board: TestClient, auth: Mint) -> None:
    with board.stream("GET", "/v1/leaderboards/daily/global/stream") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        data = None
        for line in r.iter_lines():
            if line.startswith("data:"):
                data = orjson.loads(line.removeprefix("data:").strip())
                break
    assert data is not None
    assert data["full"] is True
    assert [e["uid"] for e in data["entries"]] == ["alice", "bob", "carol"]


STREAM = "/v1/leaderboards/daily/global/stream"


def _first_event(client: TestClient, url: str, **headers: str) -> dict[str, str]:
    """The fields of the stream's first event (comment lines skipped)."""
    fields: dict[str, str] = {}
    with client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if not line and fields:
                break
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.strip()
    return fields


def test_stream_resumes_after_the_last_event_id(board: TestClient, auth: Mint) -> None:
    """Failed before issue 20: only ?since= was read, so an EventSource reconnecting with Last-Event-ID got
    the whole page again."""
    first = _first_event(board, STREAM)
    held = int(first["id"])
    assert orjson.loads(first["data"])["version"] == held  # the event id is the page's version
    h = auth("dave")
    assert board.patch("/v1/me", headers=h, json={"display_name": "Dave", "country": "IE"}).status_code == 200
    _played(board, h, 250)

    resumed = _first_event(board, STREAM, **{"Last-Event-ID": str(held)})
    delta = orjson.loads(resumed["data"])
    assert (delta["full"], delta["since"]) == (False, held)
    assert int(resumed["id"]) == delta["version"] > held
    assert [(e["rank"], e["uid"]) for e in delta["entries"]] == [(2, "dave"), (3, "bob"), (4, "carol")]
    assert delta["removed"] == []


def test_the_last_event_id_wins_over_since(board: TestClient, auth: Mint) -> None:
    """Failed before issue 20: the header was ignored and ``?since=0`` sent the whole page."""
    held = int(_first_event(board, STREAM)["id"])
    _played(board, auth("carol"), 400)  # carol's best moves her to the top

    delta = orjson.loads(_first_event(board, f"{STREAM}?since=0", **{"Last-Event-ID": str(held)})["data"])
    assert (delta["full"], delta["since"]) == (False, held)
    assert [e["uid"] for e in delta["entries"]] == ["carol", "alice", "bob"]
    assert orjson.loads(_first_event(board, f"{STREAM}?since={held}")["data"])["since"] == held


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", str(2**53 + 1)])
def test_a_malformed_last_event_id_is_refused_like_a_malformed_since(board: TestClient, value: str) -> None:
    r = board.get(STREAM, headers={"Last-Event-ID": value})
    _error(r, 422, "validation_error")
    assert "Last-Event-ID" in r.json()["error"]["message"], r.text
    _error(board.get(f"{STREAM}?since={value}"), 422, "validation_error")


def test_a_version_the_board_has_not_reached_is_a_422_before_the_stream_starts(board: TestClient) -> None:
    """Failed before issue 20: the stream answered 200, then broke on its first read."""
    held = int(_first_event(board, STREAM)["id"])
    for url, headers in ((STREAM, {"Last-Event-ID": str(held + 10)}), (f"{STREAM}?since={held + 10}", {})):
        r = board.get(url, headers=headers)
        _error(r, 422, "since_in_future")
        assert r.headers["content-type"] == "application/json"


def test_the_stream_sets_the_retry_delay_and_keeps_an_idle_connection_alive(
    board: TestClient, make_client: MakeClient
) -> None:
    """Failed before issue 20: no ``retry`` field, so a client reconnected after its own default (3 s in
    browsers), not the board's interval."""
    fast = make_client(leaderboard_stream_interval_s=0.2)
    with fast.stream("GET", STREAM) as r:
        lines = r.iter_lines()
        event = dict(line.split(": ", 1) for line in iter(lambda: next(lines), ""))
        comment = next(line for line in lines if line)  # the idle board sends no event, only comments
    assert event["event"] == "delta"
    assert event["id"] == str(orjson.loads(event["data"])["version"])
    assert event["retry"] == "200"  # the interval, in ms
    assert comment.startswith(": ping")
    # Cloudflare closes a proxied connection idle for 100 s: the default keep-alive comes well before.
    assert leaderboards_route.STREAM_KEEPALIVE_S < 100


def test_a_signed_in_board_counts_the_callers_own_address(make_client: MakeClient, auth: Mint) -> None:
    """Each caller's requests count against their own address: one player's reads of a friends board
    do not use up another's (they once all counted against one shared "None" bucket)."""
    limit = 2
    alice = make_client(client_addr=("198.51.100.1", 50000), rate_limit_ip=f"{limit}/minute")
    for _ in range(limit):
        assert alice.get("/v1/leaderboards/daily/friends", headers=auth("alice")).status_code == 200
    _error(alice.get("/v1/leaderboards/daily/friends", headers=auth("alice")), 429, "rate_limited")
    bob = make_client(client_addr=("198.51.100.2", 50000), rate_limit_ip=f"{limit}/minute")
    assert bob.get("/v1/leaderboards/daily/friends", headers=auth("bob")).status_code == 200
