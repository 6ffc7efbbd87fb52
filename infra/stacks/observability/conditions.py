"""Alert policy conditions from the definitions' condition shapes (threshold, ratio, uptime, promql)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra import monitoring as defs

#: The ids of the uptime checks an uptime condition reads: check kind, region of a per-region policy.
UptimeCheckIds = Callable[[defs.UptimeCheck, str | None], pulumi.Output[list[str]]]


@dataclass(frozen=True)
class Conditions:
    """Builds conditions for one stack: its prefix names its metrics, its uptime checks are given."""

    prefix: str
    metrics: Mapping[str, defs.MetricDefinition]
    uptime_check_ids: UptimeCheckIds

    def condition(
        self, condition: defs.Condition, region: str | None, fill: Callable[[str], str]
    ) -> gcp.monitoring.AlertPolicyConditionArgs:
        if isinstance(condition, defs.UptimeCondition):
            return self._uptime_condition(condition, region, fill)
        if isinstance(condition, defs.PromqlCondition):
            return gcp.monitoring.AlertPolicyConditionArgs(
                display_name=fill(condition.name),
                condition_prometheus_query_language=(
                    gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
                        query=condition.query,
                        duration=condition.duration,
                        evaluation_interval=condition.evaluation_interval,
                    )
                ),
            )
        aggregation = _aggregation(condition.aggregation)
        if isinstance(condition, defs.RatioCondition):
            threshold = gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=self.filter(condition.numerator),
                aggregations=[aggregation],
                denominator_filter=self.filter(condition.denominator),
                denominator_aggregations=[_denominator_aggregation(condition.aggregation)],
                comparison=condition.comparison,
                threshold_value=condition.threshold,
                duration=condition.duration,
            )
        else:
            threshold = gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=self.filter(condition.series),
                aggregations=[aggregation],
                comparison=condition.comparison,
                threshold_value=condition.threshold,
                duration=condition.duration,
            )
        return gcp.monitoring.AlertPolicyConditionArgs(
            display_name=fill(condition.name), condition_threshold=threshold
        )

    def filter(self, series: defs.Series) -> str:
        clauses = [f'metric.type="{self._metric_type(series.metric)}"']
        if series.filter:
            clauses.append(series.filter.replace("{prefix}", self.prefix))
        return " AND ".join(clauses)

    def _metric_type(self, metric_id: str) -> str:
        if metric_id in defs.GCP_METRICS:
            return metric_id
        return self.metrics[metric_id].metric_type(self.prefix)

    def _uptime_condition(
        self, condition: defs.UptimeCondition, region: str | None, fill: Callable[[str], str]
    ) -> gcp.monitoring.AlertPolicyConditionArgs:
        if condition.state == "failing":
            # More than one checker location failing, so one flaky location does not page.
            reducer, comparison, value = "REDUCE_COUNT_FALSE", "COMPARISON_GT", 1.0
        else:
            reducer, comparison, value = "REDUCE_FRACTION_TRUE", "COMPARISON_GT", 0.5
        return gcp.monitoring.AlertPolicyConditionArgs(
            display_name=fill(condition.name),
            condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=self.uptime_check_ids(condition.check, region).apply(_uptime_filter),
                aggregations=[
                    gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                        alignment_period=condition.window,
                        per_series_aligner="ALIGN_NEXT_OLDER",
                        cross_series_reducer=reducer,
                        group_by_fields=[
                            "resource.label.project_id",
                            "resource.label.host",
                            "metric.label.check_id",
                        ],
                    )
                ],
                comparison=comparison,
                threshold_value=value,
                duration=condition.duration,
            ),
        )


def _uptime_filter(ids: list[str]) -> str:
    quoted = ",".join(f'"{i}"' for i in ids)
    match = f"metric.label.check_id={quoted}" if len(ids) == 1 else f"metric.label.check_id=one_of({quoted})"
    return f'metric.type="{defs.UPTIME_METRIC}" AND resource.type="uptime_url" AND {match}'


def _aggregation(
    aggregation: defs.Aggregation,
) -> gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs:
    return gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
        alignment_period=aggregation.window,
        per_series_aligner=aggregation.aligner,
        cross_series_reducer=None if aggregation.reducer == "REDUCE_NONE" else aggregation.reducer,
        group_by_fields=list(aggregation.group_by) or None,
    )


def _denominator_aggregation(
    aggregation: defs.Aggregation,
) -> gcp.monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArgs:
    return gcp.monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArgs(
        alignment_period=aggregation.window,
        per_series_aligner=aggregation.aligner,
        cross_series_reducer=None if aggregation.reducer == "REDUCE_NONE" else aggregation.reducer,
        group_by_fields=list(aggregation.group_by) or None,
    )
