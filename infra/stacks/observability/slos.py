"""SLOs on the API's custom service, and their multi-window burn-rate alert policies."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra import monitoring as defs
from infra.stacks.common import child
from infra.stacks.observability.args import ObservabilityArgs
from infra.stacks.observability.conditions import Conditions


def slo_name(args: ObservabilityArgs, slo: defs.SloDefinition) -> str:
    """The SLO's resource name, the argument of select_slo_burn_rate (deterministic, no outputs)."""
    return f"projects/{args.project}/services/{args.prefix}-api/serviceLevelObjectives/{slo.id}"


def lookback(window: str) -> str:
    """``3600s`` -> ``60m``: the lookback argument of select_slo_burn_rate, in whole minutes."""
    return f"{int(window[:-1]) // 60}m"


def slo_resource(
    parent: pulumi.Resource,
    args: ObservabilityArgs,
    service: gcp.monitoring.CustomService,
    slo: defs.SloDefinition,
    conditions: Conditions,
) -> gcp.monitoring.Slo:
    sli = slo.sli
    if isinstance(sli, defs.RatioSli):
        request_based = gcp.monitoring.SloRequestBasedSliArgs(
            good_total_ratio=gcp.monitoring.SloRequestBasedSliGoodTotalRatioArgs(
                bad_service_filter=conditions.filter(sli.bad),
                total_service_filter=conditions.filter(sli.total),
            )
        )
    else:
        request_based = gcp.monitoring.SloRequestBasedSliArgs(
            distribution_cut=gcp.monitoring.SloRequestBasedSliDistributionCutArgs(
                distribution_filter=conditions.filter(sli.series),
                range=gcp.monitoring.SloRequestBasedSliDistributionCutRangeArgs(max=sli.max),
            )
        )
    return gcp.monitoring.Slo(
        f"{args.prefix}-{slo.id}",
        project=args.project,
        service=service.service_id,
        slo_id=slo.id,
        display_name=f"[{args.prefix}] {slo.display_name}",
        goal=slo.goal,
        rolling_period_days=slo.rolling_days,
        request_based_sli=request_based,
        user_labels={"owner": slo.owner, "slo_id": slo.id, "env": args.profile.environment},
        opts=child(parent, depends_on=[*args.depends_on, service]),
    )


def burn_rate_policy(
    parent: pulumi.Resource,
    args: ObservabilityArgs,
    slo: defs.SloDefinition,
    burn: defs.BurnRateAlert,
    channels: list[pulumi.Output[str]],
    measured_by: gcp.monitoring.Slo,
) -> gcp.monitoring.AlertPolicy:
    """Both lookbacks above the burn rate at once (combiner AND); ``measured_by`` is the SLO resource."""
    prefix = args.prefix
    display_name = _burn_display_name(slo, burn)
    return gcp.monitoring.AlertPolicy(
        f"{prefix}-alert-{slo.id}-{burn.id}-burn",
        project=args.project,
        display_name=f"[{prefix}] {display_name}",
        combiner="AND",
        conditions=[
            _burn_condition(args, slo, burn, window) for window in (burn.long_window, burn.short_window)
        ],
        severity=burn.severity.upper(),
        notification_channels=channels,
        documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
            subject=f"[{burn.severity.upper()}] [{prefix}] {display_name}"[:255],
            content=_burn_documentation(args, slo, burn, display_name),
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
        opts=child(parent, depends_on=[*args.depends_on, measured_by]),
    )


def _burn_display_name(slo: defs.SloDefinition, burn: defs.BurnRateAlert) -> str:
    long_lb, short_lb = lookback(burn.long_window), lookback(burn.short_window)
    return f"{slo.display_name}: {burn.id} burn ({burn.burn_rate:g}x over {long_lb} and {short_lb})"


def _burn_condition(
    args: ObservabilityArgs, slo: defs.SloDefinition, burn: defs.BurnRateAlert, window: str
) -> gcp.monitoring.AlertPolicyConditionArgs:
    window_lookback = lookback(window)
    return gcp.monitoring.AlertPolicyConditionArgs(
        display_name=f"{window_lookback} burn rate > {burn.burn_rate:g}x",
        condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
            filter=f'select_slo_burn_rate("{slo_name(args, slo)}", "{window_lookback}")',
            comparison="COMPARISON_GT",
            threshold_value=burn.burn_rate,
            duration="0s",
        ),
    )


def _burn_documentation(
    args: ObservabilityArgs, slo: defs.SloDefinition, burn: defs.BurnRateAlert, display_name: str
) -> str:
    long_lb, short_lb = lookback(burn.long_window), lookback(burn.short_window)
    budget = f"{(1 - slo.goal) * 100:g} %"
    return "\n".join(
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
            f"- **Stack:** {args.prefix}",
            f"- **SLO:** `{slo_name(args, slo)}` (goal {slo.goal:g}, rolling {slo.rolling_days} days)",
            f"- **Runbook:** `{slo.runbook}` in the pot-of-gold repository",
            "  (start at `runbooks/README.md` if it does not load)",
        ]
    )
