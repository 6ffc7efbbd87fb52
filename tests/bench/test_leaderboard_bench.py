"""Smoke tests of the leaderboard benchmark: arguments, the report, preload and memory on a tiny board."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from bench import leaderboard_bench as lb
from bench.api_bench import LoadResult
from scripts import services


def test_defaults_and_bad_options() -> None:
    args = lb.parse_args([])
    assert (args.players, args.duration, args.connections, args.samples) == (1_000_000, 8.0, 64, 2000)
    for bad in (["--players", "3"], ["--duration", "0"], ["--concurrency", "0"]):
        with pytest.raises(SystemExit):
            lb.parse_args(bad)


def test_uids_are_firebase_length_and_distinct() -> None:
    uids = {lb.uid_of(i) for i in range(1000)}
    assert len(uids) == 1000
    assert {len(u) for u in uids} == {28}


def test_report_carries_every_figure_and_verdict() -> None:
    load = LoadResult("/healthz", "python", 64, 8.0, 8000, 0, 1000.0, 5.0, 20.0)
    page = LoadResult("/v1/leaderboards/daily/global", "python", 64, 8.0, 6400, 0, 850.0, 6.0, 25.0)
    results = lb.Results(
        "2 CPUs",
        "python",
        1000,
        1.0,
        load,
        page,
        900.0,
        1000.0,
        0.4,
        1.5,
        2,
        2.0,
        lb.Memory(1000, 110_000, 100_000),
    )
    assert results.page_ratio == pytest.approx(0.85)
    assert results.submit_ratio == pytest.approx(0.9)
    report = lb.format_report(results)
    for text in ("page / bare", "0.85", "submit / ZADD", "0.90", "round trips", "max 2", "1.100", "met"):
        assert text in report
    assert "MISSED" not in report
    assert set(results.to_json()["ratios"]) == {"page", "submit", "memory"}


def test_ops_per_s_counts_completed_operations() -> None:
    async def op(n: int) -> None:
        await asyncio.sleep(0)

    assert asyncio.run(lb.ops_per_s(op, 0.05, 4)) > 0


@pytest.fixture
def tiny_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    server = services.start_redis(tmp_path)
    try:
        with redis.Redis(port=server.port) as client:
            yield client
    finally:
        server.stop()


def test_preload_fills_every_board_and_memory_compares_like_with_like(tiny_redis: redis.Redis) -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    keys = lb.preload(tiny_redis, 400, now)
    assert set(keys) == {"daily", "weekly", "monthly", "all_time"}
    assert all(tiny_redis.zcard(k) == 400 for k in keys.values())
    assert tiny_redis.zcard("{lb}:daily:2026-11-26:country:US") == 10  # 400 players over 40 countries
    mem = lb.memory(
        tiny_redis, keys["daily"], 400, "{lb}:daily:2026-11-26:boards", "{lb}:daily:2026-11-26:v", 41
    )
    assert mem.board_bytes > 0
    assert mem.plain_bytes > 0
    assert not tiny_redis.exists("bench:plain-zset")
