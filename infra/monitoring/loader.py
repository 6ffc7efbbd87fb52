"""Read and validate monitoring/: every problem of every file at once, each naming file, field and fix.

Definitions of every set are validated in every phase, so a broken phase-3 alert fails the phase-1 plan
instead of surprising the promotion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import yaml
from pydantic import ValidationError

from infra.monitoring.catalog import ALERT_SETS
from infra.monitoring.dashboards import read_dashboard
from infra.monitoring.definitions import (
    AlertDefinition,
    MetricDefinition,
    MonitoringDefinitions,
    PrometheusMetricDefinition,
    SloDefinition,
)
from infra.monitoring.fields import FileContext
from infra.monitoring.models import AlertFile, SloFile, metric_model

_T = TypeVar("_T")


class DefinitionError(pulumi.RunError):
    """Raised before any resource is declared; ``pulumi`` prints it without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"monitoring definitions have {len(problems)} problem(s) (format: monitoring/README.md):\n{lines}"
        )


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("conditions", 0, "threshold", "metric")`` -> ``conditions[0].threshold.metric``."""
    if len(loc) >= 2 and loc[-1] == "[key]":
        loc = loc[:-2]  # a mapping's key: the message names the key, the path the mapping
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


class _Reader:
    """Reads the files of one tree, collecting their problems."""

    def __init__(self, repo_root: Path) -> None:
        self.repo_root = repo_root
        self.problems: list[str] = []
        self.metrics: dict[str, MetricDefinition] = {}
        self.invalid_metrics: set[str] = set()

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.repo_root))
        except ValueError:
            return str(path)

    def yaml_mapping(self, path: Path) -> dict[str, Any] | None:
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            self.problems.append(f"{self.rel(path)}: is not valid YAML: {exc}")
            return None
        if not isinstance(data, dict):
            self.problems.append(f"{self.rel(path)}: must be a YAML mapping (see monitoring/README.md)")
            return None
        return data

    def parse(self, path: Path, build: Callable[[dict[str, Any], FileContext], _T]) -> _T | None:
        """``build(data, context)``'s result, or None with the file's problems recorded."""
        data = self.yaml_mapping(path)
        if data is None:
            return None
        try:
            context = FileContext(path.stem, self.repo_root, self.metrics, frozenset(self.invalid_metrics))
            return build(data, context)
        except ValidationError as exc:
            rel = self.rel(path)
            self.problems.extend(f"{rel}: `{field_path(e['loc'])}` {e['msg']}" for e in exc.errors())
            return None

    def metric(self, path: Path) -> MetricDefinition | None:
        def build(data: dict[str, Any], context: FileContext) -> MetricDefinition:
            return metric_model(data).model_validate(data, context=context).definition(path)

        return self.parse(path, build)

    def alert(self, path: Path) -> AlertDefinition | None:
        def build(data: dict[str, Any], context: FileContext) -> AlertDefinition:
            return AlertFile.model_validate(data, context=context).definition(path, self.metrics)

        return self.parse(path, build)

    def slo(self, path: Path) -> SloDefinition | None:
        return self.parse(
            path, lambda data, context: SloFile.model_validate(data, context=context).definition(path)
        )


def load(
    monitoring_dir: Path, *, sets: Iterable[str] | None = None, repo_root: Path | None = None
) -> MonitoringDefinitions:
    """Read and validate ``monitoring_dir``; return the alerts of ``sets`` (all when None)."""
    reader = _Reader(repo_root or monitoring_dir.parent)
    problems = reader.problems
    for path in sorted((monitoring_dir / "metrics").glob("*.yaml")):
        if (metric := reader.metric(path)) is not None:
            reader.metrics[metric.id] = metric
        else:
            reader.invalid_metrics.add(path.stem)
    names = [m.name for m in reader.metrics.values() if isinstance(m, PrometheusMetricDefinition)]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"monitoring/metrics: two definitions share the Prometheus name {duplicate}")

    alert_paths = sorted((monitoring_dir / "alerts").glob("*.yaml"))
    if not alert_paths:
        problems.append(f"{reader.rel(monitoring_dir / 'alerts')}: no alert definitions (*.yaml) found")
    alerts = [a for p in alert_paths if (a := reader.alert(p)) is not None]
    slos = [s for p in sorted((monitoring_dir / "slos").glob("*.yaml")) if (s := reader.slo(p)) is not None]
    for clash in sorted({s.id for s in slos} & {a.id for a in alerts}):
        problems.append(
            f"monitoring/slos/{clash}.yaml: `id` is also an alert id: runbooks are per id, rename one"
        )
    dashboards = {
        p.stem: text
        for p in sorted((monitoring_dir / "dashboards").glob("*.json"))
        if (text := read_dashboard(p, reader.rel(p), reader.metrics, problems, bool(reader.invalid_metrics)))
        is not None
    }
    for unknown in sorted(set(sets or ()) - set(ALERT_SETS)):
        problems.append(f"alert set {unknown!r} is not one of {', '.join(ALERT_SETS)} (infra/phases.py)")
    if problems:
        raise DefinitionError(problems)
    definitions = MonitoringDefinitions(tuple(alerts), reader.metrics, tuple(slos), dashboards)
    return definitions if sets is None else definitions.select(sets)
