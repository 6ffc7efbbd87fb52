"""The pure velocity count the ledger fallback uses (app/domain/fraud.py: over_windows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.fraud import VelocityWindow, over_windows

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
HOUR = VelocityWindow(5, 3600, "5 per 1 hour")
DAY = VelocityWindow(20, 86400, "20 per 1 day")


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def test_the_next_purchase_is_over_a_window_when_it_would_be_one_too_many() -> None:
    four = [ago(m) for m in (1, 10, 20, 30)]
    assert over_windows("purchase", four, [HOUR, DAY], NOW) == []
    assert over_windows("purchase", [*four, ago(50)], [HOUR, DAY], NOW) == [
        "velocity:purchase:user:5 per 1 hour"
    ]


def test_purchases_older_than_a_window_count_only_in_the_wider_one() -> None:
    twenty = [ago(61 + m) for m in range(20)]
    assert over_windows("purchase", twenty, [HOUR, DAY], NOW) == ["velocity:purchase:user:20 per 1 day"]
    assert over_windows("purchase", [], [HOUR, DAY], NOW) == []
