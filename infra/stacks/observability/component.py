"""The Observability component: notification channels, uptime checks, log-based metrics, alert policies,
SLOs and dashboards, from the definitions in monitoring/ of the phase's alert sets."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pulumi
import pulumi_gcp as gcp

from infra import monitoring as defs
from infra.stacks.common import child, labels
from infra.stacks.observability.args import PAGED_SEVERITIES, ObservabilityArgs
from infra.stacks.observability.conditions import Conditions
from infra.stacks.observability.slos import burn_rate_policy, slo_resource

# Enough regions for the minimum of three checker locations (USA alone has three).
UPTIME_REGIONS: tuple[str, ...] = ("USA", "EUROPE", "ASIA_PACIFIC")
HEALTH_PATH = "/healthz"


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
        self._conditions = Conditions(args.prefix, definitions.metrics, self._uptime_check_ids)

        self._notification_channels()
        self.log_metrics: dict[str, gcp.logging.Metric] = {}
        # The app's Prometheus metrics need no resource here: Managed Prometheus creates their
        # descriptors when the Cloud Run sidecar first writes them (infra/stacks/compute/service.py).
        for metric in definitions.metrics.values():
            if isinstance(metric, defs.LogMetricDefinition):
                self.log_metrics[metric.id] = self._log_metric(metric)
        self._uptime_checks()

        self.alert_policies: dict[str, gcp.monitoring.AlertPolicy] = {}
        for alert in definitions.alerts:
            if alert.per_region:
                for region in args.api_regions:
                    self.alert_policies[f"{alert.id}/{region}"] = self._alert_policy(alert, region)
            else:
                self.alert_policies[alert.id] = self._alert_policy(alert, None)
        self._slos(definitions.slos)
        self.dashboards: dict[str, gcp.monitoring.Dashboard] = {
            stem: gcp.monitoring.Dashboard(
                f"{args.prefix}-dashboard-{stem}",
                project=args.project,
                dashboard_json=_dashboard_json(text, args.prefix),
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

    # --- channels ------------------------------------------------------------------------------

    def _notification_channels(self) -> None:
        args, prefix = self._args, self._args.prefix
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

    def _channels_for(self, severity: str) -> list[pulumi.Output[str]]:
        channels = [channel.name for channel in self.email_channels.values()]
        if self.pagerduty_channel is not None and severity in PAGED_SEVERITIES:
            channels.append(self.pagerduty_channel.name)
        return channels

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

    def _metric_resources(self, alert: defs.AlertDefinition) -> list[pulumi.Resource]:
        resources: list[pulumi.Resource] = []
        for metric_id in sorted(alert.metric_ids()):
            if metric_id in self.log_metrics:
                resources.append(self.log_metrics[metric_id])
        return resources

    # --- uptime --------------------------------------------------------------------------------

    def _uptime_checks(self) -> None:
        args, prefix = self._args, self._args.prefix
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

    def _slos(self, slos: tuple[defs.SloDefinition, ...]) -> None:
        args, prefix = self._args, self._args.prefix
        self.slo_service: gcp.monitoring.CustomService | None = None
        self.slos: dict[str, gcp.monitoring.Slo] = {}
        if not slos:
            return
        self.slo_service = gcp.monitoring.CustomService(
            f"{prefix}-slo-service-api",
            project=args.project,
            service_id=f"{prefix}-api",
            display_name=f"[{prefix}] API (Cloud Run, every region)",
            user_labels=labels(prefix, "observability"),
            opts=child(self, depends_on=args.depends_on),
        )
        for slo in slos:
            self.slos[slo.id] = slo_resource(self, args, self.slo_service, slo, self._conditions)
            for burn in slo.burn_rate_alerts:
                self.alert_policies[f"{slo.id}/{burn.id}"] = burn_rate_policy(
                    self, args, slo, burn, self._channels_for(burn.severity), self.slos[slo.id]
                )

    # --- alert policies ------------------------------------------------------------------------

    def _alert_policy(self, alert: defs.AlertDefinition, region: str | None) -> gcp.monitoring.AlertPolicy:
        args, prefix = self._args, self._args.prefix

        def fill(text: str) -> str:
            return text.replace("{region}", region) if region is not None else text

        display_name = fill(alert.display_name)
        key = f"{alert.id}-{region}" if region is not None else alert.id
        return gcp.monitoring.AlertPolicy(
            f"{prefix}-alert-{key}",
            project=args.project,
            display_name=f"[{prefix}] {display_name}",
            combiner=alert.combiner,
            conditions=[self._conditions.condition(c, region, fill) for c in alert.conditions],
            severity=alert.severity.upper(),
            notification_channels=self._channels_for(alert.severity),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                subject=f"[{alert.severity.upper()}] [{prefix}] {display_name}"[:255],
                content=_alert_documentation(alert, prefix, region, fill),
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


def _alert_documentation(
    alert: defs.AlertDefinition, prefix: str, region: str | None, fill: Callable[[str], str]
) -> str:
    return "\n".join(
        [
            f"## {fill(alert.display_name)}",
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


def _dashboard_json(text: str, prefix: str) -> str:
    """The dashboard file with ``{prefix}`` filled in and the stack in its title, compact and sorted."""
    dashboard = json.loads(text.replace("{prefix}", prefix))
    dashboard["displayName"] = f"[{prefix}] {dashboard['displayName']}"
    return json.dumps(dashboard, sort_keys=True, separators=(",", ":"))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
