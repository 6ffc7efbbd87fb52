"""The hot public page answered before FastAPI's parameter solving: the same answers, the same errors."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from fastapi.testclient import TestClient

from tests.app.conftest import Backends
from tests.app.leaderboards.support import Clock, Parts, run

PAGE = "/v1/leaderboards/daily/global"


def _seed(backends: Backends) -> None:
    now = datetime.now(UTC)

    async def submit(p: Parts) -> None:
        await p.lb.sink.boards.mark_alive(now)
        for n, (uid, score) in enumerate([("ann", 30), ("ben", 20), ("cat", 10)]):
            await p.lb.sink.submit(uid, f"g{n}", score, "IE", now)

    run(backends, Clock(now), submit)


def test_hot_page_answers_like_the_full_path(
    client: TestClient, rds: redis.Redis, backends: Backends
) -> None:
    _seed(backends)
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
