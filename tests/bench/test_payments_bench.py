"""The payments benchmark with tiny settings: it runs end to end and its report has every figure (its
shape and the exactly-once counts, never a timing)."""

from __future__ import annotations

import json
import math

import pytest

from bench import payments_bench
from bench.payments_bench import Phase, Results


def test_defaults_and_options() -> None:
    args = payments_bench.parse_args([])
    assert (args.deliveries, args.concurrency, args.burst, args.phase_seconds, args.json) == (
        500,
        8,
        20,
        12.0,
        None,
    )
    with pytest.raises(SystemExit):
        payments_bench.parse_args(["--deliveries", "0"])


def test_a_tiny_run_reports_every_figure() -> None:
    args = payments_bench.parse_args(["--deliveries", "6", "--concurrency", "2", "--burst", "4"])
    results = payments_bench.run_benchmark(args, quiet=True)
    assert [p.name for p in results.phases] == ["baseline", "purchases", "duplicates"]
    assert results.baseline.outcomes == {"committed": 6}
    assert results.purchases.outcomes == {"granted": 6}
    assert results.duplicates.outcomes == {"duplicate": 6}
    assert all(p.errors == 0 and p.done == 6 for p in results.phases)
    assert results.grants_after_purchases == results.grants_after_duplicates == 6
    assert results.burst_granted == 1
    assert all(math.isfinite(r) and r > 0 for r in (results.purchase_ratio, results.duplicate_ratio))
    report = payments_bench.format_report(results)
    for text in (
        "baseline",
        "purchases",
        "duplicates",
        "bare transaction",
        "grants added by 6",
        "1 grant(s)",
    ):
        assert text in report
    data = json.loads(json.dumps(results.to_json()))
    assert set(data["phases"]) == {"baseline", "purchases", "duplicates"}
    assert {"ratio_purchase_baseline", "ratio_duplicate_baseline", "burst_granted"} <= set(data)


def test_ratios_are_zero_without_a_baseline() -> None:
    empty = Phase("baseline", 0, 0.0, 0.0, 0.0, 0, {})
    results = Results("m", 1, empty, empty, empty, 0, 0, 1, 1)
    assert results.purchase_ratio == results.duplicate_ratio == 0.0
