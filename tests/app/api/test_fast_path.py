"""The hot public page answered before FastAPI's parameter solving: the same answers, the same errors, and
one Brotli copy per render for the clients that accept it."""

from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient
from starlette.requests import Request

from app.api.precompressed import accepts_brotli
from app.api.routes.leaderboards import _PUBLIC_PAGES
from tests.app.conftest import Backends
from tests.app.fixtures.leaderboards import submit_today

PAGE = "/v1/leaderboards/daily/global"
PLAYERS = (("ann", 30), ("ben", 20), ("cat", 10))


def test_hot_page_answers_like_the_full_path(
    client: TestClient, rds: redis.Redis, backends: Backends
) -> None:
    submit_today(backends, PLAYERS)
    first = client.get(f"{PAGE}?page=1")  # renders, and keeps the render in the process
    assert first.status_code == 200, first.text
    rds.config_resetstat()
    hot = client.get(f"{PAGE}?page=1")
    assert "cmdstat_evalsha" not in rds.info("commandstats")  # no Redis at all: not even the rate limit
    assert (hot.status_code, hot.content, hot.headers["cache-control"]) == (
        200,
        first.content,
        "public, max-age=60",
    )
    assert [e["uid"] for e in hot.json()["entries"]] == ["ann", "ben", "cat"]
    # Forms the hot path leaves to FastAPI get FastAPI's answers.
    assert client.get(f"{PAGE}?page=01").content == first.content
    assert client.get(PAGE).content == first.content
    assert client.get(f"{PAGE}?page=1&unknown=x").content == first.content
    country = client.get("/v1/leaderboards/daily/country?country=IE")
    assert (country.status_code, country.json()["country"]) == (200, "IE")
    for path, status, code in [
        (f"{PAGE}?page=0", 422, "validation_error"),
        (f"{PAGE}?page=1&page=0", 422, "validation_error"),
        (f"{PAGE}?country=IE", 422, "invalid_country"),
        ("/v1/leaderboards/hourly/global?page=1", 404, "unknown_period"),
        ("/v1/leaderboards/daily/country?country=ie", 422, "validation_error"),
        ("/v1/leaderboards/daily/friends?page=1", 401, "unauthorized"),
    ]:
        r = client.get(path)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), path


def test_hot_page_is_compressed_once_per_render_for_brotli_clients(
    client: TestClient, backends: Backends
) -> None:
    submit_today(
        backends, [(f"player{i:02d}", i) for i in range(20)]
    )  # a page above the middleware's 512 bytes
    identity = client.get(f"{PAGE}?page=1", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers
    assert len(identity.content) > 512
    before = _PUBLIC_PAGES.compressions
    answers = [client.get(f"{PAGE}?page=1", headers={"Accept-Encoding": "gzip, br"}) for _ in range(3)]
    assert _PUBLIC_PAGES.compressions == before + 1  # one Brotli copy served three times
    for r in answers:
        assert (r.status_code, r.headers["content-encoding"], r.headers["vary"]) == (
            200,
            "br",
            "Accept-Encoding",
        )
        assert r.headers["cache-control"] == "public, max-age=60"
        assert r.content == identity.content  # decoded by the client
    gzip = client.get(f"{PAGE}?page=1", headers={"Accept-Encoding": "gzip"})
    assert (gzip.headers["content-encoding"], gzip.content) == ("gzip", identity.content)  # the middleware's


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("br", True),
        ("gzip, deflate, br", True),
        ("BR;q=0.5", True),
        ("gzip, br;q=0", False),
        ("br; q=0.000", False),
        ("gzip", False),
        ("brotli", False),
        ("", False),
    ],
)
def test_accepts_brotli_reads_the_weight(header: str, accepted: bool) -> None:
    request = Request({"type": "http", "headers": [(b"accept-encoding", header.encode())]})
    assert accepts_brotli(request) is accepted


def test_a_small_page_goes_out_as_it_is(client: TestClient, backends: Backends) -> None:
    submit_today(backends, PLAYERS)
    client.get(f"{PAGE}?page=1")
    small = client.get(f"{PAGE}?page=1", headers={"Accept-Encoding": "br"})
    assert len(small.content) < 512
    assert "content-encoding" not in small.headers
