"""The validated monitoring definitions the observability stack declares resources from.

models.py parses monitoring/'s YAML into these; they carry no validation of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from infra.monitoring.catalog import (
    GCP_METRICS,
    PROMETHEUS_SERIES,
    PrometheusType,
    Severity,
    UptimeCheck,
    UptimeState,
)


@dataclass(frozen=True)
class Series:
    """A metric and the filter clauses ANDed to ``metric.type``."""

    metric: str  # a key of GCP_METRICS or the id of a metric definition
    filter: str


@dataclass(frozen=True)
class Aggregation:
    aligner: str
    reducer: str
    group_by: tuple[str, ...]
    window: str


@dataclass(frozen=True)
class ThresholdCondition:
    name: str
    series: Series
    aggregation: Aggregation
    comparison: str  # COMPARISON_*
    threshold: float
    duration: str


@dataclass(frozen=True)
class RatioCondition:
    name: str
    numerator: Series
    denominator: Series
    aggregation: Aggregation
    comparison: str
    threshold: float
    duration: str


@dataclass(frozen=True)
class UptimeCondition:
    """``failing``: more than one checker location fails; ``passing``: most locations succeed."""

    name: str
    check: UptimeCheck
    state: UptimeState
    window: str
    duration: str


@dataclass(frozen=True)
class PromqlCondition:
    """A PromQL query over the app's Prometheus metrics; an alert fires while it returns a series."""

    name: str
    query: str
    duration: str
    evaluation_interval: str
    metrics: tuple[str, ...]  # ids of the metric definitions the query reads


Condition = ThresholdCondition | RatioCondition | UptimeCondition | PromqlCondition


@dataclass(frozen=True)
class AlertDefinition:
    id: str
    display_name: str
    severity: Severity
    owner: str
    alert_set: str  # `set:` in the YAML
    runbook: str  # path relative to the repository root
    summary: str
    conditions: tuple[Condition, ...]
    combiner: Literal["OR", "AND"]
    per_region: bool
    auto_close: str
    source: Path

    def metric_ids(self) -> set[str]:
        """Ids of the metric definitions this alert reads."""
        ids: set[str] = set()
        for c in self.conditions:
            if isinstance(c, ThresholdCondition):
                ids.add(c.series.metric)
            elif isinstance(c, RatioCondition):
                ids.update((c.numerator.metric, c.denominator.metric))
            elif isinstance(c, PromqlCondition):
                ids.update(c.metrics)
        return {i for i in ids if i not in GCP_METRICS}


@dataclass(frozen=True)
class MetricLabel:
    key: str
    description: str
    extractor: str | None = None  # log-based metrics: EXTRACT(...) expression


@dataclass(frozen=True)
class LogMetricDefinition:
    """A counter of matching log entries: ``logging.googleapis.com/user/<prefix>-<id>``."""

    id: str
    description: str
    filter: str  # may contain {prefix}
    labels: tuple[MetricLabel, ...]
    source: Path

    def physical_name(self, prefix: str) -> str:
        return f"{prefix}-{self.id}"

    def metric_type(self, prefix: str) -> str:
        return f"logging.googleapis.com/user/{self.physical_name(prefix)}"


@dataclass(frozen=True)
class PrometheusMetricDefinition:
    """A metric the app serves on ``/metrics``; the Cloud Run sidecar writes it to Managed Prometheus.

    Managed Prometheus creates the descriptor itself, named after the exposed series and its kind:
    counter ``pog_x`` is ``prometheus.googleapis.com/pog_x_total/counter``.
    """

    id: str
    name: str  # the family name the app registers (prometheus_client), e.g. pog_cache_requests
    prometheus_type: PrometheusType
    description: str
    labels: tuple[MetricLabel, ...]
    source: Path

    @property
    def series_names(self) -> tuple[str, ...]:
        """The names PromQL reads, e.g. pog_latency_ms_bucket, _sum and _count for a histogram."""
        return tuple(self.name + suffix for suffix in PROMETHEUS_SERIES[self.prometheus_type])

    def metric_type(self, prefix: str) -> str:
        exposed = self.name + ("_total" if self.prometheus_type == "counter" else "")
        return f"prometheus.googleapis.com/{exposed}/{self.prometheus_type}"


MetricDefinition = LogMetricDefinition | PrometheusMetricDefinition


@dataclass(frozen=True)
class BurnRateAlert:
    """One multi-window burn-rate policy: both lookbacks above ``burn_rate`` at once (combiner AND)."""

    id: str  # fast | medium | slow ...: the policy is ``<slo id>-<id>-burn``
    severity: Severity
    burn_rate: float
    long_window: str  # e.g. 3600s
    short_window: str  # e.g. 300s


@dataclass(frozen=True)
class RatioSli:
    """Request-based SLI: good = total - bad (``good_total_ratio`` with bad and total filters)."""

    bad: Series
    total: Series


@dataclass(frozen=True)
class DistributionCutSli:
    """Request-based SLI: good = requests whose value is at most ``max`` (``distribution_cut``)."""

    series: Series
    max: float


@dataclass(frozen=True)
class SloDefinition:
    id: str
    display_name: str
    owner: str
    alert_set: str
    runbook: str
    summary: str
    goal: float
    rolling_days: int
    sli: RatioSli | DistributionCutSli
    burn_rate_alerts: tuple[BurnRateAlert, ...]
    source: Path


@dataclass(frozen=True)
class MonitoringDefinitions:
    alerts: tuple[AlertDefinition, ...]
    metrics: Mapping[str, MetricDefinition]
    slos: tuple[SloDefinition, ...] = ()
    dashboards: Mapping[str, str] = dataclasses.field(default_factory=dict)  # file stem -> JSON text

    def select(self, sets: Iterable[str]) -> MonitoringDefinitions:
        """Only the alerts and SLOs of these sets, and only the metrics the alerts read."""
        wanted = set(sets)
        alerts = tuple(a for a in self.alerts if a.alert_set in wanted)
        slos = tuple(s for s in self.slos if s.alert_set in wanted)
        used: set[str] = set().union(*(a.metric_ids() for a in alerts))
        return MonitoringDefinitions(
            alerts, {k: v for k, v in self.metrics.items() if k in used}, slos, self.dashboards
        )
