"""infra/cost/diff.py: the monthly cost a diff changes, and `pog diff` showing it in every format.

No figure is pinned: expectations come from pricing each side alone, or from comparing the two sides.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.cost import diff as cost_diff
from infra.cost.cli import price
from infra.cost.diff import money_diff
from infra.cost.prices import PriceError
from infra.cost.usage import load_usage, phase_for, top_of_phase
from infra.plan.inventory import to_inventory
from pog.cli import app
from tests.infra.conftest import plan_for

pytestmark = pytest.mark.unit

runner = CliRunner()
RUN = "gcp:cloudrunv2/service:Service"
REDIS_TYPES = (
    "rediscloud:index/subscription:Subscription",
    "rediscloud:index/subscriptionDatabase:SubscriptionDatabase",
)
API = "pog-dev-api-us-central1"
PARENT = "potgold:compute:Compute::pog-dev-compute"


def service(name: str, memory: str = "512Mi", minimum: int = 1) -> dict[str, Any]:
    container = {"image": "api:1", "resources": {"limits": {"cpu": "1", "memory": memory}}}
    return {
        "type": RUN,
        "name": name,
        "parent": PARENT,
        "protect": False,
        "inputs": {"template": {"containers": [container], "scaling": {"minInstanceCount": minimum}}},
    }


def inventory(*resources: dict[str, Any], phase: int = 1) -> dict[str, Any]:
    return {"stack": "dev", "phase": phase, "outputs": {}, "resources": list(resources)}


def test_phase_ranges() -> None:
    assert [top_of_phase(p) for p in (1, 2, 3)] == [100_000, 1_000_000, 10_000_000]
    counts = (1, 100_000, 100_001, 1_000_000, 10_000_000, 50_000_000)
    assert [phase_for(n) for n in counts] == [1, 1, 2, 2, 3, 3]


def test_more_memory_shows_its_monthly_change() -> None:
    old = inventory(service(API, "512Mi"))
    new = inventory(service(API, "2Gi"))

    money = money_diff(old, new)

    alone_old = price(old, money.users).monthly_usd
    alone_new = price(new, money.users).monthly_usd
    assert alone_new > alone_old, "the price table charges for memory"
    (moved,) = money.resources
    assert moved.symbol == "~"
    assert moved.old_usd == pytest.approx(alone_old)
    assert moved.new_usd == pytest.approx(alone_new)
    assert money.change == pytest.approx(alone_new - alone_old)
    assert money.users == load_usage().dev_monthly_active  # dev: its own testers' load, whatever the phase


def test_an_added_resource_is_plus_and_a_removed_one_minus() -> None:
    kept, extra = service(API), service("pog-dev-api-europe-west1")
    one, two = inventory(kept), inventory(kept, extra)
    one["stack"] = two["stack"] = "prod"  # at prod's load the first region's share moves by dollars

    added = money_diff(one, two)
    removed = money_diff(two, one)

    # A second region also takes half the requests off the first: only the new one is "+".
    assert [r.symbol for r in added.resources if r.name == extra["name"]] == ["+"]
    assert [r.symbol for r in removed.resources if r.name == extra["name"]] == ["-"]
    (plus,) = (r for r in added.resources if r.name == extra["name"])
    assert plus.old_usd is None
    assert plus.new_usd is not None
    assert plus.change == pytest.approx(plus.new_usd)
    assert plus.change > 0
    assert removed.change == pytest.approx(-added.change)
    assert added.change == pytest.approx(sum(r.change for r in added.resources))


def test_both_sides_are_priced_at_the_new_sides_load() -> None:
    old, new = inventory(service(API), phase=1), inventory(service(API), phase=2)
    old["stack"] = new["stack"] = "prod"  # prod is priced at the top of its phase's range

    money = money_diff(old, new)

    assert (money.users, money.phase) == (1_000_000, 2)
    assert money.resources == (), "the same resource at the same load costs the same"
    assert money.old_usd == pytest.approx(price(old, 1_000_000).monthly_usd)
    expected = "1,000,000 monthly active players, the load `pog cost` prices the new side at (phase 2)"
    assert expected in "\n".join(money.markdown_lines())


def test_a_larger_redis_in_the_real_prod_plan_costs_more() -> None:
    old = to_inventory(plan_for("prod", 2), 2)
    new = copy.deepcopy(old)
    for resource in new["resources"]:
        if resource["type"] in REDIS_TYPES:
            for holder in (resource["inputs"], resource["inputs"].get("creationPlan", {})):
                if "memoryLimitInGb" in holder:
                    holder["memoryLimitInGb"] *= 2

    money = money_diff(old, new)

    redis = [r for r in money.resources if r.type in REDIS_TYPES]
    assert redis, f"doubling the Redis memory moves no price line: {money.to_dict()}"
    assert all(r.symbol == "~" and r.change > 0 for r in redis)
    assert money.change == pytest.approx(sum(r.change for r in money.resources))


def test_a_broken_price_table_is_said_and_the_diff_still_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise PriceError("prices.yaml: lines.run.requests.usd: must be >= 0 (fix the line)")

    monkeypatch.setattr(cost_diff, "load_prices", broken)
    money = cost_diff.money_appendix(inventory(), inventory(service(API)))

    assert money.error is not None
    assert "prices.yaml" in money.error
    assert "not estimated" in " ".join(money.text_lines())


def _files(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(inventory(service(API, "512Mi"))))
    new.write_text(json.dumps(inventory(service(API, "1Gi"))))
    return old, new


def test_pog_diff_text_has_the_monthly_cost(tmp_path: Path) -> None:
    old, new = _files(tmp_path)

    result = runner.invoke(app, ["diff", str(old), str(new)])

    assert result.exit_code == 2, result.output
    money = money_diff(json.loads(old.read_text()), json.loads(new.read_text()))
    totals = f"${money.old_usd:,.2f} → ${money.new_usd:,.2f} (+${money.change:,.2f})"
    assert f"Monthly cost {totals}" in result.output
    assert "pog-dev-api-us-central1: $" in result.output


def test_pog_diff_markdown_and_json_have_the_monthly_cost(tmp_path: Path) -> None:
    old, new = _files(tmp_path)

    markdown = runner.invoke(app, ["diff", str(old), str(new), "--format", "markdown"])
    as_json = runner.invoke(app, ["diff", str(old), str(new), "--format", "json"])

    assert "#### Monthly cost" in markdown.output
    assert "| ~ | `gcp:cloudrunv2/service:Service` | `pog-dev-api-us-central1` |" in markdown.output
    assert "| | **Total** |" in markdown.output
    section = json.loads(as_json.output)["monthly_cost"]
    assert section["change_usd"] > 0
    assert [r["name"] for r in section["resources"]] == [API]
    assert section["users"] == load_usage().dev_monthly_active


def test_pog_diff_without_changes_has_no_money_section(tmp_path: Path) -> None:
    old, _ = _files(tmp_path)

    result = runner.invoke(app, ["diff", str(old), str(old)])

    assert result.exit_code == 0, result.output
    assert "No changes." in result.output
    assert "Monthly cost" not in result.output
