"""bench/analytics_bench.py: the finish-game flow with analytics on and off, run small. Counts only."""

from __future__ import annotations

import json

from bench import analytics_bench

WARM_UP = analytics_bench.WARM_UP


def test_a_small_run_measures_both_sides_and_the_on_side_publishes_every_event() -> None:
    results = analytics_bench.run_benchmark(games=2, rounds=2)
    assert (results.off.games, results.on.games) == (4, 4)
    assert (results.published, results.outboxed, results.dropped) == (2 * (WARM_UP + 4), 0, 0)
    report = analytics_bench.format_report(results)
    assert "off / on flow median" in report
    assert "events of the on process: 18 published" in report
    data = json.loads(json.dumps(results.to_json()))
    assert data["target"] == analytics_bench.TARGET
    assert {"ratio", "off", "on", "published"} <= set(data)
