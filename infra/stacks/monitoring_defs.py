"""Alert and metric definitions read from ``monitoring/`` (format: monitoring/README.md).

Every file is validated before any resource is declared; all problems are reported at once, each
naming the file, the field and the fix. Definitions of every set are validated in every phase, so a
broken phase-3 alert fails the phase-1 plan instead of surprising the promotion.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pulumi
import yaml

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
_PROMETHEUS_SERIES: dict[str, tuple[str, ...]] = {
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

UptimeCheck = Literal["api", "region", "any_region"]
UPTIME_CHECKS: tuple[UptimeCheck, ...] = ("api", "region", "any_region")
UptimeState = Literal["failing", "passing"]
UPTIME_STATES: tuple[UptimeState, ...] = ("failing", "passing")

_ID = re.compile(r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")
_LABEL_VALUE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_DURATION = re.compile(r"^(\d+)s$")
_PROMETHEUS_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PROMQL_METRIC = re.compile(r"\bpog_[a-z0-9_]+")
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class DefinitionError(pulumi.RunError):
    """Raised before any resource is declared; ``pulumi`` prints it without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"monitoring definitions have {len(problems)} problem(s) (format: monitoring/README.md):\n{lines}"
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
        return tuple(self.name + suffix for suffix in _PROMETHEUS_SERIES[self.prometheus_type])

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


