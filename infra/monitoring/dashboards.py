"""Dashboard files (Cloud Monitoring's own JSON): the grid, and the metrics their charts read.

They are Google's format, not ours, so only what a wrong file would break is checked here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.monitoring.catalog import CATALOG_FILE, GCP_METRICS
from infra.monitoring.definitions import MetricDefinition

GRID_COLUMNS = 48
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


def read_dashboard(
    path: Path, rel: str, metrics: Mapping[str, MetricDefinition], problems: list[str], metrics_invalid: bool
) -> str | None:
    """The file's text if it is a dashboard; otherwise None, with what is wrong added to ``problems``.

    With ``metrics_invalid`` (a metric file has problems) the charted metrics are not checked: the
    metric types a dashboard may chart are known once monitoring/metrics/ is valid."""
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
    problems.extend(f"{rel}: `mosaicLayout.tiles[{i}]` {p}" for i, t in enumerate(tiles) for p in _tile(t))
    referenced = dashboard_metric_types(data)
    if not referenced:
        problems.append(f"{rel}: charts no metric (no filter with metric.type=...)")
    unknown = set() if metrics_invalid else referenced - known_metric_types(metrics)
    for metric_type in sorted(unknown):
        problems.append(
            f"{rel}: charts the unknown metric {metric_type!r}: use a metric in GCP_METRICS"
            f" ({CATALOG_FILE}) or one defined in monitoring/metrics/"
            " (log-based: logging.googleapis.com/user/{prefix}-<id>)"
        )
    return text


def _tile(tile: Any) -> list[str]:
    if not isinstance(tile, dict) or not isinstance(tile.get("widget"), dict):
        return ["needs a `widget`"]
    problems = []
    if any(not isinstance(tile.get(k), int) for k in ("xPos", "yPos", "width", "height")):
        problems.append("needs integer xPos, yPos, width and height")
    if tile.get("xPos", 0) + tile.get("width", 0) > GRID_COLUMNS:
        problems.append(f"is wider than the {GRID_COLUMNS}-column grid")
    return problems
