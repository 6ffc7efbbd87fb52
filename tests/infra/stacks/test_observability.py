"""Observability layer: channels, uptime checks, metrics and alert policies from monitoring/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra import monitoring as defs
from infra.monitoring import RUNBOOK_SECTIONS
from infra.plan.engine import Plan, PlannedResource
from infra.plan.stackfile import load_stack
from infra.stacks.compute import PROBE_HEADER
from tests.infra.conftest import PHASES, STACKS, plan_for
from tests.infra.stacks.layers import Layer, prefix

ROOT = Path(__file__).resolve().parents[3]
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
LOG_METRIC = "gcp:logging/metric:Metric"
SERVICE = "gcp:monitoring/customService:CustomService"
SLO = "gcp:monitoring/slo:Slo"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"

SEED_ALERTS = {"server-errors", "high-latency", "payment-failures", "suspicious-activity"}
TARGET_ALERTS = {"db-latency", "cache-hit-rate"}
MULTI_REGION_ALERTS = {"region-down", "regional-failover"}
SLO_IDS = {"slo-availability", "slo-latency"}
# Google SRE workbook pairs: burn id -> (long lookback, short lookback, burn rate, severity).
BURNS = {
    "fast": ("60m", "5m", 14.4, "CRITICAL"),
    "medium": ("360m", "30m", 6.0, "CRITICAL"),
    "slow": ("4320m", "360m", 1.0, "WARNING"),
}
DASHBOARDS = {"api", "data-stores", "payments", "leaderboards"}
PAGED = {"CRITICAL", "ERROR"}

LAYER = Layer("potgold:observability:Observability", "observability")
children = LAYER.children
mine = LAYER.mine


def config(plan: Plan, key: str) -> str:
    return load_stack(plan.stack).config[f"pot-of-gold:{key}"]


def api_regions(plan: Plan) -> list[str]:
    return [r.inputs["location"] for r in plan.of_type("gcp:cloudrunv2/service:Service")]


def policies(plan: Plan) -> list[PlannedResource]:
    found = mine(plan, POLICY)
    # Never none, so that the loops over them run; test_seed_alerts_in_every_stack names them.
    assert {p.inputs["userLabels"]["alert_id"] for p in found} >= SEED_ALERTS
    return found


def alert_ids(plan: Plan) -> set[str]:
    return {p.inputs["userLabels"]["alert_id"] for p in policies(plan)}


def pagerduty(plan: Plan) -> list[PlannedResource]:
    return [c for c in mine(plan, CHANNEL) if c.inputs["type"] == "pagerduty"]


def test_children_are_prefixed_and_use_the_gcp_provider(plan: Plan) -> None:
    kids = children(plan)
    assert kids  # how many of each type: test_resource_counts / tests/infra/resource_counts.json
    for r in kids:
        assert r.name.startswith(f"{prefix(plan)}-"), r.name
        assert r.provider == f"pulumi:providers:gcp::{prefix(plan)}-gcp", r.name


def test_seed_alerts_in_every_stack(plan: Plan) -> None:
    assert alert_ids(plan) >= SEED_ALERTS | {"api-uptime", "backup-export-failed"} | SLO_IDS


def test_slos_from_phase_1_with_exact_goals_and_windows(plan: Plan) -> None:
    [service] = mine(plan, SERVICE)
    assert service.inputs["serviceId"] == f"{prefix(plan)}-api"
    slos = {s.inputs["sloId"]: s.inputs for s in mine(plan, SLO)}
    assert set(slos) == SLO_IDS
    api = f'resource.label.service_name=starts_with("{prefix(plan)}-api-")'

    availability = slos["slo-availability"]
    assert availability["goal"] == 0.999
    assert availability["rollingPeriodDays"] == 28
    ratio = availability["requestBasedSli"]["goodTotalRatio"]
    assert 'metric.type="run.googleapis.com/request_count"' in ratio["totalServiceFilter"]
    assert 'metric.label.response_code_class="5xx"' in ratio["badServiceFilter"]
    assert api in ratio["totalServiceFilter"]
    assert api in ratio["badServiceFilter"]

    latency = slos["slo-latency"]
    assert latency["goal"] == 0.99
    assert latency["rollingPeriodDays"] == 28
    cut = latency["requestBasedSli"]["distributionCut"]
    assert 'metric.type="run.googleapis.com/request_latencies"' in cut["distributionFilter"]
    assert api in cut["distributionFilter"]
    assert cut["range"] == {"max": 200}


def test_each_slo_has_the_multiwindow_burn_rate_policies(plan: Plan) -> None:
    project = config(plan, "gcpProject")
    slo_keys = {s.inputs["sloId"]: s.key for s in mine(plan, SLO)}
    for slo_id in SLO_IDS:
        burns = {
            p.inputs["userLabels"]["burn"]: p
            for p in policies(plan)
            if p.inputs["userLabels"]["alert_id"] == slo_id
        }
        assert set(burns) == set(BURNS), slo_id
        name = f"projects/{project}/services/{prefix(plan)}-api/serviceLevelObjectives/{slo_id}"
        for burn, (long_window, short_window, rate, severity) in BURNS.items():
            policy = burns[burn]
            assert policy.name == f"{prefix(plan)}-alert-{slo_id}-{burn}-burn"
            assert policy.inputs["combiner"] == "AND"
            assert policy.inputs["severity"] == severity
            assert slo_keys[slo_id] in policy.depends_on
            thresholds = [c["conditionThreshold"] for c in policy.inputs["conditions"]]
            assert [t["filter"] for t in thresholds] == [
                f'select_slo_burn_rate("{name}", "{long_window}")',
                f'select_slo_burn_rate("{name}", "{short_window}")',
            ]
            for threshold in thresholds:
                assert threshold["thresholdValue"] == rate
                assert threshold["comparison"] == "COMPARISON_GT"
                assert threshold["duration"] == "0s"


def test_dashboards_in_every_phase_chart_only_known_metrics(plan: Plan) -> None:
    dashboards = {d.name.removeprefix(f"{prefix(plan)}-dashboard-"): d for d in mine(plan, DASHBOARD)}
    assert set(dashboards) == DASHBOARDS
    defined = defs.load(ROOT / "monitoring")
    known = defs.known_metric_types(defined.metrics, prefix(plan))
    for stem, dashboard in dashboards.items():
        body = json.loads(dashboard.inputs["dashboardJson"])
        assert body["displayName"].startswith(f"[{prefix(plan)}] "), stem
        assert "{prefix}" not in dashboard.inputs["dashboardJson"], stem
        referenced = defs.dashboard_metric_types(body)
        assert referenced, stem
        assert referenced <= known, f"{stem} charts {referenced - known}"


def test_query_latency_and_cache_alerts_from_the_first_player(plan: Plan) -> None:
    """The architecture's "queries < 100 ms" and "cache hit rate > 90 %" targets hold in every phase."""
    assert alert_ids(plan) & TARGET_ALERTS == TARGET_ALERTS


