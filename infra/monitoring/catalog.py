"""The vocabulary of monitoring/'s definitions: alert sets, severities, Cloud Monitoring's aligners,
reducers and comparisons, and the Google Cloud metrics an alert may name without defining them."""

from __future__ import annotations

from typing import Literal

Severity = Literal["critical", "error", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "error", "warning")
ALERT_SETS: tuple[str, ...] = ("core", "capacity", "multi_region")
RUNBOOK_SECTIONS: tuple[str, ...] = ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation")

COMPARISONS: dict[str, str] = {
    ">": "COMPARISON_GT",
    ">=": "COMPARISON_GE",
    "<": "COMPARISON_LT",
    "<=": "COMPARISON_LE",
}
ALIGNERS: frozenset[str] = frozenset(
    {
        "ALIGN_DELTA", "ALIGN_RATE", "ALIGN_INTERPOLATE", "ALIGN_NEXT_OLDER", "ALIGN_MIN", "ALIGN_MAX",
        "ALIGN_MEAN", "ALIGN_COUNT", "ALIGN_SUM", "ALIGN_STDDEV", "ALIGN_COUNT_TRUE", "ALIGN_COUNT_FALSE",
        "ALIGN_FRACTION_TRUE", "ALIGN_PERCENTILE_99", "ALIGN_PERCENTILE_95", "ALIGN_PERCENTILE_50",
        "ALIGN_PERCENTILE_05", "ALIGN_PERCENT_CHANGE",
    }
)  # fmt: skip
REDUCERS: frozenset[str] = frozenset(
    {
        "REDUCE_NONE", "REDUCE_MEAN", "REDUCE_MIN", "REDUCE_MAX", "REDUCE_SUM", "REDUCE_STDDEV",
        "REDUCE_COUNT", "REDUCE_COUNT_TRUE", "REDUCE_COUNT_FALSE", "REDUCE_FRACTION_TRUE",
        "REDUCE_PERCENTILE_99", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_05",
    }
)  # fmt: skip
PrometheusType = Literal["counter", "gauge", "histogram"]
PROMETHEUS_TYPES: tuple[PrometheusType, ...] = ("counter", "gauge", "histogram")
#: The series a Prometheus family is exposed as (prometheus_client's text format).
PROMETHEUS_SERIES: dict[str, tuple[str, ...]] = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}

# Metrics Google Cloud emits by itself that alerts may name directly (metric type -> monitored resource).
# Anything else must be defined in monitoring/metrics/ so the program creates it before the alert.
GCP_METRICS: dict[str, str] = {
    "run.googleapis.com/request_count": "cloud_run_revision",
    "run.googleapis.com/request_latencies": "cloud_run_revision",
    "run.googleapis.com/container/instance_count": "cloud_run_revision",
    "run.googleapis.com/container/cpu/utilizations": "cloud_run_revision",
    "run.googleapis.com/container/memory/utilizations": "cloud_run_revision",
    "run.googleapis.com/job/completed_execution_count": "cloud_run_job",
    "firestore.googleapis.com/document/read_count": "firestore_instance",
    "firestore.googleapis.com/document/write_count": "firestore_instance",
    "monitoring.googleapis.com/uptime_check/check_passed": "uptime_url",
    "pubsub.googleapis.com/subscription/num_undelivered_messages": "pubsub_subscription",
}
UPTIME_METRIC = "monitoring.googleapis.com/uptime_check/check_passed"
#: Where GCP_METRICS is defined, for the messages that tell a reader to extend it.
CATALOG_FILE = "infra/monitoring/catalog.py"

UptimeCheck = Literal["api", "region", "any_region"]
UPTIME_CHECKS: tuple[UptimeCheck, ...] = ("api", "region", "any_region")
UptimeState = Literal["failing", "passing"]
UPTIME_STATES: tuple[UptimeState, ...] = ("failing", "passing")
