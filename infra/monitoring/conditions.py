"""The condition shapes of an alert file (threshold, ratio, uptime, promql) and the series they read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import PlainValidator, ValidationInfo, model_validator

from infra.monitoring.catalog import (
    ALIGNERS,
    COMPARISONS,
    REDUCERS,
    UPTIME_CHECKS,
    UPTIME_STATES,
    UptimeCheck,
    UptimeState,
)
from infra.monitoring.definitions import (
    Aggregation,
    Condition,
    MetricDefinition,
    PrometheusMetricDefinition,
    PromqlCondition,
    RatioCondition,
    Series,
    ThresholdCondition,
    UptimeCondition,
)
from infra.monitoring.fields import (
    ABSENT,
    NO_ITEMS,
    Duration,
    EvaluationInterval,
    FileModel,
    MetricRef,
    Number,
    SeriesFilter,
    Strings,
    Text,
    Window,
    context,
    one_of,
    problem,
    problem_at,
    problems_at,
    required_text,
)

SHAPES = ("threshold", "ratio", "uptime", "promql")
_PROMQL_METRIC = re.compile(r"\bpog_[a-z0-9_]+")


def _aligner(value: Any) -> str:
    aligner = required_text(value)
    if aligner not in ALIGNERS:
        raise problem(f"must be one of {', '.join(sorted(ALIGNERS))}; got {aligner!r}")
    return str(aligner)


def _reducer(value: Any) -> str:
    reducer = required_text(value)
    if reducer not in REDUCERS:
        raise problem(f"must be one of {', '.join(sorted(REDUCERS))}; got {reducer!r}")
    return str(reducer)


def _comparison(value: Any) -> str:
    comparison = COMPARISONS.get(str(value))
    if comparison is None:
        raise problem(f"must be one of {' '.join(COMPARISONS)}; got {value!r}")
    return comparison


def promql_series(metrics: Mapping[str, MetricDefinition]) -> dict[str, str]:
    """Every series name the app exposes (pog_x_total, pog_y_bucket, ...) -> its metric definition's id."""
    return {
        series: metric.id
        for metric in metrics.values()
        if isinstance(metric, PrometheusMetricDefinition)
        for series in metric.series_names
    }


def _promql_query(value: Any, info: ValidationInfo) -> str:
    query = " ".join(required_text(value).split())
    if context(info).invalid_metrics:
        return query  # which series exist is known once monitoring/metrics/ is valid
    by_series = promql_series(context(info).metrics)
    found = _PROMQL_METRIC.findall(query)
    unknown = [
        f"reads {series!r}, which no `kind: prometheus` file in monitoring/metrics/ exposes"
        f" (known series: {', '.join(sorted(by_series)) or 'none'})"
        for series in found
        if series not in by_series
    ]
    if len(unknown) == len(found):
        unknown.append("must read at least one of the app's metrics (pog_...) in monitoring/metrics/")
    error = problems_at(((), message) for message in unknown)
    if error is not None:
        raise error
    return query


class SeriesFile(FileModel):
    metric: MetricRef = ABSENT
    filter: SeriesFilter = ""

    def series(self) -> Series:
        return Series(self.metric, self.filter)


class _Aggregated(FileModel):
    aligner: Annotated[str, PlainValidator(_aligner)] = ABSENT
    reducer: Annotated[str, PlainValidator(_reducer)] = "REDUCE_NONE"
    group_by: Strings = NO_ITEMS
    window: Window = ABSENT
    comparison: Annotated[str, PlainValidator(_comparison)] = ABSENT
    threshold: Number = ABSENT
    duration: Duration = "0s"

    @model_validator(mode="after")
    def _group_by_needs_a_reducer(self) -> Self:
        if self.group_by and self.reducer == "REDUCE_NONE":
            message = "needs a `reducer` (e.g. REDUCE_SUM) to combine the series of each group"
            raise problem_at("group_by", message)
        return self

    def aggregation(self) -> Aggregation:
        return Aggregation(self.aligner, self.reducer, self.group_by, self.window)


class ThresholdBody(_Aggregated):
    metric: MetricRef = ABSENT
    filter: SeriesFilter = ""

    def condition(self, name: str) -> ThresholdCondition:
        return ThresholdCondition(
            name=name,
            series=Series(self.metric, self.filter),
            aggregation=self.aggregation(),
            comparison=self.comparison,
            threshold=self.threshold,
            duration=self.duration,
        )


class RatioBody(_Aggregated):
    numerator: SeriesFile = ABSENT
    denominator: SeriesFile = ABSENT

    def condition(self, name: str) -> RatioCondition:
        return RatioCondition(
            name=name,
            numerator=self.numerator.series(),
            denominator=self.denominator.series(),
            aggregation=self.aggregation(),
            comparison=self.comparison,
            threshold=self.threshold,
            duration=self.duration,
        )


class UptimeBody(FileModel):
    check: Annotated[UptimeCheck, one_of(UPTIME_CHECKS)] = ABSENT
    state: Annotated[UptimeState, one_of(UPTIME_STATES)] = ABSENT
    window: Window = "300s"
    duration: Duration = "60s"

    def condition(self, name: str) -> UptimeCondition:
        return UptimeCondition(name, self.check, self.state, self.window, self.duration)


class PromqlBody(FileModel):
    query: Annotated[str, PlainValidator(_promql_query)] = ABSENT
    duration: Duration = "0s"
    evaluation_interval: EvaluationInterval = "60s"

    def condition(self, name: str, metrics: Mapping[str, MetricDefinition]) -> PromqlCondition:
        by_series = promql_series(metrics)
        read = (by_series[series] for series in _PROMQL_METRIC.findall(self.query) if series in by_series)
        return PromqlCondition(
            name, self.query, self.duration, self.evaluation_interval, tuple(dict.fromkeys(read))
        )


class ConditionFile(FileModel):
    name: Text = ABSENT
    threshold: ThresholdBody | None = None
    ratio: RatioBody | None = None
    uptime: UptimeBody | None = None
    promql: PromqlBody | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one_shape(cls, data: Any) -> Any:
        if isinstance(data, dict):
            shapes = [s for s in SHAPES if s in data]
            others = sorted(set(data) - {"name", *SHAPES})
            if len(shapes) != 1 or others:
                got = ", ".join(shapes + others) or "nothing"
                raise problem(
                    f"must have `name` and exactly one condition shape of {', '.join(SHAPES)};"
                    f" got {got}. Other shapes are not supported: express the condition as one of these"
                )
        return data

    def condition(self, metrics: Mapping[str, MetricDefinition]) -> Condition:
        if self.promql is not None:
            return self.promql.condition(self.name, metrics)
        body = self.threshold or self.ratio or self.uptime
        assert body is not None, "_exactly_one_shape admits one shape"
        return body.condition(self.name)