def test_multi_region_alerts_only_in_phase_3(plan: Plan, stack_phase: tuple[str, int]) -> None:
    present = alert_ids(plan) & MULTI_REGION_ALERTS
    assert present == (MULTI_REGION_ALERTS if stack_phase[1] == 3 else set())
    region_down = [p for p in policies(plan) if p.inputs["userLabels"]["alert_id"] == "region-down"]
    assert len(region_down) == (3 if stack_phase[1] == 3 else 0)


def test_email_channel_per_address_and_pagerduty_only_in_prod(plan: Plan) -> None:
    emails = {c.inputs["labels"]["email_address"] for c in mine(plan, CHANNEL) if c.inputs["type"] == "email"}
    assert emails == set(json.loads(config(plan, "alertEmails")))
    assert len(pagerduty(plan)) == (1 if plan.stack == "prod" else 0)


def test_every_alert_reaches_a_channel_and_prod_pages_severe_ones(plan: Plan) -> None:
    channels = {c.inputs["type"]: set() for c in mine(plan, CHANNEL)}
    names = {c.name: c.inputs["type"] for c in mine(plan, CHANNEL)}
    for policy in policies(plan):
        targets = policy.inputs["notificationChannels"]
        assert targets, policy.name
        assert set(targets) <= set(names), policy.name
        kinds = {names[t] for t in targets}
        assert "email" in kinds, policy.name
        severe = policy.inputs["severity"] in PAGED
        assert ("pagerduty" in kinds) is (plan.stack == "prod" and severe), policy.name
        for kind in kinds:
            channels[kind].add(policy.name)
    if plan.stack == "prod":
        critical = {p.name for p in policies(plan) if p.inputs["severity"] == "CRITICAL"}
        assert critical
        assert critical <= channels["pagerduty"]


@pytest.mark.parametrize("phase", PHASES)
def test_pagerduty_key_is_secret(phase: int) -> None:
    plan = plan_for("prod", phase)
    [channel] = pagerduty(plan)
    assert channel.secret_paths == ("sensitiveLabels.serviceKey",)
    assert channel.inputs["sensitiveLabels"] == {"serviceKey": "[secret]"}
    everything = json.dumps([r.inputs for r in plan.resources])
    assert "pagerdutyServiceKey" not in everything


