"""Every metric an alert or SLO reads is emitted: by Google Cloud, or by the app (metrics or logs).

Already covered elsewhere, not repeated: tests/infra/monitoring/test_definitions.py checks that each alert's
metric is defined in monitoring/metrics/ or GCP_METRICS; tests/infra/stacks/test_observability.py checks, per
stack and phase, that every alert policy reaches a notification channel (prod pages critical and error)
and that the metrics exist before the policies reading them; policy rule "alert channels" does too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core import metrics as app_metrics
from infra import monitoring as defs

pytestmark = pytest.mark.unit

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
    "run.googleapis.com/job/completed_execution_count": "cloud_run_job",
    "firestore.googleapis.com/document/read_count": "firestore_instance",
    "firestore.googleapis.com/document/write_count": "firestore_instance",
    "monitoring.googleapis.com/uptime_check/check_passed": "uptime_url",
    "pubsub.googleapis.com/subscription/num_undelivered_messages": "pubsub_subscription",
}
#: Log sources Google Cloud writes by itself (a log-based metric on them needs nothing from the app).
GCP_LOG_RESOURCES = {"cloud_scheduler_job", "http_load_balancer", "audited_resource"}


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
            elif isinstance(condition, defs.PromqlCondition):
                for metric_id in condition.metrics:
                    readers.setdefault(metric_id, set()).add(alert.id)
                continue
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
    read = read_metrics(definitions)
    assert {"run.googleapis.com/request_count", "firestore-latency", "payment-failed"} <= set(read)
    for metric, readers in read.items():
        assert metric in KNOWN_GCP_METRICS or metric in definitions.metrics, (
            f"{sorted(readers)} read {metric}: neither a known Google Cloud metric nor monitoring/metrics/"
        )


def _prometheus(definitions: defs.MonitoringDefinitions) -> list[defs.PrometheusMetricDefinition]:
    metrics = definitions.metrics.values()
    return [m for m in metrics if isinstance(m, defs.PrometheusMetricDefinition)]


@pytest.mark.parametrize(
    "metric_id", ["cache-requests", "firestore-latency", "push-sent", "push-failed", "guard-fallback"]
)
def test_prometheus_metric_is_registered_by_the_app(
    definitions: defs.MonitoringDefinitions, metric_id: str
) -> None:
    metric = definitions.metrics[metric_id]
    assert isinstance(metric, defs.PrometheusMetricDefinition)
    collectors = app_collectors()
    assert metric.name in collectors, f"{metric_id} must be registered as {metric.name} (app/core/metrics.py)"
    kind, labels = collectors[metric.name]
    assert kind == metric.prometheus_type, (metric.name, kind)
    assert labels == {label.key for label in metric.labels}, f"{metric.name} labels {labels}"


def test_the_series_alerts_read_are_in_the_exposition(definitions: defs.MonitoringDefinitions) -> None:
    """What the sidecar scrapes: /metrics text, parsed as Prometheus parses it (no `_created` series)."""
    app_metrics.count_cache_lookup("user:u1:profile", hit=True)
    with app_metrics.firestore_timer("get"):
        pass
    exposed = {
        sample.name
        for family in text_string_to_metric_families(app_metrics.render().decode())
        for sample in family.samples
    }
    assert not {name for name in exposed if name.endswith("_created")}
    for metric in _prometheus(definitions):
        assert set(metric.series_names) <= exposed, (metric.id, metric.series_names)
    for alert in definitions.alerts:
        for condition in alert.conditions:
            if isinstance(condition, defs.PromqlCondition):
                read = set(re.findall(r"\bpog_[a-z0-9_]+", condition.query))
                assert read, alert.id
                assert read <= exposed, f"{alert.id} reads {sorted(read - exposed)}"


def test_every_prometheus_metric_read_is_covered(definitions: defs.MonitoringDefinitions) -> None:
    read = set(read_metrics(definitions))
    assert {m.id for m in _prometheus(definitions) if m.id in read} <= {
        "cache-requests",
        "firestore-latency",
        "push-sent",
        "push-failed",
        "guard-fallback",
        "analytics-events",
    }
