"""Every metric an alert or SLO reads is emitted: by Google Cloud, or by the app (metrics or logs).

Already covered elsewhere, not repeated: tests/monitoring/test_definitions.py checks that each alert's
metric is defined in monitoring/metrics/ or GCP_METRICS; tests/infra/test_observability.py checks, per
stack and phase, that every alert policy reaches a notification channel (prod pages critical and error)
and that the metrics exist before the policies reading them; policy rule "alert channels" does too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app.core import metrics as app_metrics
from infra.stacks import monitoring_defs as defs

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"

#: Google Cloud metric types the definitions may read, each documented in Google Cloud's metrics list,
#: with the monitored resource that writes it. Curated here, apart from GCP_METRICS, so that a type
#: added there by mistake is questioned.
KNOWN_GCP_METRICS = {
    "run.googleapis.com/request_count": "cloud_run_revision",
    "run.googleapis.com/request_latencies": "cloud_run_revision",
    "run.googleapis.com/container/instance_count": "cloud_run_revision",
    "run.googleapis.com/container/cpu/utilizations": "cloud_run_revision",
    "run.googleapis.com/container/memory/utilizations": "cloud_run_revision",
    "firestore.googleapis.com/document/read_count": "firestore_instance",
    "firestore.googleapis.com/document/write_count": "firestore_instance",
    "monitoring.googleapis.com/uptime_check/check_passed": "uptime_url",
}
#: Log sources Google Cloud writes by itself (a log-based metric on them needs nothing from the app).
GCP_LOG_RESOURCES = {"cloud_scheduler_job", "http_load_balancer", "audited_resource"}
#: Custom metric kinds and the Prometheus collector type the app uses for each.
PROMETHEUS_TYPE = {("CUMULATIVE", "INT64"): "counter", ("CUMULATIVE", "DISTRIBUTION"): "histogram"}
_CUSTOM_PREFIX = "custom.googleapis.com/pog/"


@pytest.fixture(scope="module")
def definitions() -> defs.MonitoringDefinitions:
    return defs.load(ROOT / "monitoring")


def read_metrics(definitions: defs.MonitoringDefinitions) -> dict[str, set[str]]:
    """metric (GCP type or metric id) -> the alerts and SLOs reading it."""
    readers: dict[str, set[str]] = {}
    for alert in definitions.alerts:
        for condition in alert.conditions:
            if isinstance(condition, defs.ThresholdCondition):
                series = [condition.series]
            elif isinstance(condition, defs.RatioCondition):
                series = [condition.numerator, condition.denominator]
            else:
                readers.setdefault(defs.UPTIME_METRIC, set()).add(alert.id)
                continue
            for s in series:
                readers.setdefault(s.metric, set()).add(alert.id)
    for slo in definitions.slos:
        sli = slo.sli
        series = [sli.bad, sli.total] if isinstance(sli, defs.RatioSli) else [sli.series]
        for s in series:
            readers.setdefault(s.metric, set()).add(slo.id)
    return readers


def prometheus_name(metric: defs.CustomMetricDefinition) -> str:
    """custom.googleapis.com/pog/firestore_latency (unit ms) -> pog_firestore_latency_ms."""
    assert metric.type.startswith(_CUSTOM_PREFIX), metric.type
    name = "pog_" + metric.type.removeprefix(_CUSTOM_PREFIX).replace("/", "_")
    return name if metric.unit in {"1", ""} else f"{name}_{metric.unit.lower()}"


def app_collectors() -> dict[str, tuple[str, set[str]]]:
    """Prometheus name -> (type, label names) of every collector app/core/metrics.py registers."""
    found: dict[str, tuple[str, set[str]]] = {}
    for collector in app_metrics.REGISTRY._collector_to_names:  # the registry's own index
        name = getattr(collector, "_name", None)
        if isinstance(name, str):
            found[name] = (str(getattr(collector, "_type", "")), set(getattr(collector, "_labelnames", ())))
    return found


def logged_events(root: Path = APP) -> set[str]:
    """String constants of the app's code (docstrings excluded): candidate `event` values it logs."""
    constants: set[str] = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                constants.add(node.value)
    return constants


