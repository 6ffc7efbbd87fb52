"""The live-board CDN bench's machinery, for real and small: nginx configured from the declared cache rules
in front of the app, 10 and then 100 viewers for a few 2-second intervals while games finish. Counts only,
never a timing: what reached the origin per interval, and what each viewer ended up holding.

nginx missing fails the test with the install hint (scripts/system-deps), as redis-server missing does.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench import live_cdn_bench
from bench.live_cdn_bench import PAGES, Results
from bench.live_cdn_edge import nginx_config, origin_requests
from bench.live_cdn_viewers import BoardPage, Finishes, Viewer, ViewerStats, WriterPlan
from infra.stacks.edge_cache import live_cache_rules

INTERVAL_S = 2


@pytest.fixture(scope="module")
def small_run() -> Results:
    return live_cdn_bench.run_benchmark(
        (10, 100),
        interval_s=INTERVAL_S,
        duration_s=4 * INTERVAL_S,
        finish_rate=2,
        baseline_viewers=10,
        quiet=True,
    )


def test_the_origin_serves_pages_not_viewers(small_run: Results) -> None:
    """At most a latest document and a segment per page and interval reach the origin, whether 10 or 100
    viewers poll; straight to the origin, every poll does."""
    few, many = small_run.runs
    target = len(PAGES) * 2

    assert (few.viewers, many.viewers) == (10, 100)
    assert few.origin_requests > 0
    assert many.origin_requests > 0
    assert few.origin_per_interval <= target
    assert many.origin_per_interval <= target
    # Ten times the viewers: less than one more origin request per page and interval.
    assert abs(many.origin_per_interval - few.origin_per_interval) < len(PAGES)
    assert many.viewer_requests > 5 * many.origin_requests
    baseline = small_run.baseline
    assert baseline is not None
    assert baseline.through == "origin"
    assert baseline.origin_requests == baseline.viewer_requests
    assert baseline.origin_requests > few.origin_requests


def test_every_viewer_ends_on_the_origins_latest_page(small_run: Results) -> None:
    for run in [*small_run.runs, small_run.baseline]:
        assert run is not None
        assert run.first_errors == []
        assert run.errors == 0
        assert run.diverged == []
        assert run.converged == run.viewers
        assert run.finishes > 0
        assert run.delays > 0  # viewers saw the writer's finishes arrive...
        assert run.unseen == 0  # ...every one made while they watched
        assert run.fulls >= run.viewers  # each viewer's first poll
        assert run.segments > 0  # and segments after it
        assert run.origin_work["publishes_published"] > 0


def test_a_repeated_page_parameter_cannot_poison_the_edge(small_run: Results) -> None:
    """``?page=1&page=2`` through the edge, then ``?page=1``: the cache key takes the first ``page``, the
    origin's framework the last, so unless the live routes refuse a repeated parameter (422, not cached),
    page 2's latest document is served to every page-1 viewer for an interval."""
    few, many = small_run.runs
    assert many.repeated_page_poisons is None  # probed once, on the first run
    assert few.repeated_page_poisons is False


def test_the_report_and_json_carry_every_figure(small_run: Results) -> None:
    report = live_cdn_bench.format_report(small_run)
    for text in (
        "origin/interval",
        "finish -> seen",
        "flatness",
        "baseline",
        "converged",
        "<= 4 pages x 2 = 8",
    ):
        assert text in report
    data = json.loads(json.dumps(small_run.to_json()))
    assert [run["viewers"] for run in data["runs"]] == [10, 100]
    assert data["origin_target_per_interval"] == 8
    assert data["delay_target_s"] == 2 * INTERVAL_S
    assert {"origin_per_interval", "delay_p95_s", "polls_achieved", "saturated"} <= set(data["runs"][0])


# --- the pieces, without services ---------------------------------------------------------------------


@pytest.mark.unit
def test_the_nginx_config_mirrors_each_declared_rule(tmp_path: Path) -> None:
    config = nginx_config(live_cache_rules(5), tmp_path, 8080, 9000)
    latest = config.index("location ~ ^/v1/leaderboards/.*/.*/live$ {")
    immutable = config.index("location ~ ^/v1/leaderboards/.*/.*/live/.*/.*$ {")
    rest = config.index("location / {")
    assert latest < immutable < rest
    latest_block, immutable_block = config[latest:immutable], config[immutable:rest]
    assert "proxy_ignore_headers Cache-Control Expires;" in latest_block
    assert "proxy_cache_valid any 5s;" in latest_block
    assert "proxy_ignore_headers" not in immutable_block  # respect_origin: the origin's year
    assert "proxy_cache_valid" not in immutable_block
    for block in (latest_block, immutable_block):
        assert 'proxy_cache_key "$host$uri|page=$arg_page|country=$arg_country";' in block
        assert "proxy_no_cache $edge_no_store;" in block
        assert "proxy_cache_lock on;" in block
    assert "~^[45] 1;" in config
    assert "proxy_cache" not in config[rest:]
    assert "listen 127.0.0.1:8080;" in config
    assert "server 127.0.0.1:9000;" in config


