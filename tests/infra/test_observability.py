"""Observability layer: channels, uptime checks, metrics and alert policies from monitoring/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra.plan.engine import Plan, PlannedResource
from infra.plan.stackfile import load_stack
from infra.stacks.compute import PROBE_HEADER
from infra.stacks.monitoring_defs import RUNBOOK_SECTIONS
from tests.infra.conftest import PHASES, STACKS, plan_for
from tests.infra.layers import Layer, prefix

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
LOG_METRIC = "gcp:logging/metric:Metric"
DESCRIPTOR = "gcp:monitoring/metricDescriptor:MetricDescriptor"

SEED_ALERTS = {"server-errors", "high-latency", "payment-failures", "suspicious-activity"}
CAPACITY_ALERTS = {"db-latency", "cache-hit-rate"}
MULTI_REGION_ALERTS = {"region-down", "regional-failover"}
PAGED = {"CRITICAL", "ERROR"}

LAYER = Layer("potgold:observability:Observability", "observability")
children = LAYER.children
mine = LAYER.mine


def config(plan: Plan, key: str) -> str:
    return load_stack(plan.stack).config[f"pot-of-gold:{key}"]


def api_regions(plan: Plan) -> list[str]:
    return [r.inputs["location"] for r in plan.of_type("gcp:cloudrunv2/service:Service")]


def policies(plan: Plan) -> list[PlannedResource]:
    return mine(plan, POLICY)


def alert_ids(plan: Plan) -> set[str]:
    return {p.inputs["userLabels"]["alert_id"] for p in policies(plan)}


def pagerduty(plan: Plan) -> list[PlannedResource]:
    return [c for c in mine(plan, CHANNEL) if c.inputs["type"] == "pagerduty"]


def test_children_are_prefixed_and_use_the_gcp_provider(plan: Plan) -> None:
    for r in children(plan):
        assert r.name.startswith(f"{prefix(plan)}-"), r.name
        assert r.provider == f"pulumi:providers:gcp::{prefix(plan)}-gcp", r.name


def test_seed_alerts_in_every_stack(plan: Plan) -> None:
    assert alert_ids(plan) >= SEED_ALERTS | {"api-uptime", "backup-export-failed"}


def test_capacity_alerts_from_phase_2(plan: Plan, stack_phase: tuple[str, int]) -> None:
    present = alert_ids(plan) & CAPACITY_ALERTS
    assert present == (CAPACITY_ALERTS if stack_phase[1] >= 2 else set())


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
    descriptors = {d.inputs["type"]: d for d in mine(plan, DESCRIPTOR)}
    for policy in policies(plan):
        filters = json.dumps(policy.inputs["conditions"])
        for name in re.findall(r"logging\.googleapis\.com/user/([\w-]+)", filters):
            assert name in log_metrics, f"{policy.name} reads {name}, which no logging.Metric defines"
            assert log_metrics[name].key in policy.depends_on, policy.name
        for metric_type in re.findall(r"custom\.googleapis\.com/[\w/]+", filters):
            assert metric_type in descriptors, f"{policy.name} reads {metric_type} without a descriptor"
            assert descriptors[metric_type].key in policy.depends_on, policy.name


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
