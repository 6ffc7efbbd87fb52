"""monitoring/ definitions and runbooks/: loaded, complete, and rejected when malformed."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from infra import monitoring as defs
from infra.phases import PHASES, profile_for
from infra.stacks.budget import RUNBOOK as BUDGET_RUNBOOK
from pog.cli import app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "monitoring"
RUNBOOKS = ROOT / "runbooks"

EXPECTED_SETS = {
    "core": {
        "server-errors",
        "high-latency",
        "payment-failures",
        "suspicious-activity",
        "api-uptime",
        "backup-export-failed",
        "ops-job-failed",
        # The architecture's query-latency and cache-hit targets hold from the first player.
        "db-latency",
        "cache-hit-rate",
        "secret-rotation-due",
        "push-failures",
        "guard-fallback",
        # Analytics fails open; what it drops is lost for good, so the drops are watched from phase 1.
        "analytics-dropped",
        "analytics-dead-letters",
    },
    "multi_region": {"region-down", "regional-failover"},
}
EXPECTED_SLOS = {"slo-availability": (0.999, 28), "slo-latency": (0.99, 28)}
# Google SRE workbook multiwindow multi-burn-rate pairs: id -> (long, short, rate, severity).
EXPECTED_BURNS = {
    "fast": ("3600s", "300s", 14.4, "critical"),
    "medium": ("21600s", "1800s", 6.0, "critical"),
    "slow": ("259200s", "21600s", 1.0, "warning"),
}
DASHBOARDS = {"api", "data-stores", "payments", "leaderboards"}


@pytest.fixture(scope="module")
def definitions() -> defs.MonitoringDefinitions:
    return defs.load(MONITORING)


def test_alerts_per_set(definitions: defs.MonitoringDefinitions) -> None:
    by_set: dict[str, set[str]] = {}
    for alert in definitions.alerts:
        by_set.setdefault(alert.alert_set, set()).add(alert.id)
    assert by_set == EXPECTED_SETS


@pytest.mark.parametrize("phase", PHASES)
def test_select_loads_only_the_phase_sets(definitions: defs.MonitoringDefinitions, phase: int) -> None:
    sets = profile_for("dev", phase).alert_sets
    selected = definitions.select(sets)
    assert {a.id for a in selected.alerts} == set().union(*(EXPECTED_SETS.get(s, set()) for s in sets))
    used = set().union(*(a.metric_ids() for a in selected.alerts))
    assert set(selected.metrics) == used


def test_slos_goals_windows_and_burn_rates(definitions: defs.MonitoringDefinitions) -> None:
    slos = {s.id: s for s in definitions.slos}
    assert {k: (s.goal, s.rolling_days) for k, s in slos.items()} == EXPECTED_SLOS
    # The SLO targets apply from phase 1: both are in the core set.
    assert {s.alert_set for s in slos.values()} == {"core"}
    availability, latency = slos["slo-availability"].sli, slos["slo-latency"].sli
    assert isinstance(availability, defs.RatioSli)
    assert availability.bad.metric == availability.total.metric == "run.googleapis.com/request_count"
    assert 'response_code_class="5xx"' in availability.bad.filter
    assert isinstance(latency, defs.DistributionCutSli)
    assert latency.series.metric == "run.googleapis.com/request_latencies"
    assert latency.max == 200
    for slo in slos.values():
        burns = {b.id: (b.long_window, b.short_window, b.burn_rate, b.severity) for b in slo.burn_rate_alerts}
        assert burns == EXPECTED_BURNS, slo.id


@pytest.mark.parametrize("phase", PHASES)
def test_slos_are_selected_in_every_phase(definitions: defs.MonitoringDefinitions, phase: int) -> None:
    selected = definitions.select(profile_for("prod", phase).alert_sets)
    assert {s.id for s in selected.slos} == set(EXPECTED_SLOS)
    assert set(selected.dashboards) == DASHBOARDS


def test_dashboards_parse_and_chart_only_known_metrics(definitions: defs.MonitoringDefinitions) -> None:
    assert set(definitions.dashboards) == DASHBOARDS
    known = defs.known_metric_types(definitions.metrics)
    alert_metrics = {
        definitions.metrics[m].metric_type("{prefix}") if m in definitions.metrics else m
        for a in definitions.alerts
        for m in a.metric_ids() | {"run.googleapis.com/request_count"}
    }
    charted: set[str] = set()
    for stem, text in definitions.dashboards.items():
        body = json.loads(text)
        tiles = body["mosaicLayout"]["tiles"]
        assert tiles, stem
        for tile in tiles:
            assert tile["xPos"] + tile["width"] <= 48, stem
            assert "xyChart" in tile["widget"], stem
        referenced = defs.dashboard_metric_types(body)
        assert referenced, stem
        assert referenced <= known, f"{stem}: {referenced - known}"
        charted |= referenced
    # Every metric an alert reads is on some dashboard.
    assert alert_metrics <= charted, alert_metrics - charted


def test_every_alert_has_a_runbook_with_the_four_sections(definitions: defs.MonitoringDefinitions) -> None:
    alerts: list[defs.AlertDefinition | defs.SloDefinition] = [*definitions.alerts, *definitions.slos]
    assert {a.id for a in alerts} == set().union(*EXPECTED_SETS.values(), EXPECTED_SLOS)
    for alert in alerts:
        assert alert.runbook == f"runbooks/alerts/{alert.id}.md"
        lines = (ROOT / alert.runbook).read_text().splitlines()
        positions = [lines.index(section) for section in defs.RUNBOOK_SECTIONS]
        assert positions == sorted(positions), f"{alert.runbook}: sections out of order"
        for start, end in zip(positions, [*positions[1:], len(lines)], strict=True):
            body = "\n".join(lines[start + 1 : end]).strip()
            assert len(body) > 80, f"{alert.runbook}: section {lines[start]} is nearly empty"


def test_runbook_index_lists_every_alert_and_no_orphans(definitions: defs.MonitoringDefinitions) -> None:
    index = (RUNBOOKS / "README.md").read_text()
    ids = {a.id for a in definitions.alerts} | {s.id for s in definitions.slos}
    for alert_id in ids:
        assert f"(alerts/{alert_id}.md)" in index, f"runbooks/README.md does not link {alert_id}"
    on_disk = {p.stem for p in (RUNBOOKS / "alerts").glob("*.md")}
    # Cloud Billing's budget mail has a runbook but no Cloud Monitoring definition (infra/stacks/budget.py).
    assert on_disk == ids | {Path(BUDGET_RUNBOOK).stem}
    assert f"({Path(BUDGET_RUNBOOK).relative_to('runbooks')})" in index


def test_runbooks_name_only_pog_commands_that_exist() -> None:
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    # Sub-apps (`pog backup ...`); tests/runbooks/test_pog_commands.py checks whole paths with --help.
    commands |= {g.name or "" for g in app.registered_groups}
    used = [
        (path.name, command)
        for path in [RUNBOOKS / "README.md", *(RUNBOOKS / "alerts").glob("*.md")]
        for command in re.findall(r"\bpog (\w[\w-]*)", path.read_text())
    ]
    assert {command for _, command in used} >= {"backup", "leaderboards"}
    for name, command in used:
        assert command in commands, f"{name} uses `pog {command}`, which does not exist"


def test_runbooks_give_exact_commands() -> None:
    paths = sorted((RUNBOOKS / "alerts").glob("*.md"))
    assert paths  # which ones: test_runbook_index_lists_every_alert_and_no_orphans
    for path in paths:
        text = path.read_text()
        assert "```sh" in text, f"{path.name} has no shell commands"
        assert re.search(r"\b(gcloud|pulumi|redis-cli|curl)\b", text), path.name


def test_every_metric_alerts_read_is_defined_or_emitted_by_gcp(
    definitions: defs.MonitoringDefinitions,
) -> None:
    reads = [(alert.id, metric_id) for alert in definitions.alerts for metric_id in alert.metric_ids()]
    assert {alert_id for alert_id, _ in reads} >= {"db-latency", "cache-hit-rate", "payment-failures"}
    for alert_id, metric_id in reads:
        assert metric_id in definitions.metrics, f"{alert_id} reads {metric_id}"


def test_prometheus_metrics_are_documented_for_the_app(definitions: defs.MonitoringDefinitions) -> None:
    readme = (MONITORING / "README.md").read_text()
    prometheus = [m for m in definitions.metrics.values() if isinstance(m, defs.PrometheusMetricDefinition)]
    assert prometheus
    for metric in prometheus:
        assert f"`{metric.name}`" in readme, f"monitoring/README.md must ask the app for {metric.name}"
        gmp_type = metric.metric_type("")
        assert gmp_type in readme, f"monitoring/README.md must name {gmp_type}"


# --- the loader rejects bad definitions ----------------------------------------------------------

RUNBOOK = "\n\n".join(f"{section}\n\nText." for section in defs.RUNBOOK_SECTIONS)
VALID_ALERT = """\
id: sample
display_name: Sample alert
severity: warning
owner: platform
set: core
runbook: runbooks/alerts/sample.md
summary: Something happened.
conditions:
  - name: requests
    threshold:
      metric: run.googleapis.com/request_count
      filter: resource.type="cloud_run_revision"
      aligner: ALIGN_DELTA
      reducer: REDUCE_SUM
      window: 300s
      comparison: ">"
      threshold: 10