@pytest.mark.unit
def test_origin_requests_are_read_from_the_access_log(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        '100.0 MISS "127.0.0.1:9000" 200 /v1/leaderboards/daily/global/live?page=1\n'
        '100.5 HIT "-" 200 /v1/leaderboards/daily/global/live?page=1\n'
        '101.0 UPDATING "-" 200 /v1/leaderboards/daily/global/live?page=1\n'
        '102.0 EXPIRED "127.0.0.1:9000" 200 /v1/leaderboards/daily/global/live?page=1\n'
        '103.0 - "127.0.0.1:9000" 200 /healthz\n'
        '109.0 MISS "127.0.0.1:9000" 200 /v1/leaderboards/daily/global/live?page=2\n'
    )
    counted = origin_requests(log, 100.0, 105.0)
    assert (counted.requests, counted.origin) == (5, 3)
    assert counted.by_status == {"MISS": 1, "EXPIRED": 1, "-": 1}


@pytest.mark.unit
def test_finishes_between_two_scores_since_a_time() -> None:
    finishes = Finishes()
    for score, at in ((10, 1.0), (11, 2.0), (12, 3.0), (13, 4.0)):
        finishes.record("w-p1-0", score, at)
    assert finishes.between("w-p1-0", 10, 12, since=0.0) == [2.0, 3.0]
    assert finishes.between("w-p1-0", 10, 13, since=3.0) == [3.0, 4.0]
    assert finishes.between("w-p1-0", 13, 99, since=0.0) == []
    assert finishes.between("w-p1-1", 0, 99, since=0.0) == []
    with pytest.raises(ValueError, match="w-p1-0: finish 13 is not a new best"):
        finishes.record("w-p1-0", 13, 5.0)


@pytest.mark.unit
def test_the_writers_stay_on_their_pages() -> None:
    plan = WriterPlan()
    seeds = sorted((score for _, score, _ in plan.seed_players()), reverse=True)
    writers = plan.writers()
    assert [uid for uid, _, _ in writers] == [f"w-p{page}-{k}" for page in (1, 2) for k in range(4)]
    for uid, first, _ in writers:
        last = first + plan.finishes_per_writer + 1
        rank = sum(1 for s in seeds if s > last) + 1  # below every seed above it
        page = int(uid.split("-")[1].removeprefix("p"))
        assert (rank - 1) // 100 + 1 == page, (uid, rank)
        assert sum(1 for s in seeds if s > first) == rank - 1  # no seed between its first and last score


class FakePool:
    """Canned answers by path, and the paths asked for."""

    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def get(self, target: str) -> tuple[int, bytes]:
        self.asked.append(target)
        status, body = self.answers[target]
        return status, orjson.dumps(body)


PAGE = BoardPage("daily", "global", None, 1)
BASE = "/v1/leaderboards/daily/global/live/2025-06-01"


def _latest(version: int, versions: list[int]) -> dict[str, Any]:
    return {"version": version, "versions": versions, "full": f"{BASE}/{version}?page=1",
            "segment": f"{BASE}/{{from}}-{{to}}?page=1"}  # fmt: skip


def _entry(rank: int, uid: str, score: int) -> dict[str, Any]:
    return {"rank": rank, "uid": uid, "display_name": uid, "score": score}


@pytest.mark.unit
def test_a_viewer_follows_segments_and_falls_back_to_the_full_page() -> None:
    asyncio.run(_follow_segments_then_full())


async def _follow_segments_then_full() -> None:
    finishes = Finishes()
    finishes.record("w-p1-0", 11, 0.0)  # before the viewer's first page: not its to see
    stats = ViewerStats()
    full_1 = {"version": 1, "total": 2, "entries": [_entry(1, "s-0", 50), _entry(2, "w-p1-0", 11)]}
    pool = FakePool({PAGE.latest_path: (200, _latest(1, [1])), f"{BASE}/1?page=1": (200, full_1)})
    viewer = Viewer(PAGE, pool, finishes, stats)  # type: ignore[arg-type]
    await viewer.poll()
    assert (viewer.version, [e["uid"] for e in viewer.page_entries()]) == (1, ["s-0", "w-p1-0"])

    finishes.record("w-p1-0", 60, time.monotonic())  # after the viewer's first page
    pool.answers[PAGE.latest_path] = (200, _latest(3, [1, 2, 3]))
    pool.answers[f"{BASE}/1-2?page=1"] = (
        200,
        {"to": 2, "total": 3, "entries": [_entry(3, "s-9", 1)], "removed": []},
    )
    pool.answers[f"{BASE}/2-3?page=1"] = (
        200,
        {"to": 3, "total": 3, "entries": [_entry(1, "w-p1-0", 60), _entry(2, "s-0", 50)], "removed": ["s-9"]},
    )
    await viewer.poll()
    assert viewer.version == 3
    assert viewer.page_entries() == [_entry(1, "w-p1-0", 60), _entry(2, "s-0", 50)]
    assert viewer.total == 3
    assert stats.segments == 2
    assert len(stats.delays) == 1  # the finish after its first page; the one before it is not counted
    assert stats.delays[0] >= 0
    assert viewer.unseen() == 0

    pool.answers[PAGE.latest_path] = (200, _latest(5, [4, 5]))  # its version 3 was trimmed off
    pool.answers[f"{BASE}/5?page=1"] = (200, {"version": 5, "total": 1, "entries": [_entry(1, "s-0", 50)]})
    await viewer.poll()
    assert (viewer.version, viewer.total, len(viewer.entries)) == (5, 1, 1)
    assert stats.fulls == 2
    assert pool.asked[-2:] == [PAGE.latest_path, f"{BASE}/5?page=1"]
