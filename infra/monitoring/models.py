"""Pydantic models of monitoring/'s YAML files (format: monitoring/README.md).

Each field's type checks the field; a model's ``after`` validator checks fields against each other and
runs only once they are valid. ``definition()`` turns a validated file into what the stacks read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self, cast

from pydantic import BeforeValidator, Field, PlainValidator, model_validator

from infra.monitoring.catalog import PROMETHEUS_TYPES, PrometheusType, Severity
from infra.monitoring.conditions import ConditionFile, SeriesFile
from infra.monitoring.definitions import (
    AlertDefinition,
    BurnRateAlert,
    DistributionCutSli,
    LogMetricDefinition,
    MetricDefinition,
    MetricLabel,
    PrometheusMetricDefinition,
    RatioSli,
    Series,
    SloDefinition,
)
from infra.monitoring.fields import (
    ABSENT,
    PROMETHEUS_NAME,
    AlertSet,
    AutoClose,
    Boolean,
    FileId,
    FileModel,
    LabelKey,
    LabelValue,
    MetricRef,
    Number,
    PositiveNumber,
    Runbook,
    SeriesFilter,
    SeverityName,
    Text,
    Window,
    non_empty_list,
    number_value,
    one_of,
    problem,
    problem_at,
    problems_at,
    required_text,
    seconds,
)

# --- metrics ------------------------------------------------------------------------------------


def _extractor(value: Any) -> str:
    extractor = required_text(value)
    if not extractor.startswith(("EXTRACT(", "REGEXP_EXTRACT(")):
        raise problem(f"must be EXTRACT(field) or REGEXP_EXTRACT(field, regex); got {extractor!r}")
    return extractor


def _family_name(value: Any) -> str:
    name = required_text(value)
    if not PROMETHEUS_NAME.match(value):
        raise problem(f"must match {PROMETHEUS_NAME.pattern}; got {value!r}")
    if name.endswith(("_total", "_bucket", "_sum", "_count")):
        raise problem(f"is the family name without the series suffix (e.g. {name.rsplit('_', 1)[0]!r})")
    return name


def _label_mapping(value: Any) -> Any:
    if not isinstance(value, dict):
        raise problem(f"must be a mapping of label key to its description; got {value!r}")
    return value


_Labels = BeforeValidator(_label_mapping)


class LogLabelFile(FileModel):
    description: Text = ABSENT
    extract: Annotated[str, PlainValidator(_extractor)] = ABSENT


class PrometheusLabelFile(FileModel):
    description: Text = ABSENT


class LogMetricFile(FileModel):
    id: FileId = ABSENT
    kind: Text = ABSENT
    description: Text = ABSENT
    filter: Text = ABSENT
    labels: Annotated[dict[LabelKey, LogLabelFile], _Labels] = Field(default_factory=dict)

    def definition(self, source: Path) -> LogMetricDefinition:
        labels = tuple(MetricLabel(k, v.description, v.extract) for k, v in self.labels.items())
        return LogMetricDefinition(self.id, self.description, self.filter, labels, source)


class PrometheusMetricFile(FileModel):
    id: FileId = ABSENT
    kind: Text = ABSENT
    name: Annotated[str, PlainValidator(_family_name)] = ABSENT
    prometheus_type: Annotated[PrometheusType, one_of(PROMETHEUS_TYPES)] = Field(ABSENT, alias="type")
    description: Text = ABSENT
    labels: Annotated[dict[LabelKey, PrometheusLabelFile], _Labels] = Field(default_factory=dict)

    def definition(self, source: Path) -> PrometheusMetricDefinition:
        labels = tuple(MetricLabel(k, v.description) for k, v in self.labels.items())
        return PrometheusMetricDefinition(
            self.id, self.name, self.prometheus_type, self.description, labels, source
        )


METRIC_KINDS: dict[str, type[LogMetricFile] | type[PrometheusMetricFile]] = {
    "log": LogMetricFile,
    "prometheus": PrometheusMetricFile,
}


def metric_model(data: Mapping[str, Any]) -> type[LogMetricFile] | type[PrometheusMetricFile]:
    """The model of a metric file, by its ``kind``."""
    kind = data.get("kind")
    model = METRIC_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise problem_at("kind", f"must be one of {', '.join(METRIC_KINDS)}; got {kind!r}")
    return model


# --- alerts -------------------------------------------------------------------------------------


class AlertFile(FileModel):
    id: FileId = ABSENT
    display_name: Text = ABSENT
    severity: SeverityName = ABSENT
    owner: LabelValue = ABSENT
    alert_set: AlertSet = Field(ABSENT, alias="set")
    runbook: Runbook = ABSENT
    summary: Text = ABSENT
    conditions: Annotated[
        tuple[ConditionFile, ...], non_empty_list("must be a non-empty list of conditions")
    ] = ABSENT
    combiner: Annotated[str, one_of(("OR", "AND"))] = "OR"
    per_region: Boolean = False
    auto_close: AutoClose = "1800s"

    @model_validator(mode="after")
    def _regions_and_shapes_agree(self) -> Self:
        promql = [c for c in self.conditions if c.promql is not None]
        checks = {c.uptime.check for c in self.conditions if c.uptime is not None}
        multi_region = self.alert_set == "multi_region"
        found: list[tuple[str, str]] = []
        if len(self.conditions) > 1 and promql:
            found.append(
                (
                    "conditions",
                    "a promql condition must be the alert's only condition (Cloud Monitoring rule)",
                )
            )
        if checks & {"region", "any_region"} and not multi_region:
            found.append(
                (
                    "set",
                    "must be multi_region: per-region uptime checks exist only when the API runs in several"
                    " regions",
                )
            )
        if self.per_region and not multi_region:
            found.append(("per_region", "needs set: multi_region"))
        if self.per_region and "{region}" not in self.display_name:
            found.append(
                ("display_name", "must contain {region} when per_region is true (one policy per region)")
            )
        if "region" in checks and not self.per_region:
            found.append(
                (
                    "per_region",
                    "must be true when a condition uses `check: region` (one policy per API region)",
                )
            )
        error = problems_at(((field,), message) for field, message in found)
        if error is not None:
            raise error
        return self

    def definition(self, source: Path, metrics: Mapping[str, MetricDefinition]) -> AlertDefinition:
        return AlertDefinition(
            id=self.id,
            display_name=self.display_name,
            severity=cast(Severity, self.severity),
            owner=self.owner,
            alert_set=self.alert_set,
            runbook=self.runbook,
            summary=self.summary,
            conditions=tuple(c.condition(metrics) for c in self.conditions),
            combiner="AND" if self.combiner == "AND" else "OR",
            per_region=self.per_region,
            auto_close=self.auto_close,
            source=source,
        )


# --- SLOs ---------------------------------------------------------------------------------------

#: The metric each SLI shape reads.
SLI_METRICS = {
    "ratio": ("run.googleapis.com/request_count",),
    "distribution_cut": ("run.googleapis.com/request_latencies",),
}


def _goal(value: Any) -> float:
    goal = number_value(value)
    if not 0.0 < goal < 1.0:
        raise problem(f"must be a fraction between 0 and 1, e.g. 0.999; got {value!r}")
    return float(goal)


def _rolling_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 30:
        raise problem(f"must be a whole number of days from 1 to 30; got {value!r}")
    return value


def _reads_sli_metric(shape: str, series: list[str]) -> None:
    """An SLI reads its shape's metric: request counts for a ratio, latencies for a distribution cut."""
    wanted = SLI_METRICS[shape]
    messages = [
        f"reads {metric}; SLOs here use {', '.join(wanted)}" for metric in series if metric not in wanted
    ]
    error = problems_at(((), message) for message in messages)
    if error is not None:
        raise error