"""


def make_tree(tmp_path: Path, alert: str = VALID_ALERT, runbook: str | None = RUNBOOK) -> Path:
    (tmp_path / "monitoring" / "alerts").mkdir(parents=True)
    (tmp_path / "monitoring" / "metrics").mkdir()
    (tmp_path / "runbooks" / "alerts").mkdir(parents=True)
    (tmp_path / "monitoring" / "alerts" / "sample.yaml").write_text(alert)
    if runbook is not None:
        (tmp_path / "runbooks" / "alerts" / "sample.md").write_text(runbook)
    return tmp_path / "monitoring"


def rejected(monitoring_dir: Path) -> str:
    with pytest.raises(defs.DefinitionError) as info:
        defs.load(monitoring_dir)
    return str(info.value)


def test_valid_tree_loads(tmp_path: Path) -> None:
    loaded = defs.load(make_tree(tmp_path))
    [alert] = loaded.alerts
    assert alert.id == "sample"
    assert isinstance(alert.conditions[0], defs.ThresholdCondition)
    assert alert.conditions[0].comparison == "COMPARISON_GT"


def test_rejects_unknown_set(tmp_path: Path) -> None:
    message = rejected(make_tree(tmp_path, VALID_ALERT.replace("set: core", "set: nightly")))
    assert "monitoring/alerts/sample.yaml: `set` must be one of core, capacity, multi_region" in message
    assert "'nightly'" in message


def test_rejects_missing_runbook(tmp_path: Path) -> None:
    message = rejected(make_tree(tmp_path, runbook=None))
    assert (
        "monitoring/alerts/sample.yaml: `runbook` names runbooks/alerts/sample.md, which does not exist"
        in message
    )
    assert "write it" in message


def test_rejects_runbook_without_the_four_sections(tmp_path: Path) -> None:
    message = rejected(make_tree(tmp_path, runbook="## Meaning\n\nOnly this.\n"))
    assert (
        "`runbook` runbooks/alerts/sample.md lacks the section(s) ## Impact, ## Diagnosis, ## Mitigation"
        in message
    )


def test_rejects_bad_severity(tmp_path: Path) -> None:
    message = rejected(make_tree(tmp_path, VALID_ALERT.replace("severity: warning", "severity: sev1")))
    assert (
        "monitoring/alerts/sample.yaml: `severity` must be one of critical, error, warning; got 'sev1'"
        in message
    )


def test_rejects_unknown_condition_shape(tmp_path: Path) -> None:
    alert = VALID_ALERT.split("conditions:")[0] + textwrap.dedent(
        """\
        conditions:
          - name: mql
            mql: fetch cloud_run_revision | metric 'run.googleapis.com/request_count'
        """
    )
    message = rejected(make_tree(tmp_path, alert))
    assert (
        "monitoring/alerts/sample.yaml: `conditions[0]` must have `name` and exactly one condition shape"
        in message
    )
    assert "threshold, ratio, uptime, promql" in message
    assert "got mql" in message


def test_rejects_unknown_metric_and_bad_aggregation(tmp_path: Path) -> None:
    alert = (
        VALID_ALERT.replace("run.googleapis.com/request_count", "custom.googleapis.com/pog/unknown")
        .replace("ALIGN_DELTA", "ALIGN_AVERAGE")
        .replace("window: 300s", "window: 90s")
    )
    message = rejected(make_tree(tmp_path, alert))
    assert (
        "`conditions[0].threshold.metric` names an unknown metric 'custom.googleapis.com/pog/unknown'"
        in message
    )
    assert "monitoring/metrics/" in message
    assert "`conditions[0].threshold.aligner` must be one of" in message
    assert "`conditions[0].threshold.window` must be whole minutes" in message


def test_rejects_id_that_is_not_the_file_name(tmp_path: Path) -> None:
    message = rejected(make_tree(tmp_path, VALID_ALERT.replace("id: sample", "id: other")))
    assert "`id` must equal the file name without .yaml ('sample'); got 'other'" in message


def test_rejects_region_checks_outside_multi_region(tmp_path: Path) -> None:
    alert = VALID_ALERT.split("conditions:")[0] + textwrap.dedent(
        """\
        conditions:
          - name: pinned
            uptime:
              check: region
              state: failing
        """
    )
    message = rejected(make_tree(tmp_path, alert))
    assert "`set` must be multi_region" in message
    assert "`per_region` must be true" in message


def test_rejects_unknown_fields_and_invalid_yaml(tmp_path: Path) -> None:
    message = rejected(make_tree(tmp_path, VALID_ALERT + "priority: high\n"))
    assert "`priority` is not a known field" in message
    broken = tmp_path / "broken"
    broken.mkdir()
    message = rejected(make_tree(broken, "id: [unclosed\n"))
    assert "monitoring/alerts/sample.yaml: is not valid YAML" in message


def test_rejects_bad_metric_definition(tmp_path: Path) -> None:
    monitoring_dir = make_tree(tmp_path)
    (monitoring_dir / "metrics" / "orders.yaml").write_text(
        "id: orders\nkind: prometheus\nname: pog_orders_total\ntype: summary\ndescription: x\n"
        "metric_kind: CUMULATIVE\n"
    )
    message = rejected(monitoring_dir)
    assert "monitoring/metrics/orders.yaml: `type` must be one of counter, gauge, histogram" in message
    assert "`name` is the family name without the series suffix (e.g. 'pog_orders')" in message
    assert "monitoring/metrics/orders.yaml: `metric_kind` is not a known field" in message


PROMETHEUS_METRIC = "id: orders\nkind: prometheus\nname: pog_orders\ntype: counter\ndescription: x\n"


def promql_alert(query: str, extra_condition: str = "") -> str:
    head = VALID_ALERT.split("conditions:")[0]
    return (
        head
        + textwrap.dedent(
            f"""\
        conditions:
          - name: orders stalled
            promql:
              query: {query}
              duration: 600s
        """
        )
        + extra_condition
    )


def test_promql_condition_reads_the_defined_series(tmp_path: Path) -> None:
    monitoring_dir = make_tree(tmp_path, promql_alert("sum(rate(pog_orders_total[5m])) < 1"))
    (monitoring_dir / "metrics" / "orders.yaml").write_text(PROMETHEUS_METRIC)
    loaded = defs.load(monitoring_dir)
    [condition] = loaded.alerts[0].conditions
    assert isinstance(condition, defs.PromqlCondition)
    assert condition.metrics == ("orders",)
    assert loaded.alerts[0].metric_ids() == {"orders"}
    assert loaded.metrics["orders"].metric_type("p") == "prometheus.googleapis.com/pog_orders_total/counter"


def test_rejects_promql_reading_an_undefined_series(tmp_path: Path) -> None:
    # pog_orders is the family; the counter is exposed (and read) only as pog_orders_total.
    monitoring_dir = make_tree(tmp_path, promql_alert("sum(rate(pog_orders[5m])) < 1"))
    (monitoring_dir / "metrics" / "orders.yaml").write_text(PROMETHEUS_METRIC)
    message = rejected(monitoring_dir)
    assert "`conditions[0].promql.query` reads 'pog_orders', which no `kind: prometheus` file" in message
    assert "(known series: pog_orders_total)" in message


def test_rejects_promql_reading_none_of_the_apps_metrics(tmp_path: Path) -> None:
    message = rejected(make_tree(tmp_path, promql_alert("up == 0")))
    assert "`conditions[0].promql.query` must read at least one of the app's metrics" in message


def test_rejects_promql_beside_another_condition(tmp_path: Path) -> None:
    second = "  - name: requests\n    threshold:\n      metric: run.googleapis.com/request_count\n"
    second += "      aligner: ALIGN_DELTA\n      reducer: REDUCE_SUM\n      window: 300s\n"
    second += '      comparison: ">"\n      threshold: 1\n'
    monitoring_dir = make_tree(tmp_path, promql_alert("sum(rate(pog_orders_total[5m])) < 1", second))
    (monitoring_dir / "metrics" / "orders.yaml").write_text(PROMETHEUS_METRIC)
    message = rejected(monitoring_dir)
    assert "`conditions` a promql condition must be the alert's only condition" in message


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    alert = VALID_ALERT.replace("severity: warning", "severity: sev1").replace("set: core", "set: nightly")
    with pytest.raises(defs.DefinitionError) as error:
        defs.load(make_tree(tmp_path, alert, runbook=None))
    assert len(error.value.problems) == 3


VALID_SLO = """\
id: slo-sample
display_name: Sample SLO
owner: platform
set: core
runbook: runbooks/alerts/sample.md
summary: Budget burning.
goal: 0.999
rolling_days: 28
sli:
  ratio:
    bad: {metric: run.googleapis.com/request_count, filter: metric.label.response_code_class="5xx"}
    total: {metric: run.googleapis.com/request_count}