class _Fields:
    """Typed access to one YAML mapping; every problem names the file and the field."""

    def __init__(self, file: str, data: Mapping[str, Any], problems: list[str], path: str = "") -> None:
        self.file, self.data, self.problems, self.path = file, data, problems, path

    def where(self, name: str) -> str:
        if not name:
            return self.path
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, message: str) -> None:
        self.problems.append(f"{self.file}: `{self.where(name)}` {message}")

    def has(self, name: str) -> bool:
        return name in self.data

    def text(self, name: str, default: str | None = None, pattern: re.Pattern[str] | None = None) -> str:
        value = self.data.get(name, default)
        if value is None:
            self.fail(name, "is required")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(name, f"must be a non-empty string; got {value!r}")
            return ""
        if pattern is not None and not pattern.match(value):
            self.fail(name, f"must match {pattern.pattern}; got {value!r}")
        return value.strip()

    def choice(self, name: str, options: Iterable[str], default: str | None = None) -> str:
        allowed = tuple(options)
        value = self.data.get(name, default)
        if value not in allowed:
            self.fail(name, f"must be one of {', '.join(allowed)}; got {value!r}")
            return allowed[0]
        return str(value)

    def number(self, name: str) -> float:
        value = self.data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(name, f"must be a number; got {value!r}")
            return 0.0
        return float(value)

    def duration(self, name: str, default: str | None = None, minimum: int = 0) -> str:
        value = self.data.get(name, default)
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None or int(match[1]) < minimum or int(match[1]) % 60:
            self.fail(
                name,
                f"must be whole minutes written in seconds, at least {minimum}s (e.g. 300s); got {value!r}",
            )
            return default or f"{minimum}s"
        return str(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            self.fail(name, f"must be true or false; got {value!r}")
            return default
        return value

    def mapping(self, name: str) -> _Fields:
        value = self.data.get(name)
        if not isinstance(value, dict):
            self.fail(name, f"must be a mapping; got {value!r}")
            value = {}
        return _Fields(self.file, value, self.problems, self.where(name))

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(name, f"must be a list of strings; got {value!r}")
            return ()
        return tuple(value)

    def unknown(self, known: Iterable[str]) -> None:
        for name in sorted(set(self.data) - set(known)):
            self.fail(name, f"is not a known field (known: {', '.join(sorted(known))})")


def _read_yaml(path: Path, rel: str, problems: list[str]) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        problems.append(f"{rel}: is not valid YAML: {exc}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{rel}: must be a YAML mapping (see monitoring/README.md)")
        return None
    return data


def _labels(f: _Fields, log_based: bool) -> tuple[MetricLabel, ...]:
    raw = f.data.get("labels", {})
    if not isinstance(raw, dict):
        f.fail("labels", f"must be a mapping of label key to its description; got {raw!r}")
        return ()
    labels: list[MetricLabel] = []
    for key in raw:
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            f.fail("labels", f"key {key!r} must be lowercase letters, digits and underscores")
            continue
        spec = f.mapping("labels").mapping(key)
        spec.unknown(("description", "extract") if log_based else ("description",))
        extractor = spec.text("extract") if log_based else None
        if extractor is not None and extractor and not extractor.startswith(("EXTRACT(", "REGEXP_EXTRACT(")):
            spec.fail("extract", f"must be EXTRACT(field) or REGEXP_EXTRACT(field, regex); got {extractor!r}")
        labels.append(MetricLabel(key, spec.text("description"), extractor))
    return tuple(labels)


def _metric(path: Path, rel: str, problems: list[str]) -> MetricDefinition | None:
    data = _read_yaml(path, rel, problems)
    if data is None:
        return None
    f = _Fields(rel, data, problems)
    metric_id = f.text("id", pattern=_ID)
    if metric_id and metric_id != path.stem:
        f.fail("id", f"must equal the file name without .yaml ({path.stem!r}); got {metric_id!r}")
    kind = f.choice("kind", ("log", "prometheus"))
    if kind == "log":
        f.unknown(("id", "kind", "description", "filter", "labels"))
        return LogMetricDefinition(
            id=metric_id,
            description=f.text("description"),
            filter=f.text("filter"),
            labels=_labels(f, log_based=True),
            source=path,
        )
    f.unknown(("id", "kind", "name", "type", "description", "labels"))
    prometheus_type: Any = f.choice("type", PROMETHEUS_TYPES)
    name = f.text("name", pattern=_PROMETHEUS_NAME)
    if name.endswith(("_total", "_bucket", "_sum", "_count")):
        f.fail("name", f"is the family name without the series suffix (e.g. {name.rsplit('_', 1)[0]!r})")
    return PrometheusMetricDefinition(
        id=metric_id,
        name=name,
        prometheus_type=prometheus_type,
        description=f.text("description"),
        labels=_labels(f, log_based=False),
        source=path,
    )


def _series(f: _Fields, metrics: Mapping[str, MetricDefinition]) -> Series:
    f.unknown(("metric", "filter"))
    metric = f.text("metric")
    if metric and metric not in GCP_METRICS and metric not in metrics:
        f.fail(
            "metric",
            f"names an unknown metric {metric!r}: use a Google Cloud metric listed in GCP_METRICS"
            " (infra/stacks/monitoring_defs.py) or the id of a file in monitoring/metrics/",
        )
    extra = f.data.get("filter", "")
    if not isinstance(extra, str):
        f.fail("filter", f"must be a Monitoring filter string; got {extra!r}")
        extra = ""
    if "metric.type" in extra:
        f.fail("filter", "must not set metric.type (the loader adds it from `metric`)")
    return Series(metric, extra.strip())


def _aggregation(f: _Fields) -> Aggregation:
    aligner = f.text("aligner")
    if aligner and aligner not in ALIGNERS:
        f.fail("aligner", f"must be one of {', '.join(sorted(ALIGNERS))}; got {aligner!r}")
    reducer = f.text("reducer", default="REDUCE_NONE")
    if reducer not in REDUCERS:
        f.fail("reducer", f"must be one of {', '.join(sorted(REDUCERS))}; got {reducer!r}")
    group_by = f.strings("group_by")
    if group_by and reducer == "REDUCE_NONE":
        f.fail("group_by", "needs a `reducer` (e.g. REDUCE_SUM) to combine the series of each group")
    return Aggregation(aligner, reducer, group_by, f.duration("window", minimum=60))


_AGGREGATION_FIELDS = ("aligner", "reducer", "group_by", "window", "comparison", "threshold", "duration")
_CONDITION_SHAPES = ("threshold", "ratio", "uptime", "promql")


def _condition(f: _Fields, metrics: Mapping[str, MetricDefinition]) -> Condition | None:
    shapes = [s for s in _CONDITION_SHAPES if f.has(s)]
    others = sorted(set(f.data) - {"name", *_CONDITION_SHAPES})
    if len(shapes) != 1 or others:
        got = ", ".join(shapes + others) or "nothing"
        f.fail(
            "",
            f"must have `name` and exactly one condition shape of {', '.join(_CONDITION_SHAPES)};"
            f" got {got}. Other shapes are not supported: express the condition as one of these",
        )
        return None
    name = f.text("name")
    body = f.mapping(shapes[0])
    if shapes[0] == "promql":
        return _promql(name, body, metrics)
    if shapes[0] == "uptime":
        body.unknown(("check", "state", "window", "duration"))
        check: Any = body.choice("check", UPTIME_CHECKS)
        state: Any = body.choice("state", UPTIME_STATES)
        return UptimeCondition(
            name=name,
            check=check,
            state=state,
            window=body.duration("window", default="300s", minimum=60),
            duration=body.duration("duration", default="60s"),
        )
    comparison = COMPARISONS.get(str(body.data.get("comparison")))
    if comparison is None:
        body.fail(
            "comparison", f"must be one of {' '.join(COMPARISONS)}; got {body.data.get('comparison')!r}"
        )
        comparison = "COMPARISON_GT"
    if shapes[0] == "threshold":
        body.unknown(("metric", "filter", *_AGGREGATION_FIELDS))
        series_fields = {k: v for k, v in body.data.items() if k in ("metric", "filter")}
        return ThresholdCondition(
            name=name,
            series=_series(_Fields(body.file, series_fields, body.problems, body.path), metrics),
            aggregation=_aggregation(body),
            comparison=comparison,
            threshold=body.number("threshold"),
            duration=body.duration("duration", default="0s"),
        )
    body.unknown(("numerator", "denominator", *_AGGREGATION_FIELDS))
    return RatioCondition(
        name=name,
        numerator=_series(body.mapping("numerator"), metrics),
        denominator=_series(body.mapping("denominator"), metrics),
        aggregation=_aggregation(body),
        comparison=comparison,
        threshold=body.number("threshold"),
        duration=body.duration("duration", default="0s"),
    )


def _promql(name: str, body: _Fields, metrics: Mapping[str, MetricDefinition]) -> PromqlCondition:
    body.unknown(("query", "duration", "evaluation_interval"))
    query = " ".join(body.text("query").split())
    by_series = {
        series: metric.id
        for metric in metrics.values()
        if isinstance(metric, PrometheusMetricDefinition)
        for series in metric.series_names
    }
    read: list[str] = []
    for series in _PROMQL_METRIC.findall(query):
        if series in by_series:
            read.append(by_series[series])
        else:
            body.fail(
                "query",
                f"reads {series!r}, which no `kind: prometheus` file in monitoring/metrics/ exposes"
                f" (known series: {', '.join(sorted(by_series)) or 'none'})",
            )
    if query and not read:
        body.fail("query", "must read at least one of the app's metrics (pog_...) in monitoring/metrics/")
    return PromqlCondition(
        name=name,
        query=query,
        duration=body.duration("duration", default="0s"),
        evaluation_interval=body.duration("evaluation_interval", default="60s", minimum=30),
        metrics=tuple(dict.fromkeys(read)),
    )


_ALERT_FIELDS = (
    "id", "display_name", "severity", "owner", "set", "runbook", "summary", "conditions", "combiner",
    "per_region", "auto_close",
)  # fmt: skip


def _alert(
    path: Path, rel: str, repo_root: Path, metrics: Mapping[str, MetricDefinition], problems: list[str]
) -> AlertDefinition | None:
    data = _read_yaml(path, rel, problems)
    if data is None:
        return None
    f = _Fields(rel, data, problems)
    f.unknown(_ALERT_FIELDS)
    alert_id = f.text("id", pattern=_ID)
    if alert_id and alert_id != path.stem:
        f.fail("id", f"must equal the file name without .yaml ({path.stem!r}); got {alert_id!r}")
    severity: Any = f.choice("severity", SEVERITIES)
    alert_set = f.choice("set", ALERT_SETS)
    owner = f.text("owner", pattern=_LABEL_VALUE)
    runbook = f.text("runbook")
    if runbook:
        _check_runbook(f, repo_root, runbook)
    raw_conditions = data.get("conditions")
    conditions: list[Condition] = []
    if not isinstance(raw_conditions, list) or not raw_conditions:
        f.fail("conditions", "must be a non-empty list of conditions")
        raw_conditions = []
    for i, raw in enumerate(raw_conditions):
        if not isinstance(raw, dict):
            f.fail(f"conditions[{i}]", f"must be a mapping; got {raw!r}")
            continue
        condition = _condition(_Fields(rel, raw, problems, f"conditions[{i}]"), metrics)
        if condition is not None:
            conditions.append(condition)
    if len(conditions) > 1 and any(isinstance(c, PromqlCondition) for c in conditions):
        f.fail("conditions", "a promql condition must be the alert's only condition (Cloud Monitoring rule)")
    per_region = f.boolean("per_region", False)
    checks = {c.check for c in conditions if isinstance(c, UptimeCondition)}
    if checks & {"region", "any_region"} and alert_set != "multi_region":
        f.fail(
            "set",
            "must be multi_region: per-region uptime checks exist only when the API runs in several regions",
        )
    if per_region and alert_set != "multi_region":
        f.fail("per_region", "needs set: multi_region")
    if per_region and "{region}" not in str(data.get("display_name", "")):
        f.fail("display_name", "must contain {region} when per_region is true (one policy per region)")
    if "region" in checks and not per_region:
        f.fail("per_region", "must be true when a condition uses `check: region` (one policy per API region)")
    combiner: Any = f.choice("combiner", ("OR", "AND"), default="OR")
    return AlertDefinition(
        id=alert_id,
        display_name=f.text("display_name"),
        severity=severity,
        owner=owner,
        alert_set=alert_set,
        runbook=runbook,
        summary=f.text("summary"),
        conditions=tuple(conditions),
        combiner=combiner,
        per_region=per_region,
        auto_close=f.duration("auto_close", default="1800s", minimum=1800),
        source=path,
    )


def _check_runbook(f: _Fields, repo_root: Path, runbook: str) -> None:
    path = repo_root / runbook
    if not runbook.startswith("runbooks/") or not runbook.endswith(".md"):
        f.fail(
            "runbook",
            f"must be a Markdown file under runbooks/, e.g. runbooks/alerts/<id>.md; got {runbook!r}",
        )
    elif not path.is_file():
        f.fail(
            "runbook",
            f"names {runbook}, which does not exist: write it (sections: {', '.join(RUNBOOK_SECTIONS)})",
        )
    else:
        lines = {line.strip() for line in path.read_text().splitlines()}
        missing = [s for s in RUNBOOK_SECTIONS if s not in lines]
        if missing:
            f.fail("runbook", f"{runbook} lacks the section(s) {', '.join(missing)}: add them")


# --- SLOs ---------------------------------------------------------------------------------------

_SLO_FIELDS = (
    "id", "display_name", "owner", "set", "runbook", "summary", "goal", "rolling_days", "sli",
    "burn_rate_alerts",
)  # fmt: skip
_BURN_FIELDS = ("id", "severity", "burn_rate", "long_window", "short_window")
_SLI_METRICS = {
    "ratio": ("run.googleapis.com/request_count",),
    "distribution_cut": ("run.googleapis.com/request_latencies",),
}


def _slo(
    path: Path, rel: str, repo_root: Path, metrics: Mapping[str, MetricDefinition], problems: list[str]
) -> SloDefinition | None:
    data = _read_yaml(path, rel, problems)
    if data is None:
        return None
    f = _Fields(rel, data, problems)
    f.unknown(_SLO_FIELDS)
    slo_id = f.text("id", pattern=_ID)
    if slo_id and slo_id != path.stem:
        f.fail("id", f"must equal the file name without .yaml ({path.stem!r}); got {slo_id!r}")
    runbook = f.text("runbook")
    if runbook:
        _check_runbook(f, repo_root, runbook)
    goal = f.number("goal")
    if not 0.0 < goal < 1.0:
        f.fail("goal", f"must be a fraction between 0 and 1, e.g. 0.999; got {data.get('goal')!r}")
    days = data.get("rolling_days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 30:
        f.fail("rolling_days", f"must be a whole number of days from 1 to 30; got {days!r}")
        days = 28
    sli_fields = f.mapping("sli")
    shapes = [k for k in _SLI_METRICS if sli_fields.has(k)]
    sli: RatioSli | DistributionCutSli | None = None
    if len(shapes) != 1 or set(sli_fields.data) - set(_SLI_METRICS):
        sli_fields.fail(
            "", f"must have exactly one of {', '.join(_SLI_METRICS)}; got {sorted(sli_fields.data)}"
        )
    elif shapes[0] == "ratio":
        body = sli_fields.mapping("ratio")
        body.unknown(("bad", "total"))
        sli = RatioSli(_series(body.mapping("bad"), metrics), _series(body.mapping("total"), metrics))
    else:
        body = sli_fields.mapping("distribution_cut")
        body.unknown(("metric", "filter", "max"))
        series_fields = {k: v for k, v in body.data.items() if k in ("metric", "filter")}
        sli = DistributionCutSli(
            _series(_Fields(body.file, series_fields, body.problems, body.path), metrics), body.number("max")
        )
    if sli is not None:
        used = (sli.bad, sli.total) if isinstance(sli, RatioSli) else (sli.series,)
        for series in used:
            if series.metric and series.metric not in _SLI_METRICS[shapes[0]]:
                sli_fields.fail(
                    shapes[0], f"reads {series.metric}; SLOs here use {', '.join(_SLI_METRICS[shapes[0]])}"
                )
    raw_alerts = data.get("burn_rate_alerts")
    burns: list[BurnRateAlert] = []
    if not isinstance(raw_alerts, list) or not raw_alerts:
        f.fail("burn_rate_alerts", "must be a non-empty list (fast, medium, slow burn-rate policies)")
        raw_alerts = []
    for i, raw in enumerate(raw_alerts):
        b = _Fields(rel, raw if isinstance(raw, dict) else {}, problems, f"burn_rate_alerts[{i}]")
        b.unknown(_BURN_FIELDS)
        severity: Any = b.choice("severity", SEVERITIES)
        long_window = b.duration("long_window", minimum=60)
        short_window = b.duration("short_window", minimum=60)
        if int(short_window[:-1]) >= int(long_window[:-1]):
            b.fail("short_window", f"must be shorter than long_window ({long_window}); got {short_window}")
        if int(long_window[:-1]) >= days * 86_400:
            b.fail("long_window", f"must be shorter than the SLO's {days} days; got {long_window}")
        rate = b.number("burn_rate")
        if rate <= 0:
            b.fail("burn_rate", f"must be positive; got {rate!r}")
        burns.append(
            BurnRateAlert(b.text("id", pattern=_LABEL_VALUE), severity, rate, long_window, short_window)
        )
    ids = [b.id for b in burns]
    if len(set(ids)) != len(ids):
        f.fail("burn_rate_alerts", f"ids must be unique; got {ids}")
    return SloDefinition(
        id=slo_id,
        display_name=f.text("display_name"),
        owner=f.text("owner", pattern=_LABEL_VALUE),
        alert_set=f.choice("set", ALERT_SETS),
        runbook=runbook,
        summary=f.text("summary"),
        goal=goal,
        rolling_days=days,
        sli=sli or RatioSli(Series("", ""), Series("", "")),
        burn_rate_alerts=tuple(burns),
        source=path,
    )


# --- dashboards ---------------------------------------------------------------------------------

_FILTER_METRIC = re.compile(r'metric\.type\s*=\s*"([^"]+)"')


def dashboard_metric_types(dashboard: Any) -> set[str]:
    """Every ``metric.type="..."`` named by a filter anywhere in a dashboard's JSON."""
    found: set[str] = set()
    if isinstance(dashboard, dict):
        for key, value in dashboard.items():
            if key in ("filter", "denominatorFilter", "numeratorFilter") and isinstance(value, str):
                found.update(_FILTER_METRIC.findall(value))
            else:
                found |= dashboard_metric_types(value)
    elif isinstance(dashboard, list):
        for item in dashboard:
            found |= dashboard_metric_types(item)
    return found


def known_metric_types(metrics: Mapping[str, MetricDefinition], prefix: str = "{prefix}") -> set[str]:
    """Metric types a dashboard may chart: GCP_METRICS and the metrics defined in monitoring/metrics/."""
    return set(GCP_METRICS) | {m.metric_type(prefix) for m in metrics.values()}


def _dashboard(
    path: Path, rel: str, metrics: Mapping[str, MetricDefinition], problems: list[str]
) -> str | None:
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f"{rel}: is not valid JSON: {exc}")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("displayName"), str):
        problems.append(f"{rel}: must be a dashboard object with a `displayName`")
        return None
    layout = data.get("mosaicLayout")
    tiles = layout.get("tiles") if isinstance(layout, dict) else None
    if not isinstance(tiles, list) or not tiles:
        problems.append(f"{rel}: `mosaicLayout.tiles` must be a non-empty list of tiles")
        return None
    for i, tile in enumerate(tiles):
        if not isinstance(tile, dict) or not isinstance(tile.get("widget"), dict):
            problems.append(f"{rel}: `mosaicLayout.tiles[{i}]` needs a `widget`")
            continue
        if any(not isinstance(tile.get(k), int) for k in ("xPos", "yPos", "width", "height")):
            problems.append(f"{rel}: `mosaicLayout.tiles[{i}]` needs integer xPos, yPos, width and height")
        if tile.get("xPos", 0) + tile.get("width", 0) > 48:
            problems.append(f"{rel}: `mosaicLayout.tiles[{i}]` is wider than the 48-column grid")
    known = known_metric_types(metrics)
    referenced = dashboard_metric_types(data)
    if not referenced:
        problems.append(f"{rel}: charts no metric (no filter with metric.type=...)")
    for metric_type in sorted(referenced - known):
        problems.append(
            f"{rel}: charts the unknown metric {metric_type!r}: use a metric in GCP_METRICS"
            " (infra/stacks/monitoring_defs.py) or one defined in monitoring/metrics/"
            " (log-based: logging.googleapis.com/user/{prefix}-<id>)"
        )
    return text