def test_policies_carry_severity_owner_documentation_and_auto_close(plan: Plan) -> None:
    for policy in policies(plan):
        inputs = policy.inputs
        labels = inputs["userLabels"]
        assert inputs["severity"] == labels["severity"].upper()
        assert re.match(r"^[a-z][a-z0-9_-]*$", labels["owner"])
        assert labels["env"] == plan.stack
        assert inputs["alertStrategy"]["autoClose"] == "1800s"
        assert inputs["documentation"]["mimeType"] == "text/markdown"
        runbook = f"runbooks/alerts/{labels['alert_id']}.md"
        assert runbook in inputs["documentation"]["content"]
        text = (ROOT / runbook).read_text()
        for section in RUNBOOK_SECTIONS:
            assert section in text.splitlines(), f"{runbook} lacks {section}"
        assert inputs["conditions"]
        assert inputs["displayName"].startswith(f"[{prefix(plan)}] ")


def test_metrics_exist_before_the_policies_that_read_them(plan: Plan) -> None:
    log_metrics = {m.inputs["name"]: m for m in mine(plan, LOG_METRIC)}
    for policy in policies(plan):
        filters = json.dumps(policy.inputs["conditions"])
        for name in re.findall(r"logging\.googleapis\.com/user/([\w-]+)", filters):
            assert name in log_metrics, f"{policy.name} reads {name}, which no logging.Metric defines"
            assert log_metrics[name].key in policy.depends_on, policy.name
        # Metric-type filters need the descriptor at creation; PromQL reads the sidecar's series.
        assert "custom.googleapis.com" not in filters, policy.name
        assert "prometheus.googleapis.com" not in filters, f"{policy.name}: read Prometheus with PromQL"


def test_app_metric_alerts_are_promql(plan: Plan) -> None:
    by_id = {p.inputs["userLabels"]["alert_id"]: p for p in policies(plan)}
    reads = {"db-latency": "pog_firestore_latency_ms_bucket", "cache-hit-rate": "pog_cache_requests_total"}
    for alert_id, series in reads.items():
        [condition] = by_id[alert_id].inputs["conditions"]
        promql = condition["conditionPrometheusQueryLanguage"]
        assert series in promql["query"], alert_id
        assert promql["duration"] in {"600s", "900s"}
        assert promql["evaluationInterval"] == "60s"


def test_log_metrics_count_app_events(plan: Plan) -> None:
    filters = {m.inputs["name"]: m.inputs["filter"] for m in mine(plan, LOG_METRIC)}
    assert 'jsonPayload.event="payment_failed"' in filters[f"{prefix(plan)}-payment-failed"]
    assert 'jsonPayload.event="fraud_flagged"' in filters[f"{prefix(plan)}-fraud-flagged"]
    assert f'"{prefix(plan)}-firestore-export-"' in filters[f"{prefix(plan)}-export-failed"]


def test_server_error_alert_is_a_5xx_ratio_over_5_minutes(plan: Plan) -> None:
    [policy] = [p for p in policies(plan) if p.inputs["userLabels"]["alert_id"] == "server-errors"]
    [condition] = policy.inputs["conditions"]
    threshold = condition["conditionThreshold"]
    assert 'response_code_class="5xx"' in threshold["filter"]
    assert "run.googleapis.com/request_count" in threshold["denominatorFilter"]
    assert threshold["thresholdValue"] == 0.01
    assert threshold["aggregations"][0]["alignmentPeriod"] == "300s"


def test_uptime_checks_on_healthz(plan: Plan, stack_phase: tuple[str, int]) -> None:
    checks = mine(plan, UPTIME)
    host = config(plan, "apiHostname")
    for check in checks:
        assert check.inputs["httpCheck"]["path"] == "/healthz"
        assert check.inputs["httpCheck"]["useSsl"] is True
        assert check.inputs["monitoredResource"]["labels"]["host"] == host
        assert set(check.inputs["selectedRegions"]) == {"USA", "EUROPE", "ASIA_PACIFIC"}
    pinned = {
        c.inputs["httpCheck"]["headers"][PROBE_HEADER]: c
        for c in checks
        if PROBE_HEADER in c.inputs["httpCheck"].get("headers", {})
    }
    assert len(checks) - len(pinned) == 1
    if stack_phase[1] == 3:
        assert set(pinned) == set(api_regions(plan))
        assert len(pinned) == 3
    else:
        assert not pinned


@pytest.mark.parametrize("stack", STACKS)
def test_region_down_policy_watches_its_own_region(stack: str) -> None:
    plan = plan_for(stack, 3)
    checks = {r.name: r for r in mine(plan, UPTIME)}
    for region in api_regions(plan):
        policy = plan.get(POLICY, f"{prefix(plan)}-alert-region-down-{region}")
        watched = {d for d in policy.depends_on if d.startswith(UPTIME)}
        assert watched == {checks[f"{prefix(plan)}-uptime-{region}"].key}
        assert region in policy.inputs["displayName"]
    failover = plan.get(POLICY, f"{prefix(plan)}-alert-regional-failover")
    assert failover.inputs["combiner"] == "AND"
    assert {d for d in failover.depends_on if d.startswith(UPTIME)} == {c.key for c in checks.values()}