burn_rate_alerts:
  - {id: fast, severity: critical, burn_rate: 14.4, long_window: 3600s, short_window: 300s}
"""


def with_slo(tmp_path: Path, slo: str) -> Path:
    monitoring_dir = make_tree(tmp_path)
    (monitoring_dir / "slos").mkdir()
    (monitoring_dir / "slos" / "slo-sample.yaml").write_text(slo)
    return monitoring_dir


def test_valid_slo_loads(tmp_path: Path) -> None:
    [slo] = defs.load(with_slo(tmp_path, VALID_SLO)).slos
    assert slo.goal == 0.999
    assert slo.burn_rate_alerts == (defs.BurnRateAlert("fast", "critical", 14.4, "3600s", "300s"),)


def test_rejects_bad_slo(tmp_path: Path) -> None:
    slo = (
        VALID_SLO.replace("goal: 0.999", "goal: 99.9")
        .replace("rolling_days: 28", "rolling_days: 90")
        .replace("short_window: 300s", "short_window: 7200s")
        .replace("run.googleapis.com/request_count}", "run.googleapis.com/request_latencies}")
    )
    message = rejected(with_slo(tmp_path, slo))
    assert "monitoring/slos/slo-sample.yaml: `goal` must be a fraction between 0 and 1" in message
    assert "`rolling_days` must be a whole number of days from 1 to 30; got 90" in message
    assert "`burn_rate_alerts[0].short_window` must be shorter than long_window" in message
    assert "`sli.ratio` reads run.googleapis.com/request_latencies" in message


def test_rejects_dashboard_with_unknown_metric_or_bad_json(tmp_path: Path) -> None:
    monitoring_dir = make_tree(tmp_path)
    (monitoring_dir / "dashboards").mkdir()
    tile = {
        "xPos": 0, "yPos": 0, "width": 24, "height": 16,
        "widget": {"xyChart": {"dataSets": [{"timeSeriesQuery": {"timeSeriesFilter": {
            "filter": 'metric.type="custom.googleapis.com/pog/unknown"'}}}]}},
    }  # fmt: skip
    (monitoring_dir / "dashboards" / "x.json").write_text(
        json.dumps({"displayName": "X", "mosaicLayout": {"columns": 48, "tiles": [tile]}})
    )
    (monitoring_dir / "dashboards" / "y.json").write_text("{not json")
    message = rejected(monitoring_dir)
    assert (
        "monitoring/dashboards/x.json: charts the unknown metric 'custom.googleapis.com/pog/unknown'"
        in message
    )
    assert "monitoring/dashboards/y.json: is not valid JSON" in message


def test_rejects_bad_label_key_and_names_the_mapping(tmp_path: Path) -> None:
    monitoring_dir = make_tree(tmp_path)
    (monitoring_dir / "metrics" / "orders.yaml").write_text(
        PROMETHEUS_METRIC + "labels:\n  Bad-Key: {description: x}\n  ok_key: {description: y, unit: ms}\n"
    )
    message = rejected(monitoring_dir)
    assert (
        "monitoring/metrics/orders.yaml: `labels` key 'Bad-Key' must be lowercase letters, digits"
        " and underscores" in message
    )
    assert "`labels.ok_key.unit` is not a known field (known: description)" in message


def test_a_broken_metric_file_is_reported_once_not_by_its_readers(tmp_path: Path) -> None:
    monitoring_dir = make_tree(tmp_path, promql_alert("sum(rate(pog_orders_total[5m])) < 1"))
    (monitoring_dir / "metrics" / "orders.yaml").write_text(
        PROMETHEUS_METRIC.replace("type: counter", "type: x")
    )
    with pytest.raises(defs.DefinitionError) as error:
        defs.load(monitoring_dir)
    assert error.value.problems == [
        "monitoring/metrics/orders.yaml: `type` must be one of counter, gauge, histogram; got 'x'"
    ]