def test_gcp_metrics_are_known_types() -> None:
    assert defs.GCP_METRICS.items() <= KNOWN_GCP_METRICS.items(), (
        "GCP_METRICS lists a type this test does not know: check it in Google Cloud's metrics list"
        " and add it to KNOWN_GCP_METRICS"
    )


def test_every_metric_read_is_gcp_or_defined(definitions: defs.MonitoringDefinitions) -> None:
    for metric, readers in read_metrics(definitions).items():
        assert metric in KNOWN_GCP_METRICS or metric in definitions.metrics, (
            f"{sorted(readers)} read {metric}: neither a known Google Cloud metric nor monitoring/metrics/"
        )


def _custom(definitions: defs.MonitoringDefinitions) -> list[defs.CustomMetricDefinition]:
    metrics = definitions.metrics.values()
    return [m for m in metrics if isinstance(m, defs.CustomMetricDefinition)]


@pytest.mark.parametrize("metric_id", ["cache-requests", "firestore-latency"])
def test_custom_metric_is_emitted_by_the_app(definitions: defs.MonitoringDefinitions, metric_id: str) -> None:
    metric = definitions.metrics[metric_id]
    assert isinstance(metric, defs.CustomMetricDefinition)
    collectors = app_collectors()
    name = prometheus_name(metric)
    assert name in collectors, f"{metric.type} must be written by the app as {name} (app/core/metrics.py)"
    kind, labels = collectors[name]
    assert kind == PROMETHEUS_TYPE[(metric.metric_kind, metric.value_type)], (name, kind)
    assert labels == {label.key for label in metric.labels}, f"{name} labels {labels}"


def test_every_custom_metric_read_is_covered(definitions: defs.MonitoringDefinitions) -> None:
    read = set(read_metrics(definitions))
    assert {m.id for m in _custom(definitions) if m.id in read} <= {"cache-requests", "firestore-latency"}


def _log_metrics(definitions: defs.MonitoringDefinitions) -> list[defs.LogMetricDefinition]:
    read = set(read_metrics(definitions))
    metrics = definitions.metrics.values()
    return [m for m in metrics if isinstance(m, defs.LogMetricDefinition) and m.id in read]


def test_log_metrics_read_gcp_logs_or_app_events(definitions: defs.MonitoringDefinitions) -> None:
    for metric in _log_metrics(definitions):
        resources = set(re.findall(r'resource\.type="([\w.]+)"', metric.filter))
        assert resources, f"{metric.id}: the filter must name its resource.type"
        if resources <= GCP_LOG_RESOURCES:
            continue
        assert resources == {"cloud_run_revision"}, f"{metric.id}: {resources}"
        assert re.search(r'jsonPayload\.event="(\w+)"', metric.filter), (
            f"{metric.id}: an app log metric must select an event (jsonPayload.event=...)"
        )


@pytest.mark.parametrize("metric_id", ["payment-failed", "fraud-flagged"])
def test_app_logs_the_event_its_log_metric_counts(
    definitions: defs.MonitoringDefinitions, metric_id: str
) -> None:
    metric = definitions.metrics[metric_id]
    assert isinstance(metric, defs.LogMetricDefinition)
    event = re.search(r'jsonPayload\.event="(\w+)"', metric.filter)
    assert event, metric.filter
    logged = event[1] in logged_events()
    assert logged, (
        f"monitoring/metrics/{metric_id}.yaml counts log entries with event {event[1]!r}, which no code in"
        f" app/ logs: the alert reading it can never fire (log it as extra={{'event': {event[1]!r}, ...}})"
    )


def test_every_app_log_metric_read_is_covered(definitions: defs.MonitoringDefinitions) -> None:
    app_log = {m.id for m in _log_metrics(definitions) if "cloud_run_revision" in m.filter}
    assert app_log <= {"payment-failed", "fraud-flagged"}, app_log


def test_event_search_ignores_docstrings(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        '"""Logs payment_failed."""\n\ndef f():\n    """x"""\n    return {"event": "ok"}\n'
    )
    assert logged_events(tmp_path) == {"event", "ok"}