def load(
    monitoring_dir: Path, *, sets: Iterable[str] | None = None, repo_root: Path | None = None
) -> MonitoringDefinitions:
    """Read and validate ``monitoring_dir``; return the alerts of ``sets`` (all when None)."""
    repo_root = repo_root or monitoring_dir.parent
    problems: list[str] = []

    def rel(path: Path) -> str:
        try:
            return str(path.relative_to(repo_root))
        except ValueError:
            return str(path)

    metrics: dict[str, MetricDefinition] = {}
    for path in sorted((monitoring_dir / "metrics").glob("*.yaml")):
        metric = _metric(path, rel(path), problems)
        if metric is not None:
            metrics[metric.id] = metric
    names = [m.name for m in metrics.values() if isinstance(m, PrometheusMetricDefinition)]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"monitoring/metrics: two definitions share the Prometheus name {duplicate}")

    alert_paths = sorted((monitoring_dir / "alerts").glob("*.yaml"))
    if not alert_paths:
        problems.append(f"{rel(monitoring_dir / 'alerts')}: no alert definitions (*.yaml) found")
    alerts = [a for p in alert_paths if (a := _alert(p, rel(p), repo_root, metrics, problems)) is not None]
    slos = [
        slo
        for p in sorted((monitoring_dir / "slos").glob("*.yaml"))
        if (slo := _slo(p, rel(p), repo_root, metrics, problems)) is not None
    ]
    clashes = {s.id for s in slos} & {a.id for a in alerts}
    for clash in sorted(clashes):
        problems.append(
            f"monitoring/slos/{clash}.yaml: `id` is also an alert id: runbooks are per id, rename one"
        )
    dashboards = {
        p.stem: text
        for p in sorted((monitoring_dir / "dashboards").glob("*.json"))
        if (text := _dashboard(p, rel(p), metrics, problems)) is not None
    }
    if sets is not None:
        for unknown in sorted(set(sets) - set(ALERT_SETS)):
            problems.append(f"alert set {unknown!r} is not one of {', '.join(ALERT_SETS)} (infra/phases.py)")
    if problems:
        raise DefinitionError(problems)
    definitions = MonitoringDefinitions(tuple(alerts), metrics, tuple(slos), dashboards)
    return definitions if sets is None else definitions.select(sets)
