"""`pog cost`: the tables, --json, --markdown, --users beside the architecture's figures, --strict, errors.

No total is pinned: the figures come from the price table and the usage model, which other work changes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.cost import cli as cost_cli
from infra.cost.meters import FREE, METERS, is_component
from infra.cost.usage import load_usage
from infra.plan.sources import plan_inventory
from pog.cli import app

pytestmark = pytest.mark.unit

runner = CliRunner()
BOGUS = "gcp:bogus/thing:Thing"


def cost(*args: str) -> Any:
    return runner.invoke(app, ["cost", *args])


def as_json(*args: str) -> dict[str, Any]:
    result = cost(*args, "--json", "-")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_the_tables_name_each_layer_and_resource_with_a_total() -> None:
    report = as_json("dev")
    result = cost("dev")

    assert result.exit_code == 0, result.output
    total = f"${report['total_usd']:,.2f}"
    dev = load_usage().dev_monthly_active  # dev is priced at its own testers' load
    assert f"pot-of-gold/dev phase 1 at {dev:,} monthly active players: {total} per month" in result.output
    assert "Monthly cost per layer" in result.output
    assert "Monthly cost per resource" in result.output
    # 80 columns under the test runner: long cells wrap, so only short ones are looked for.
    assert "compute" in result.output
    assert "pog-dev-api" in result.output
    assert result.output.count("has no price line") == len({u["type"] for u in report["unpriced"]})


def test_json_shape_and_arithmetic() -> None:
    report = as_json("dev")

    assert set(report) == {"stack", "phase", "users", "total_usd", "layers", "resources", "unpriced"}
    assert (report["stack"], report["phase"], report["users"]) == ("dev", 1, load_usage().dev_monthly_active)
    assert report["resources"], "Cloud Run services are priced"
    first = report["resources"][0]
    assert set(first) == {"type", "name", "layer", "monthly_usd", "charges"}
    assert {"line", "quantity", "usd", "note"} <= set(first["charges"][0])
    resources_total = sum(r["monthly_usd"] for r in report["resources"])
    assert report["total_usd"] == pytest.approx(resources_total, abs=0.01 * len(report["resources"]))
    layers_total = sum(report["layers"].values())
    assert report["total_usd"] == pytest.approx(layers_total, abs=0.01 * len(report["layers"]))


def test_phase_prices_the_top_of_that_phases_range(tmp_path: Any) -> None:
    out = tmp_path / "cost.json"

    result = cost("prod", "--phase", "2", "--json", str(out))

    assert result.exit_code == 0, result.output
    assert "estimate written to" in result.output
    report = json.loads(out.read_text())
    assert (report["stack"], report["phase"], report["users"]) == ("prod", 2, 1_000_000)


def test_markdown_for_ci() -> None:
    result = cost("dev", "--markdown")

    assert result.exit_code == 0, result.output
    dev = load_usage().dev_monthly_active
    assert result.output.startswith(f"### `pog cost dev`: pot-of-gold/dev phase 1 at {dev:,}")
    assert "| **total** |" in result.output
    assert "| compute | `gcp:cloudrunv2/service:Service` |" in result.output
    assert "┃" not in result.output


def test_users_beside_the_architectures_figures() -> None:
    report = as_json("dev", "--users", "10k,100k,1m,10m,25k")
    table = cost("dev", "--users", "10k,100k,1m,10m,25k")

    rows = [(e["users"], e["phase"], e["architecture_usd"]) for e in report["estimates"]]
    assert rows == [
        (10_000, 1, 100),
        (100_000, 1, 500),
        (1_000_000, 2, 3000),
        (10_000_000, 3, 15000),
        (25_000, 1, None),
    ]
    assert report["estimates"][1]["total_usd"] >= report["estimates"][0]["total_usd"]
    assert table.exit_code == 0, table.output
    assert "our estimate against the architecture's figure" in table.output
    assert "$15,000.00" in table.output
    assert "—" in table.output  # 25,000 is not one of the architecture's four counts
    markdown = cost("dev", "--users", "10k", "--markdown")
    assert "| 10,000 | 1 |" in markdown.output
    assert "| $100.00 |" in markdown.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dev", "--users", "10x"], "error: --users: '10x' is not a user count"),
        (["dev", "--users", "10k,,1m"], "error: --users: '' is not a user count"),
        (["dev", "--users", "0"], "error: --users: '0' is not a whole number of users"),
        (["dev", "--users", "1m", "--phase", "2"], "give --phase or --users, not both"),
        (["staging"], "unknown stack 'staging'"),
        (["dev", "--phase", "4"], "--phase must be 1, 2 or 3; got 4"),
    ],
)
def test_bad_input_is_one_error_line(args: list[str], message: str) -> None:
    result = cost(*args)

    assert result.exit_code == 1, result.output
    assert message in result.output
    assert result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output


def _plan_with(extra: list[dict[str, Any]], drop_unpriced: bool) -> Any:
    def planned(stack: str, phase: int | None) -> dict[str, Any]:
        inventory = plan_inventory(stack, phase)
        if drop_unpriced:
            inventory["resources"] = [
                r
                for r in inventory["resources"]
                if r["type"] in METERS or r["type"] in FREE or is_component(r["type"])
            ]
        inventory["resources"] += extra
        return inventory

    return planned


def test_strict_fails_on_an_unpriced_type_and_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    bogus: dict[str, Any] = {"type": BOGUS, "name": "pog-dev-bogus", "parent": None, "inputs": {}}
    monkeypatch.setattr(cost_cli, "plan_inventory", _plan_with([bogus], drop_unpriced=True))

    lenient, strict = cost("dev"), cost("dev", "--strict")

    assert lenient.exit_code == 0, lenient.output
    assert f"warning: {BOGUS} (1 resource(s)) has no price line" in lenient.output
    assert strict.exit_code == 1, strict.output
    assert "error: --strict: some resource types have no price line" in strict.output


def test_strict_passes_when_every_type_is_priced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost_cli, "plan_inventory", _plan_with([], drop_unpriced=True))

    result = cost("dev", "--strict")

    assert result.exit_code == 0, result.output
    assert "has no price line" not in result.output
