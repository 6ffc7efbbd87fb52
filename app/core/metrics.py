"""In-process metrics (Prometheus text on the internal ``/metrics``) for the alerts in monitoring/.

The Cloud Run sidecar (infra/stacks/compute/service.py) scrapes ``/metrics`` and writes the series to Managed
Prometheus, where ``pog_cache_requests`` (labels ``cache``, ``result``) becomes
``prometheus.googleapis.com/pog_cache_requests_total/counter`` and ``pog_firestore_latency_ms`` (labels
``database``, ``operation``) ``prometheus.googleapis.com/pog_firestore_latency_ms/histogram`` (likewise
``pog_push_sent`` and ``pog_push_failures``, label ``reason``, for push-failures); the alerts read them
with PromQL (monitoring/metrics/, monitoring/alerts/). Per-route request latency and status
counts are for dashboards (the alerts themselves read Cloud Run's request metrics).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# A `<name>_created` gauge per counter and histogram series would be written to Managed Prometheus
# (and billed) as series of their own; nothing reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

CACHE_REQUESTS = Counter(
    "pog_cache_requests",
    "Redis cache lookups, per cache and result (hit rate = hit / all).",
    ["cache", "result"],
    registry=REGISTRY,
)
FIRESTORE_LATENCY_MS = Histogram(
    "pog_firestore_latency_ms",
    "Latency of each Firestore call made by the repositories, in milliseconds.",
    ["database", "operation"],
    buckets=_LATENCY_BUCKETS_MS,
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "pog_http_requests",
    "HTTP requests per route template, method and status class (2xx..5xx).",
    ["method", "route", "status_class"],
    registry=REGISTRY,
)
HTTP_LATENCY_MS = Histogram(
    "pog_http_request_latency_ms",
    "HTTP request latency per route template, in milliseconds.",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS_MS,
    registry=REGISTRY,
)
REDIS_FAILURES = Counter(
    "pog_redis_failures",
    "Redis calls that failed or were skipped because the breaker was open, per operation.",
    ["operation", "reason"],
    registry=REGISTRY,
)
#: Cache invalidations Redis refused, recorded in Firestore, and applied later (app/repositories/cache.py).
CACHE_INVALIDATIONS_RECORDED = Counter(
    "pog_cache_invalidations_recorded",
    "Cache keys whose invalidation Redis refused, recorded in Firestore for every instance to apply.",
    registry=REGISTRY,
)
CACHE_INVALIDATIONS_APPLIED = Counter(
    "pog_cache_invalidations_applied",
    "Recorded cache invalidations applied (DEL then record deleted), per trigger (catch_up or sweep).",
    ["trigger"],
    registry=REGISTRY,
)
#: A guard that could not use Redis and fell back (docs/operations.md#when-redis-is-down-each-guard): the rate
#: limits to this instance's memory; the purchase velocity to the Firestore ledger, else a hold for review;
#: claims and refunds pass uncounted ("open"). Alert: monitoring/alerts/guard-fallback.yaml.
GUARD_FALLBACK = Counter(
    "pog_guard_fallback",
    "Checks a guard made without Redis, per guard and fallback mode.",
    ["guard", "mode"],
    registry=REGISTRY,
)
GUARD_FALLBACK_MODES = {"rate_limit": ("memory",), "velocity": ("ledger", "hold", "open")}
for _guard, _modes in GUARD_FALLBACK_MODES.items():
    for _mode in _modes:
        GUARD_FALLBACK.labels(guard=_guard, mode=_mode)


def count_guard_fallback(guard: str, mode: str) -> None:
    GUARD_FALLBACK.labels(guard=guard, mode=mode).inc()


PUSH_SENT = Counter(
    "pog_push_sent",
    "Push messages FCM accepted (one per device token or topic message).",
    registry=REGISTRY,
)
PUSH_FAILURES = Counter(
    "pog_push_failures",
    "Push messages FCM refused or that could not reach it, per reason (PUSH_FAILURE_REASONS).",
    ["reason"],
    registry=REGISTRY,
)
APP_CHECK = Counter(
    "pog_app_check",
    "Firebase App Check verdicts on the sensitive routes, per route template and outcome "
    "(ok, missing, invalid, replayed, unavailable; app/core/app_check.py), whatever POG_APP_CHECK does.",
    ["route", "outcome"],
    registry=REGISTRY,
)
#: The labels of monitoring/metrics/push-failed.yaml: app/repositories/push.py maps the SDK's errors to them.
PUSH_FAILURE_REASONS = (
    "unregistered",
    "sender_mismatch",
    "quota",
    "unavailable",
    "unauthenticated",
    "permission_denied",
    "invalid_argument",
    "other",
)
# Every series exists from the start, at 0: the alert's rate() then sees an instance's first failure.
for _reason in PUSH_FAILURE_REASONS:
    PUSH_FAILURES.labels(reason=_reason)

LEADERBOARD_PENDING = Counter(
    "pog_leaderboard_pending",
    "Finished games whose leaderboard submit failed (Redis down): marked board_pending for the reconciler.",
    registry=REGISTRY,
)
LEADERBOARD_RECONCILED = Counter(
    "pog_leaderboard_reconciled",
    "Pending games the reconciler (app/services/leaderboards_reconcile.py) put on the boards and cleared.",
    registry=REGISTRY,
)
#: The origin's work for live boards through the CDN (app/services/leaderboards_live.py): what the edge
#: did not absorb. The live-CDN bench reads them to count origin work per interval.
LIVE_PUBLISHES = Counter(
    "pog_leaderboard_live_publishes",
    "Publish turns of a live page (at most one per page and interval): published (a new version) or "
    "unchanged (the board had not moved).",
    ["result"],
    registry=REGISTRY,
)
LIVE_RENDERS = Counter(
    "pog_leaderboard_live_renders",
    "Live board documents the origin answered, per kind (latest, full, segment).",
    ["kind"],
    registry=REGISTRY,
)
#: Analytics events (app/repositories/analytics.py): published to Pub/Sub, put in the Redis outbox (Pub/Sub
#: down), or dropped (outbox full or Redis down too). Alert: monitoring/alerts/analytics-dropped.yaml.
ANALYTICS_EVENTS = Counter(
    "pog_analytics_events",
    "Analytics events per result: published (Pub/Sub acknowledged), outboxed (kept in the Redis outbox "
    "while Pub/Sub is unreachable) or dropped (the outbox full or unreachable).",
    ["result"],
    registry=REGISTRY,
)
ANALYTICS_OUTBOX = Gauge(
    "pog_analytics_outbox_length",
    "Analytics events waiting in the Redis outbox (analytics:outbox) for Pub/Sub, as last read here.",
    registry=REGISTRY,
)
for _result in ("published", "outboxed", "dropped"):
    ANALYTICS_EVENTS.labels(result=_result)


def count_analytics(result: str, events: int = 1) -> None:
    if events > 0:
        ANALYTICS_EVENTS.labels(result=result).inc(events)


def set_analytics_outbox(length: int) -> None:
    ANALYTICS_OUTBOX.set(length)


for _result in ("published", "unchanged"):
    LIVE_PUBLISHES.labels(result=_result)
for _kind in ("latest", "full", "segment"):
    LIVE_RENDERS.labels(kind=_kind)

#: Cache names of monitoring/metrics/cache-requests.yaml, by the Redis key's shape
#: (docs/architecture.md#redis-keys-and-ttls).
_CACHE_BY_PREFIX = (
    ("leaderboard:", "leaderboard"),
    ("activeEvents", "events"),
    ("hotItems", "hot_items"),
)


def cache_name(key: str) -> str:
    if key.startswith("user:"):
        kind = key.rsplit(":", 1)[-1]
        return kind if kind in {"profile", "inventory", "stats"} else "other"
    for prefix, name in _CACHE_BY_PREFIX:
        if key.startswith(prefix):
            return name
    return "other"


def count_cache_lookup(key: str, hit: bool) -> None:
    CACHE_REQUESTS.labels(cache=cache_name(key), result="hit" if hit else "miss").inc()


def count_app_check(route: str, outcome: str) -> None:
    APP_CHECK.labels(route=route, outcome=outcome).inc()


def count_board_pending() -> None:
    LEADERBOARD_PENDING.inc()


def count_reconciled(games: int) -> None:
    LEADERBOARD_RECONCILED.inc(games)


def count_live_publish(published: bool) -> None:
    LIVE_PUBLISHES.labels(result="published" if published else "unchanged").inc()


def count_live_render(kind: str) -> None:
    LIVE_RENDERS.labels(kind=kind).inc()


def count_push_sent() -> None:
    PUSH_SENT.inc()


def count_push_failure(reason: str, messages: int = 1) -> None:
    PUSH_FAILURES.labels(reason=reason if reason in PUSH_FAILURE_REASONS else "other").inc(messages)


@contextmanager
def firestore_timer(operation: str, database: str = "(default)") -> Iterator[None]:
    """Time one Firestore call (get, query, write, transaction or batch), failures included."""
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed_ms = (time.perf_counter() - start) * 1000
        FIRESTORE_LATENCY_MS.labels(database=database, operation=operation).observe(elapsed_ms)


def observe_request(method: str, route: str, status: int, latency_ms: float) -> None:
    HTTP_REQUESTS.labels(method=method, route=route, status_class=f"{status // 100}xx").inc()
    HTTP_LATENCY_MS.labels(method=method, route=route).observe(latency_ms)


def render() -> bytes:
    return generate_latest(REGISTRY)