class RatioSliFile(FileModel):
    bad: SeriesFile = ABSENT
    total: SeriesFile = ABSENT

    @model_validator(mode="after")
    def _reads_request_counts(self) -> Self:
        _reads_sli_metric("ratio", [self.bad.metric, self.total.metric])
        return self


class DistributionCutSliFile(FileModel):
    metric: MetricRef = ABSENT
    filter: SeriesFilter = ""
    max: Number = ABSENT

    @model_validator(mode="after")
    def _reads_latencies(self) -> Self:
        _reads_sli_metric("distribution_cut", [self.metric])
        return self


class SliFile(FileModel):
    ratio: RatioSliFile | None = None
    distribution_cut: DistributionCutSliFile | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_shape(cls, data: Any) -> Any:
        if isinstance(data, dict):
            shapes = [k for k in SLI_METRICS if k in data]
            if len(shapes) != 1 or set(data) - set(SLI_METRICS):
                raise problem(f"must have exactly one of {', '.join(SLI_METRICS)}; got {sorted(data)}")
        return data

    def sli(self) -> RatioSli | DistributionCutSli:
        if self.ratio is not None:
            return RatioSli(self.ratio.bad.series(), self.ratio.total.series())
        assert self.distribution_cut is not None, "_exactly_one_shape admits one shape"
        cut = self.distribution_cut
        return DistributionCutSli(Series(cut.metric, cut.filter), cut.max)


