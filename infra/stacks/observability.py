"""Observability: notification channels, uptime checks and alert policies read from monitoring/."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile
from infra.stacks import monitoring_defs as defs
from infra.stacks.common import child, labels

# Enough regions for the minimum of three checker locations (USA alone has three).
UPTIME_REGIONS: tuple[str, ...] = ("USA", "EUROPE", "ASIA_PACIFIC")
HEALTH_PATH = "/healthz"
# In prod these page on-call; everything else (and everything in dev) only sends mail.
PAGED_SEVERITIES: frozenset[str] = frozenset({"critical", "error"})


@dataclass
class ObservabilityArgs:
    prefix: str
    project: str
    api_hostname: str
    api_regions: tuple[str, ...]
    alert_emails: tuple[str, ...]
    pagerduty_service_key: pulumi.Input[str] | None
    monitoring_dir: Path
    probe_header: str
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = ()


class Observability(pulumi.ComponentResource):
    """Public attributes:

    email_channels: dict[str, gcp.monitoring.NotificationChannel]  keyed by address
    pagerduty_channel: gcp.monitoring.NotificationChannel | None    prod only
    log_metrics: dict[str, gcp.logging.Metric]                       keyed by metric definition id
    uptime_check: gcp.monitoring.UptimeCheckConfig                   https://<api hostname>/healthz
    region_uptime_checks: dict[str, gcp.monitoring.UptimeCheckConfig]  phase 3, keyed by region
    alert_policies: dict[str, gcp.monitoring.AlertPolicy]            keyed by alert id, "<id>/<region>",
                                                                     SLO burn rates "<slo id>/<burn id>"
    slo_service: gcp.monitoring.CustomService | None                 the API, when the phase has SLOs
    slos: dict[str, gcp.monitoring.Slo]                              keyed by SLO id
    dashboards: dict[str, gcp.monitoring.Dashboard]                  keyed by monitoring/dashboards/ file stem
    """

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("potgold:observability:Observability", name, None, opts)
        self._args = args
        definitions = defs.load(args.monitoring_dir, sets=args.profile.alert_sets)
        self._definitions = definitions
        prefix = args.prefix

        if not args.alert_emails:
            raise ValueError(
                "ObservabilityArgs.alert_emails needs at least one address so alerts reach someone"
            )
        self.email_channels: dict[str, gcp.monitoring.NotificationChannel] = {
            email: gcp.monitoring.NotificationChannel(
                f"{prefix}-email-{_slug(email)}",
                project=args.project,
                type="email",
                display_name=f"[{prefix}] {email}",
                labels={"email_address": email},
                opts=child(self, depends_on=args.depends_on),
            )
            for email in args.alert_emails
        }
        self.pagerduty_channel: gcp.monitoring.NotificationChannel | None = None
        if args.profile.is_prod:
            if args.pagerduty_service_key is None:
                raise ValueError("prod pages on-call: ObservabilityArgs.pagerduty_service_key is required")
            self.pagerduty_channel = gcp.monitoring.NotificationChannel(
                f"{prefix}-pagerduty",
                project=args.project,
                type="pagerduty",
                display_name=f"[{prefix}] PagerDuty on-call",
                sensitive_labels=gcp.monitoring.NotificationChannelSensitiveLabelsArgs(
                    service_key=pulumi.Output.secret(args.pagerduty_service_key)
                ),
                opts=child(self, depends_on=args.depends_on),
            )

        self.log_metrics: dict[str, gcp.logging.Metric] = {}
        # The app's Prometheus metrics need no resource here: Managed Prometheus creates their
        # descriptors when the Cloud Run sidecar first writes them (compute.py).
        for metric in definitions.metrics.values():
            if isinstance(metric, defs.LogMetricDefinition):
                self.log_metrics[metric.id] = self._log_metric(metric)

        self.uptime_check = self._uptime_check(f"{prefix}-uptime-api", f"[{prefix}] {HEALTH_PATH}", {})
        self.region_uptime_checks: dict[str, gcp.monitoring.UptimeCheckConfig] = {}
        if args.profile.multi_region:
            # The load balancer routes a request carrying the probe header to that region only.
            for region in args.api_regions:
                self.region_uptime_checks[region] = self._uptime_check(
                    f"{prefix}-uptime-{region}",
                    f"[{prefix}] {HEALTH_PATH} pinned to {region}",
                    {args.probe_header: region},
                )

        self.alert_policies: dict[str, gcp.monitoring.AlertPolicy] = {}
        for alert in definitions.alerts:
            if alert.per_region:
                for region in args.api_regions:
                    self.alert_policies[f"{alert.id}/{region}"] = self._alert_policy(alert, region)
            else:
                self.alert_policies[alert.id] = self._alert_policy(alert, None)

        self.slo_service: gcp.monitoring.CustomService | None = None
        self.slos: dict[str, gcp.monitoring.Slo] = {}
        if definitions.slos:
            self.slo_service = gcp.monitoring.CustomService(
                f"{prefix}-slo-service-api",
                project=args.project,
                service_id=f"{prefix}-api",
                display_name=f"[{prefix}] API (Cloud Run, every region)",
                user_labels=labels(prefix, "observability"),
                opts=child(self, depends_on=args.depends_on),
            )
        for slo in definitions.slos:
            self.slos[slo.id] = self._slo(slo)
            for burn in slo.burn_rate_alerts:
                self.alert_policies[f"{slo.id}/{burn.id}"] = self._burn_rate_policy(slo, burn)

        self.dashboards: dict[str, gcp.monitoring.Dashboard] = {
            stem: gcp.monitoring.Dashboard(
                f"{prefix}-dashboard-{stem}",
                project=args.project,
                dashboard_json=_dashboard_json(text, prefix),
                opts=child(self, depends_on=args.depends_on),
            )
            for stem, text in sorted(definitions.dashboards.items())
        }

        self.register_outputs(
            {
                "uptimeCheckId": self.uptime_check.uptime_check_id,
                "alertPolicies": {key: policy.name for key, policy in self.alert_policies.items()},
            }
        )

    # --- metrics -------------------------------------------------------------------------------

    def _log_metric(self, metric: defs.LogMetricDefinition) -> gcp.logging.Metric:
        prefix = self._args.prefix
        return gcp.logging.Metric(
            f"{prefix}-metric-{metric.id}",
            name=metric.physical_name(prefix),
            project=self._args.project,
            description=metric.description,
            filter=metric.filter.replace("{prefix}", prefix),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(
                metric_kind="DELTA",
                value_type="INT64",
                unit="1",
                display_name=metric.physical_name(prefix),
                labels=[
                    gcp.logging.MetricMetricDescriptorLabelArgs(
                        key=label.key, description=label.description, value_type="STRING"
                    )
                    for label in metric.labels
                ],
            ),
            label_extractors={label.key: label.extractor for label in metric.labels if label.extractor}
            or None,
            opts=child(self, depends_on=self._args.depends_on),
        )

    def _metric_type(self, metric_id: str) -> str:
        if metric_id in defs.GCP_METRICS:
            return metric_id
        return self._definitions.metrics[metric_id].metric_type(self._args.prefix)

    def _metric_resources(self, alert: defs.AlertDefinition) -> list[pulumi.Resource]:
        resources: list[pulumi.Resource] = []
        for metric_id in sorted(alert.metric_ids()):
            if metric_id in self.log_metrics:
                resources.append(self.log_metrics[metric_id])
        return resources

    # --- uptime --------------------------------------------------------------------------------

    def _uptime_check(
        self, name: str, display_name: str, headers: dict[str, str]
    ) -> gcp.monitoring.UptimeCheckConfig:
        args = self._args
        return gcp.monitoring.UptimeCheckConfig(
            name,
            project=args.project,
            display_name=display_name,
            period="60s",
            timeout="10s",
            selected_regions=list(UPTIME_REGIONS),
            http_check=gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
                path=HEALTH_PATH,
                port=443,
                use_ssl=True,
                validate_ssl=True,
                request_method="GET",
                headers=headers or None,
                accepted_response_status_codes=[
                    gcp.monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs(
                        status_class="STATUS_CLASS_2XX"
                    )
                ],
            ),
            monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
                type="uptime_url", labels={"project_id": args.project, "host": args.api_hostname}
            ),
            user_labels=labels(args.prefix, "observability"),
            opts=child(self, depends_on=args.depends_on),
        )

    def _uptime_check_ids(self, check: defs.UptimeCheck, region: str | None) -> pulumi.Output[list[str]]:
        if check == "api":
            checks = [self.uptime_check]
        elif check == "region":
            assert region is not None
            checks = [self._region_check(region)]
        else:
            checks = [self._region_check(r) for r in self._args.api_regions]
        return pulumi.Output.all(*[c.uptime_check_id for c in checks]).apply(
            lambda ids: [str(i) for i in ids]
        )

    def _region_check(self, region: str) -> gcp.monitoring.UptimeCheckConfig:
        check = self.region_uptime_checks.get(region)
        if check is None:
            raise ValueError(
                f"an alert needs the uptime check pinned to {region}, which exists only when the API runs"
                " in several regions: keep such alerts in the multi_region set"
            )
        return check

    # --- SLOs ----------------------------------------------------------------------------------

    def _slo_name(self, slo: defs.SloDefinition) -> str:
        """The SLO's resource name, the argument of select_slo_burn_rate (deterministic, no outputs)."""
        return (
            f"projects/{self._args.project}/services/{self._args.prefix}-api/serviceLevelObjectives/{slo.id}"
        )

    def _slo(self, slo: defs.SloDefinition) -> gcp.monitoring.Slo:
        args = self._args
        assert self.slo_service is not None
        sli = slo.sli
        if isinstance(sli, defs.RatioSli):
            request_based = gcp.monitoring.SloRequestBasedSliArgs(
                good_total_ratio=gcp.monitoring.SloRequestBasedSliGoodTotalRatioArgs(
                    bad_service_filter=self._filter(sli.bad),
                    total_service_filter=self._filter(sli.total),
                )
            )
        else:
            request_based = gcp.monitoring.SloRequestBasedSliArgs(
                distribution_cut=gcp.monitoring.SloRequestBasedSliDistributionCutArgs(
                    distribution_filter=self._filter(sli.series),
                    range=gcp.monitoring.SloRequestBasedSliDistributionCutRangeArgs(max=sli.max),
                )
            )
        return gcp.monitoring.Slo(
            f"{args.prefix}-{slo.id}",
            project=args.project,
            service=self.slo_service.service_id,
            slo_id=slo.id,
            display_name=f"[{args.prefix}] {slo.display_name}",
            goal=slo.goal,
            rolling_period_days=slo.rolling_days,
            request_based_sli=request_based,
            user_labels={"owner": slo.owner, "slo_id": slo.id, "env": args.profile.environment},
            opts=child(self, depends_on=[*args.depends_on, self.slo_service]),
        )

    def _burn_rate_policy(
        self, slo: defs.SloDefinition, burn: defs.BurnRateAlert
    ) -> gcp.monitoring.AlertPolicy:
        args = self._args
        prefix = args.prefix
        name = self._slo_name(slo)
        budget = f"{(1 - slo.goal) * 100:g} %"

        def condition(window: str) -> gcp.monitoring.AlertPolicyConditionArgs:
            lookback = _lookback(window)
            return gcp.monitoring.AlertPolicyConditionArgs(
                display_name=f"{lookback} burn rate > {burn.burn_rate:g}x",
                condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                    filter=f'select_slo_burn_rate("{name}", "{lookback}")',
                    comparison="COMPARISON_GT",
                    threshold_value=burn.burn_rate,
                    duration="0s",
                ),
            )

        long_lb, short_lb = _lookback(burn.long_window), _lookback(burn.short_window)
        display_name = (
            f"{slo.display_name}: {burn.id} burn ({burn.burn_rate:g}x over {long_lb} and {short_lb})"
        )
        documentation = "\n".join(
            [
                f"## {display_name}",
                "",
                slo.summary,
                "",
                f"Both the {long_lb} and the {short_lb} burn rates are above {burn.burn_rate:g}x:"
                f" at this pace the {budget} error budget of {slo.rolling_days} days lasts"
                f" {slo.rolling_days / burn.burn_rate:.1f} days.",
                "",
                f"- **Severity:** {burn.severity}",
                f"- **Owner:** {slo.owner}",
                f"- **Stack:** {prefix}",
                f"- **SLO:** `{name}` (goal {slo.goal:g}, rolling {slo.rolling_days} days)",
                f"- **Runbook:** `{slo.runbook}` in the pot-of-gold repository",
                "  (start at `runbooks/README.md` if it does not load)",
            ]
        )
        return gcp.monitoring.AlertPolicy(
            f"{prefix}-alert-{slo.id}-{burn.id}-burn",
            project=args.project,
            display_name=f"[{prefix}] {display_name}",
            combiner="AND",
            conditions=[condition(burn.long_window), condition(burn.short_window)],
            severity=burn.severity.upper(),
            notification_channels=self._channels_for(burn.severity),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                subject=f"[{burn.severity.upper()}] [{prefix}] {display_name}"[:255],
                content=documentation,
                mime_type="text/markdown",
            ),
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="1800s"),
            user_labels={
                "severity": burn.severity,
                "owner": slo.owner,
                "alert_id": slo.id,
                "alert_set": slo.alert_set.replace("_", "-"),
                "env": args.profile.environment,
                "burn": burn.id,
            },
            opts=child(self, depends_on=[*args.depends_on, self.slos[slo.id]]),
        )

    # --- alert policies ------------------------------------------------------------------------

    def _alert_policy(self, alert: defs.AlertDefinition, region: str | None) -> gcp.monitoring.AlertPolicy:
        args = self._args
        prefix = args.prefix

        def fill(text: str) -> str:
            return text.replace("{region}", region) if region is not None else text

        display_name = fill(alert.display_name)
        key = f"{alert.id}-{region}" if region is not None else alert.id
        documentation = "\n".join(
            [
                f"## {display_name}",
                "",
                fill(alert.summary),
                "",
                f"- **Severity:** {alert.severity}",
                f"- **Owner:** {alert.owner}",
                f"- **Stack:** {prefix}" + (f" (region {region})" if region else ""),
                f"- **Runbook:** `{alert.runbook}` in the pot-of-gold repository",
                "  (start at `runbooks/README.md` if it does not load)",
            ]
        )
        return gcp.monitoring.AlertPolicy(
            f"{prefix}-alert-{key}",
            project=args.project,
            display_name=f"[{prefix}] {display_name}",
            combiner=alert.combiner,
            conditions=[self._condition(c, region, fill) for c in alert.conditions],
            severity=alert.severity.upper(),
            notification_channels=self._channels_for(alert.severity),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                subject=f"[{alert.severity.upper()}] [{prefix}] {display_name}"[:255],
                content=documentation,
                mime_type="text/markdown",
            ),
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close=alert.auto_close),
            user_labels={
                "severity": alert.severity,
                "owner": alert.owner,
                "alert_id": alert.id,
                "alert_set": alert.alert_set.replace("_", "-"),
                "env": args.profile.environment,
            },
            opts=child(self, depends_on=[*args.depends_on, *self._metric_resources(alert)]),
        )

    def _channels_for(self, severity: str) -> list[pulumi.Output[str]]:
        channels = [channel.name for channel in self.email_channels.values()]
        if self.pagerduty_channel is not None and severity in PAGED_SEVERITIES:
            channels.append(self.pagerduty_channel.name)
        return channels

    def _condition(
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
                filter=self._filter(condition.numerator),
                aggregations=[aggregation],
                denominator_filter=self._filter(condition.denominator),
                denominator_aggregations=[_denominator_aggregation(condition.aggregation)],
                comparison=condition.comparison,
                threshold_value=condition.threshold,
                duration=condition.duration,
            )
        else:
            threshold = gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=self._filter(condition.series),
                aggregations=[aggregation],
                comparison=condition.comparison,
                threshold_value=condition.threshold,
                duration=condition.duration,
            )
        return gcp.monitoring.AlertPolicyConditionArgs(
            display_name=fill(condition.name), condition_threshold=threshold
        )

    def _filter(self, series: defs.Series) -> str:
        clauses = [f'metric.type="{self._metric_type(series.metric)}"']
        if series.filter:
            clauses.append(series.filter.replace("{prefix}", self._args.prefix))
        return " AND ".join(clauses)

    def _uptime_condition(
        self, condition: defs.UptimeCondition, region: str | None, fill: Callable[[str], str]
    ) -> gcp.monitoring.AlertPolicyConditionArgs:
        def uptime_filter(ids: list[str]) -> str:
            quoted = ",".join(f'"{i}"' for i in ids)
            match = (
                f"metric.label.check_id={quoted}"
                if len(ids) == 1
                else f"metric.label.check_id=one_of({quoted})"
            )
            return f'metric.type="{defs.UPTIME_METRIC}" AND resource.type="uptime_url" AND {match}'

        if condition.state == "failing":
            # More than one checker location failing, so one flaky location does not page.
            reducer, comparison, value = "REDUCE_COUNT_FALSE", "COMPARISON_GT", 1.0
        else:
            reducer, comparison, value = "REDUCE_FRACTION_TRUE", "COMPARISON_GT", 0.5
        return gcp.monitoring.AlertPolicyConditionArgs(
            display_name=fill(condition.name),
            condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                filter=self._uptime_check_ids(condition.check, region).apply(uptime_filter),
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


def _lookback(window: str) -> str:
    """``3600s`` -> ``60m``: the lookback argument of select_slo_burn_rate, in whole minutes."""
    return f"{int(window[:-1]) // 60}m"


def _dashboard_json(text: str, prefix: str) -> str:
    """The dashboard file with ``{prefix}`` filled in and the stack in its title, compact and sorted."""
    dashboard = json.loads(text.replace("{prefix}", prefix))
    dashboard["displayName"] = f"[{prefix}] {dashboard['displayName']}"
    return json.dumps(dashboard, sort_keys=True, separators=(",", ":"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