class BurnRateFile(FileModel):
    id: LabelValue = ABSENT
    severity: SeverityName = ABSENT
    burn_rate: PositiveNumber = ABSENT
    long_window: Window = ABSENT
    short_window: Window = ABSENT

    @model_validator(mode="after")
    def _short_within_long(self) -> Self:
        if seconds(self.short_window) >= seconds(self.long_window):
            raise problem_at(
                "short_window",
                f"must be shorter than long_window ({self.long_window}); got {self.short_window}",
            )
        return self

    def alert(self) -> BurnRateAlert:
        severity = cast(Severity, self.severity)
        return BurnRateAlert(self.id, severity, self.burn_rate, self.long_window, self.short_window)


class SloFile(FileModel):
    id: FileId = ABSENT
    display_name: Text = ABSENT
    owner: LabelValue = ABSENT
    alert_set: AlertSet = Field(ABSENT, alias="set")
    runbook: Runbook = ABSENT
    summary: Text = ABSENT
    goal: Annotated[float, PlainValidator(_goal)] = ABSENT
    rolling_days: Annotated[int, PlainValidator(_rolling_days)] = ABSENT
    sli: SliFile = ABSENT
    burn_rate_alerts: Annotated[
        tuple[BurnRateFile, ...],
        non_empty_list("must be a non-empty list (fast, medium, slow burn-rate policies)"),
    ] = ABSENT

    @model_validator(mode="after")
    def _burns_fit_the_window(self) -> Self:
        found: list[tuple[tuple[str | int, ...], str]] = [
            (
                ("burn_rate_alerts", i, "long_window"),
                f"must be shorter than the SLO's {self.rolling_days} days; got {burn.long_window}",
            )
            for i, burn in enumerate(self.burn_rate_alerts)
            if seconds(burn.long_window) >= self.rolling_days * 86_400
        ]
        ids = [burn.id for burn in self.burn_rate_alerts]
        if len(set(ids)) != len(ids):
            found.append((("burn_rate_alerts",), f"ids must be unique; got {ids}"))
        error = problems_at(found)
        if error is not None:
            raise error
        return self

    def definition(self, source: Path) -> SloDefinition:
        return SloDefinition(
            id=self.id,
            display_name=self.display_name,
            owner=self.owner,
            alert_set=self.alert_set,
            runbook=self.runbook,
            summary=self.summary,
            goal=self.goal,
            rolling_days=self.rolling_days,
            sli=self.sli.sli(),
            burn_rate_alerts=tuple(burn.alert() for burn in self.burn_rate_alerts),
            source=source,
        )
