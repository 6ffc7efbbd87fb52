"""`pog diff`: the diff engine on small inventories, its renderers, operands and the command."""

from __future__ import annotations

import importlib
import inspect
import json
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.config import ConfigError
from infra.plan import sources
from infra.plan.diff import (
    Action,
    Diff,
    align_stacks,
    diff_inventories,
    format_value,
    parse_rule_path,
    render_json,
    render_markdown,
    render_text,
)
from infra.plan.diff.keyed_lists import CLOUDFLARE_RULESET, FIRESTORE_INDEX
from infra.plan.replacements import DATA_HOLDING, REPLACEMENT_RULES, ReplacementRule, rules_for
from infra.plan.stackfile import REPO_ROOT, PlanInputError, load_stack
from pog.cli import app

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"
BEFORE, AFTER = FIXTURES / "diff_before.json", FIXTURES / "diff_after.json"

RUN = "gcp:cloudrunv2/service:Service"
DB = "gcp:firestore/database:Database"
BUCKET = "gcp:storage/bucket:Bucket"
SA = "gcp:serviceaccount/account:Account"
SUBSCRIPTION = "rediscloud:index/subscription:Subscription"


def res(type_: str, name: str, inputs: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": type_,
        "name": name,
        "parent": None,
        "provider": "pulumi:providers:gcp::gcp",
        "protect": False,
        "depends_on": [],
        "secret_paths": [],
        "inputs": inputs or {},
    }
    entry.update(options)
    return entry


def inv(*resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"stack": "dev", "phase": 1, "outputs": outputs or {}, "resources": list(resources)}


def one(a: dict[str, Any], b: dict[str, Any], **kwargs: Any) -> Diff:
    return diff_inventories(inv(a), inv(b), **kwargs)


def paths(diff: Diff) -> list[str]:
    return [change.path for r in diff.resources for change in r.changes]


def service(min_instances: int = 1, **extra: Any) -> dict[str, Any]:
    inputs = {
        "name": "api",
        "location": "us-central1",
        "template": {
            "scaling": {"minInstanceCount": min_instances},
            "containers": [{"image": "api:1", "env": [{"name": "A", "value": "1"}]}],
        },
    }
    inputs.update(extra)
    return res(RUN, "api", inputs)


# --- the engine ---------------------------------------------------------------------------------------


def test_identical_inventories_have_no_changes() -> None:
    inventory = json.loads(BEFORE.read_text())

    diff = diff_inventories(inventory, json.loads(BEFORE.read_text()))

    assert not diff.has_changes
    assert diff.resources == ()
    assert diff.summary == "0 to add, 0 to change, 0 to replace, 0 to destroy"


def test_added_removed_and_changed_resources_by_key() -> None:
    a = inv(res(SA, "kept", {"displayName": "x"}), res(SA, "gone"))
    b = inv(res(SA, "kept", {"displayName": "y"}), res(SA, "new"))

    diff = diff_inventories(a, b)

    assert [(r.name, r.action) for r in diff.resources] == [
        ("gone", Action.DESTROY),
        ("kept", Action.CHANGE),
        ("new", Action.ADD),
    ]
    assert diff.summary == "1 to add, 1 to change, 0 to replace, 1 to destroy"
    assert diff.has_changes


def test_same_name_of_another_type_is_another_resource() -> None:
    diff = diff_inventories(inv(res(SA, "x")), inv(res(BUCKET, "x", {"name": "x", "location": "US"})))

    assert sorted((r.type, r.action) for r in diff.resources) == [(SA, Action.DESTROY), (BUCKET, Action.ADD)]


def test_changed_property_paths_nested_and_by_list_index() -> None:
    before = service(1)
    after = service(2)
    after["inputs"]["template"]["containers"][0]["env"][0]["value"] = "2"
    after["inputs"]["template"]["containers"][0]["env"].append({"name": "B", "value": "3"})

    diff = one(before, after)

    assert paths(diff) == [
        "template.containers[0].env[0].value",
        "template.containers[0].env[1]",
        "template.scaling.minInstanceCount",
    ]
    change = diff.resources[0].changes[2]
    assert (change.old_text, change.new_text) == ("1", "2")
    assert diff.resources[0].changes[1].old_text == "(none)"
    assert diff.resources[0].changes[1].new_text == '{"name": "B", "value": "3"}'


def test_removed_list_items_keys_with_dots_and_null_versus_absent() -> None:
    before = res(BUCKET, "b", {"labels": {"app.kubernetes.io/name": "api"}, "cors": [1, 2, 3], "x": None})
    after = res(BUCKET, "b", {"labels": {"app.kubernetes.io/name": "web"}, "cors": [1, 2]})

    diff = one(before, after)

    # Pulumi drops null inputs: `x: null` and no `x` are the same declaration.
    assert paths(diff) == ["cors[2]", 'labels["app.kubernetes.io/name"]']
    assert diff.resources[0].changes[0].new_text == "(none)"


def test_booleans_are_not_numbers() -> None:
    diff = one(res(SA, "s", {"flag": True}), res(SA, "s", {"flag": 1}))

    assert paths(diff) == ["flag"]


def test_parent_provider_and_protect_changes_are_listed() -> None:
    before = res(SA, "s", parent="potgold:a:A::one", provider="pulumi:providers:gcp::old", protect=False)
    after = res(SA, "s", parent="potgold:a:A::two", provider="pulumi:providers:gcp::new", protect=True)

    diff = one(before, after)

    assert paths(diff) == ["(parent)", "(provider)", "(protect)"]
    # A new parent is a new URN: Pulumi deletes and re-creates it (no alias in the inventory).
    assert diff.resources[0].action is Action.REPLACE
    assert diff.resources[0].changes[0].replace_reason
    assert diff.resources[0].changes[1].replace_reason is None


def test_provider_or_protect_change_alone_is_an_update() -> None:
    diff = one(res(SA, "s", protect=False), res(SA, "s", protect=True))

    assert diff.resources[0].action is Action.CHANGE


def test_long_values_are_shortened() -> None:
    text = format_value("x" * 500)

    assert len(text) == 80
    assert text.endswith("…")
    assert format_value({"b": 1, "a": [True, None]}) == '{"a": [true, null], "b": 1}'


# --- secrets ------------------------------------------------------------------------------------------

PLAIN = "hunter2-plain-value"


def test_secret_values_compare_equal() -> None:
    secret = res("gcp:secretmanager/secretVersion:SecretVersion", "v", {"secretData": "[secret]"})

    assert not one(secret, json.loads(json.dumps(secret))).has_changes


def test_a_value_that_stops_being_secret_is_never_printed() -> None:
    before = res("gcp:secretmanager/secretVersion:SecretVersion", "v", {"secretData": "[secret]"})
    after = res("gcp:secretmanager/secretVersion:SecretVersion", "v", {"secretData": PLAIN})

    diff = one(before, after)
    change = diff.resources[0].changes[0]

    assert (change.path, change.old_text, change.new_text) == ("secretData", "[secret]", "[secret]")
    assert change.note == "no longer secret"
    assert PLAIN not in render_text(diff)
    assert PLAIN not in render_markdown(diff)
    assert PLAIN not in render_text(one(after, before))


def test_values_under_an_engine_secret_path_are_never_printed() -> None:
    # An inventory edited by hand (or by an older pog) may hold a clear value at a secret path.
    before = res(SA, "s", {"config": {"token": "[secret]"}}, secret_paths=["config"])
    after = res(SA, "s", {"config": {"token": PLAIN}}, secret_paths=["config"])

    diff = one(before, after)

    assert paths(diff) == ["config.token"]
    assert PLAIN not in render_text(diff) + render_markdown(diff)


def test_secret_outputs_are_never_printed() -> None:
    diff = diff_inventories(inv(outputs={"redis": "[secret]"}), inv(outputs={"redis": PLAIN}))

    assert diff.has_changes
    assert PLAIN not in render_text(diff) + render_markdown(diff)


# --- replacements and data loss -----------------------------------------------------------------------


def test_a_replacement_property_makes_a_replace() -> None:
    before = res(DB, "game", {"name": "game", "locationId": "nam5", "type": "FIRESTORE_NATIVE"})
    after = res(DB, "game", {"name": "game", "locationId": "eur3", "type": "FIRESTORE_NATIVE"})

    diff = one(before, after)
    [resource] = diff.resources

    assert resource.action is Action.REPLACE
    assert resource.changes[0].replace_reason == "a Firestore database cannot change location"
    assert resource.data_loss is not None
    assert "every document" in resource.data_loss
    assert diff.summary == "0 to add, 0 to change, 1 to replace, 0 to destroy"


def test_an_ordinary_property_is_an_in_place_change() -> None:
    diff = one(service(1), service(2))

    assert diff.resources[0].action is Action.CHANGE
    assert diff.resources[0].data_loss is None


def test_only_the_properties_that_force_it_are_marked() -> None:
    diff = one(service(1), service(2, location="europe-west1"))

    marked = {c.path: c.replace_reason for c in diff.resources[0].changes}
    assert diff.resources[0].action is Action.REPLACE
    assert marked == {"location": "a service cannot change region", "template.scaling.minInstanceCount": None}
    # Cloud Run holds no data and is not protected: a replacement, not a data loss.
    assert diff.resources[0].data_loss is None


def test_firestore_type_is_updated_in_place() -> None:
    # mmv1 Database.yaml: `type` has no `immutable: true` (the provider PATCHes it).
    before = res(DB, "game", {"name": "game", "locationId": "nam5", "type": "DATASTORE_MODE"})
    after = res(DB, "game", {"name": "game", "locationId": "nam5", "type": "FIRESTORE_NATIVE"})

    assert one(before, after).resources[0].action is Action.CHANGE


def test_list_item_rules_select_a_field_in_every_item() -> None:
    rules = [ReplacementRule(SUBSCRIPTION, "cloudProvider.regions[].region", "regions are fixed")]

    def sub(*regions: dict[str, Any]) -> dict[str, Any]:
        return res(SUBSCRIPTION, "r", {"cloudProvider": {"provider": "GCP", "regions": list(regions)}})

    us, eu = (
        {"region": "us-central1", "cidr": "10.0.0.0/24"},
        {"region": "europe-west1", "cidr": "10.1.0.0/24"},
    )
    us_other_cidr = {**us, "cidr": "10.9.0.0/24"}

    assert parse_rule_path("cloudProvider.regions[].region") == ("cloudProvider", "regions", -1, "region")
    assert one(sub(us), sub(eu), rules=rules).resources[0].action is Action.REPLACE
    assert one(sub(us), sub(us, eu), rules=rules).resources[0].action is Action.REPLACE
    assert one(sub(us), sub(us_other_cidr), rules=rules).resources[0].action is Action.CHANGE
    changed = one(sub(us), sub(eu), rules=rules).resources[0].changes
    # Regions are a keyed list: one region gone and another added, both forcing the replacement.
    assert [(c.path, c.symbol, c.replace_reason) for c in changed] == [
        ("cloudProvider.regions[europe-west1]", "+", "regions are fixed"),
        ("cloudProvider.regions[us-central1]", "-", "regions are fixed"),
    ]
    [cidr] = one(sub(us), sub(us_other_cidr), rules=rules).resources[0].changes
    assert (cidr.path, cidr.replace_reason) == ("cloudProvider.regions[us-central1].cidr", None)


def test_destroying_a_data_holding_type_is_a_data_loss_risk() -> None:
    diff = diff_inventories(inv(res(BUCKET, "exports"), res(SA, "sa")), inv())

    assert {r.name: r.data_loss is not None for r in diff.resources} == {"exports": True, "sa": False}


def test_destroying_or_replacing_a_protected_resource_is_a_data_loss_risk() -> None:
    destroyed = diff_inventories(inv(res(SA, "sa", protect=True)), inv())
    replaced = one(res(SA, "sa", {"accountId": "api"}), res(SA, "sa", {"accountId": "api-v2"}, protect=True))

    assert destroyed.resources[0].data_loss == "protected (protect=True)"
    assert replaced.resources[0].action is Action.REPLACE
    assert replaced.resources[0].data_loss == "protected (protect=True)"


def test_adding_a_protected_data_resource_is_no_risk() -> None:
    diff = diff_inventories(inv(), inv(res(DB, "game", protect=True)))

    assert diff.data_loss == []
    assert diff.resources[0].protected


def test_ordering_is_by_key_whatever_the_input_order() -> None:
    resources = [res(SA, f"sa-{i:02d}", {"displayName": str(i)}) for i in range(20)]
    changed = [res(SA, r["name"], {"displayName": "changed"}) for r in resources]
    shuffled = changed[:]
    random.Random(7).shuffle(shuffled)

    diff = diff_inventories(inv(*resources), inv(*changed))
    again = diff_inventories(inv(*reversed(resources)), inv(*shuffled))

    assert [r.name for r in diff.resources] == sorted(r["name"] for r in resources)
    assert render_markdown(diff) == render_markdown(again)
    assert render_text(diff) == render_text(again)


# --- keyed lists ----------------------------------------------------------------------------------------

JOB = "gcp:cloudrunv2/job:Job"
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"


def env(name: str, value: str = "x") -> dict[str, str]:
    return {"name": name, "value": value}


def job(*envs: dict[str, Any], secret_paths: list[str] | None = None) -> dict[str, Any]:
    containers = [{"name": "announce", "image": "api:1", "envs": list(envs)}]
    return res(
        JOB,
        "announce",
        {"template": {"template": {"containers": containers}}},
        secret_paths=secret_paths or [],
    )


ENVS = [env(f"POG_{n:02d}") for n in range(12)]


@pytest.mark.unit
def test_an_env_var_added_in_the_middle_is_one_addition() -> None:
    after = [*ENVS[:3], env("POG_FOO", "on"), *ENVS[3:]]

    [resource] = one(job(*ENVS), job(*after)).resources

    assert [(c.path, c.kind, c.new_text) for c in resource.changes] == [
        (
            "template.template.containers[announce].envs[POG_FOO]",
            "added",
            '{"name": "POG_FOO", "value": "on"}',
        )
    ]


@pytest.mark.unit
def test_an_env_var_added_and_another_changed_are_two_entries() -> None:
    after = [*ENVS[:3], env("POG_FOO"), *ENVS[3:]]
    after[8] = env(after[8]["name"], "changed")

    [resource] = one(job(*ENVS), job(*after)).resources

    assert [(c.path, c.symbol) for c in resource.changes] == [
        ("template.template.containers[announce].envs[POG_07].value", "~"),
        ("template.template.containers[announce].envs[POG_FOO]", "+"),
    ]


@pytest.mark.unit
def test_a_removed_env_var_is_one_removal_and_a_new_order_is_no_change() -> None:
    removed = one(job(*ENVS), job(*ENVS[:5], *ENVS[6:])).resources
    reordered = one(job(*ENVS), job(*reversed(ENVS))).resources

    assert [(c.path, c.kind) for r in removed for c in r.changes] == [
        ("template.template.containers[announce].envs[POG_05]", "removed")
    ]
    assert reordered == ()


@pytest.mark.unit
def test_cloud_armor_rules_are_named_by_description_and_their_order_is_no_change() -> None:
    rules = [
        {"priority": 1000, "description": "Admin paths only", "action": "deny(403)"},
        {"priority": 2000, "description": "Cloudflare edge ranges (1/3)", "action": "allow"},
        {"priority": 2147483647, "description": "Default: deny", "action": "deny(403)"},
    ]
    changed = [*rules[:2], {**rules[2], "action": "deny(404)"}]

    assert (
        one(res(ARMOR, "armor", {"rules": rules}), res(ARMOR, "armor", {"rules": rules[::-1]})).resources
        == ()
    )
    [resource] = one(res(ARMOR, "armor", {"rules": rules}), res(ARMOR, "armor", {"rules": changed})).resources
    assert [c.path for c in resource.changes] == ['rules["Default: deny"].action']


@pytest.mark.unit
def test_a_cloudflare_rule_moved_is_one_order_change() -> None:
    # Cloudflare evaluates a ruleset's rules in list order: moving one changes what the zone does.
    rules = [{"ref": ref, "expression": "true", "action": "block"} for ref in ("webhooks", "admin", "auth")]
    before = res(CLOUDFLARE_RULESET, "limits", {"rules": rules})
    after = res(CLOUDFLARE_RULESET, "limits", {"rules": [rules[1], rules[0], rules[2]]})

    [resource] = one(before, after).resources

    assert [(c.path, c.old_text, c.new_text) for c in resource.changes] == [
        ("rules (order)", '["webhooks", "admin", "auth"]', '["admin", "webhooks", "auth"]')
    ]


@pytest.mark.unit
def test_reordered_index_fields_replace_the_index() -> None:
    fields = [{"fieldPath": "uid", "order": "ASCENDING"}, {"fieldPath": "finished_at", "order": "DESCENDING"}]
    before = res(FIRESTORE_INDEX, "i", {"collection": "games", "fields": fields})
    after = res(FIRESTORE_INDEX, "i", {"collection": "games", "fields": fields[::-1]})

    [resource] = one(before, after).resources

    assert resource.action is Action.REPLACE
    assert [(c.path, c.replace_reason) for c in resource.changes] == [
        ("fields (order)", "indexes are immutable")
    ]


@pytest.mark.unit
@pytest.mark.parametrize(
    "second",
    [{"value": "no name"}, {"name": "POG_00", "value": "duplicate"}, {"name": True, "value": "bool"}],
    ids=["missing-key", "duplicate-key", "non-scalar-key"],
)
def test_lists_whose_items_cannot_all_be_named_are_compared_by_position(second: dict[str, Any]) -> None:
    [resource] = one(job(env("POG_00")), job(env("POG_00"), second)).resources

    assert [c.path for c in resource.changes] == ["template.template.containers[announce].envs[1]"]


@pytest.mark.unit
def test_a_keyed_item_that_moved_keeps_its_own_secret_path() -> None:
    before = job(
        env("POG_A"),
        env("POG_TOKEN", "[secret]"),
        secret_paths=["template.template.containers[0].envs[1].value"],
    )
    moved = job(
        env("POG_TOKEN", PLAIN), env("POG_A"), secret_paths=["template.template.containers[0].envs[0].value"]
    )

    diff = one(before, moved)

    assert paths(diff) == ["template.template.containers[announce].envs[POG_TOKEN].value"]
    assert PLAIN not in render_text(diff) + render_markdown(diff) + render_json(diff)


@pytest.mark.unit
def test_every_report_names_list_items_by_key() -> None:
    diff = one(job(*ENVS), job(*ENVS[:3], env("POG_FOO", "on"), *ENVS[3:]))
    path = "template.template.containers[announce].envs[POG_FOO]"

    report = json.loads(render_json(diff))

    assert f"+ {path}: (none) -> " in render_text(diff)
    assert f"| `{path}` | `(none)` |" in render_markdown(diff)
    assert report["resources"][0]["changes"] == [
        {
            "path": path,
            "change": "added",
            "old": None,
            "new": {"name": "POG_FOO", "value": "on"},
            "note": None,
            "forces_replacement": False,
        }
    ]
    assert report["summary"] == "0 to add, 1 to change, 0 to replace, 0 to destroy"


def test_real_phase_1_to_2_names_env_vars_instead_of_shifting_them() -> None:
    from infra.plan.inventory import to_inventory
    from tests.infra.conftest import plan_for

    diff = diff_inventories(to_inventory(plan_for("prod", 1), 1), to_inventory(plan_for("prod", 2), 2))
    changes = [c.path for r in diff.resources for c in r.changes]

    assert any(".envs[POG_" in path for path in changes), changes
    assert not [path for path in changes if re.search(r"envs\[\d+\]", path)]
    assert len(changes) < 60


# --- the curated tables -------------------------------------------------------------------------------

_PACKAGES = {"gcp": "pulumi_gcp", "rediscloud": "pulumi_rediscloud", "cloudflare": "pulumi_cloudflare"}


def _resource_class(token: str) -> Any:
    package, module, name = token.split(":")
    path = module.split("/")[0]
    python_module = _PACKAGES[package] + ("" if path == "index" else f".{path}")
    return getattr(importlib.import_module(python_module), name)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize(
    "token",
    sorted({r.type for r in REPLACEMENT_RULES if not r.type.endswith("*")} | set(DATA_HOLDING)),
)
def test_curated_types_and_properties_exist_in_the_provider_sdks(token: str) -> None:
    cls = _resource_class(token)

    assert f"'{token}'" in inspect.getsource(cls), f"{cls} registers another type token than {token}"
    inputs = set(inspect.signature(cls._internal_init).parameters)
    for rule in rules_for(token):
        assert rule.reason
        if rule.type != token:
            continue  # "gcp:*" project: selects nothing on the few types without a project input
        top = _snake(str(parse_rule_path(rule.path)[0]))
        assert top in inputs, f"{token} has no input {rule.path!r}"


def test_the_tables_cover_the_data_holding_types_named_in_the_brief() -> None:
    for token in (
        DB,
        BUCKET,
        SUBSCRIPTION,
        "gcp:kms/cryptoKey:CryptoKey",
        "gcp:firebase/databaseInstance:DatabaseInstance",
    ):
        assert token in DATA_HOLDING
    assert {r.path for r in rules_for(BUCKET)} >= {"name", "location", "project"}
    assert {r.path for r in rules_for("cloudflare:index/dnsRecord:DnsRecord")} == {"zoneId"}


# --- rendering ----------------------------------------------------------------------------------------


def fixture_diff() -> Diff:
    return diff_inventories(json.loads(BEFORE.read_text()), json.loads(AFTER.read_text()), "prod@1", "prod@2")


def test_text_report_groups_by_action_with_the_summary_first() -> None:
    text = render_text(fixture_diff())
    lines = text.splitlines()

    assert lines[:3] == [
        "pog diff prod@1 → prod@2",
        "1 to add, 1 to change, 2 to replace, 1 to destroy",
        "1 output changed",
    ]
    order = [
        text.index(title)
        for title in ("DATA LOSS RISK: 3", "To add (1)", "To replace (2)", "To change (1)", "To destroy (1)")
    ]
    assert order == sorted(order)
    assert "~ template.scaling.minInstanceCount: 1 -> 2" in text
    assert '+ template.containers[0].env[2]: (none) -> {"name": "POG_REGION", "value": "us-central1"}' in text
    assert (
        'locationId: "nam5" -> "eur3"  (forces replacement: a Firestore database cannot change location)'
        in text
    )
    assert "- gcp:storage/bucket:Bucket pog-prod-exports DATA LOSS RISK" in text
    assert "\x1b[" not in text  # no colour codes in a report written to a file


def test_text_report_colours_data_loss_bold_red() -> None:
    text = render_text(fixture_diff(), color=True)

    assert "\x1b[1;31mDATA LOSS RISK: 3 resources" in text


def test_markdown_report_for_a_pull_request() -> None:
    markdown = render_markdown(fixture_diff())

    assert markdown.startswith("### `pog diff`: `prod@1` → `prod@2`\n")
    assert "**1 to add, 1 to change, 2 to replace, 1 to destroy** · 1 output changed" in markdown
    callout = markdown.index("> [!CAUTION]")
    assert "> ⚠️ **DATA LOSS RISK: 3 resources destroyed or replaced**" in markdown
    assert callout < markdown.index("#### To add")
    assert "> - ⚠️ **replace** `gcp:firestore/database:Database` `pog-prod-game`" in markdown
    assert markdown.count("<details>") == markdown.count("</details>") == 4
    assert "| `template.scaling.minInstanceCount` | `1` | `2` |  |" in markdown
    assert markdown == render_markdown(fixture_diff())


def test_markdown_without_changes_says_so() -> None:
    inventory = json.loads(BEFORE.read_text())

    markdown = render_markdown(diff_inventories(inventory, inventory, "dev", "dev"))

    assert "**No changes.**" in markdown
    assert "DATA LOSS" not in markdown


def test_markdown_escapes_table_breaking_values() -> None:
    diff = one(res(SA, "s", {"description": "a|b"}), res(SA, "s", {"description": "c`d"}))

    row = next(line for line in render_markdown(diff).splitlines() if line.startswith("| `description`"))
    assert "<code>&quot;a&#124;b&quot;</code>" in row
    assert row.count("|") == 5


# --- operands -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stack", "phase", "is_file"),
    [
        ("dev", "dev", None, False),
        ("prod@2", "prod", 2, False),
        ("plans/prod.json", None, None, True),
        ("prod.json", None, None, True),
    ],
)
def test_operands(text: str, stack: str | None, phase: int | None, is_file: bool) -> None:
    operand = sources.parse_operand(text)

    assert (operand.stack, operand.phase, operand.is_file) == (stack, phase, is_file)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prod@4", "bad operand 'prod@4': the phase after @ must be 1, 2 or 3; got '4' (for example prod@2)"),
        ("prod@x", "bad operand 'prod@x': the phase after @ must be 1, 2 or 3; got 'x' (for example prod@2)"),
        ("prod@", "bad operand 'prod@': the phase after @ must be 1, 2 or 3; got nothing"),
        ("@2", "bad operand '@2': name the stack before @"),
        ("", "empty operand"),
    ],
)
def test_bad_operands(text: str, message: str) -> None:
    with pytest.raises(PlanInputError, match=re.escape(message)):
        sources.parse_operand(text)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "inventory file '{path}' not found"),
        ("not json", "'{path}' is not JSON (Expecting value at line 1 column 1)"),
        ('{"stack": "dev"}', "'{path}' has no \"resources\" list"),
        ('{"resources": {}}', "'{path}' has no \"resources\" list"),
        ('{"resources": [{"type": "t"}]}', '\'{path}\': resources[0] has no "type" and "name" strings'),
        ('{"resources": [{"type": "t", "name": "n", "inputs": []}]}', "resources[0].inputs is not an object"),
    ],
)
def test_bad_inventory_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "inventory.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(PlanInputError, match=re.escape(message.format(path=path))):
        sources.load_inventory_file(path)


def test_not_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))

    with pytest.raises(PlanInputError, match="is not a git repository"):
        sources.resolve_commit("HEAD", tmp_path)


# --- the command --------------------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["diff", *args])


def test_command_exit_2_on_changes_and_0_without() -> None:
    changed = invoke(str(BEFORE), str(AFTER))
    same = invoke(str(BEFORE), str(BEFORE))

    assert changed.exit_code == 2, changed.output
    assert "1 to add, 1 to change, 2 to replace, 1 to destroy" in changed.output
    assert "DATA LOSS RISK: 3 resources" in changed.output
    assert same.exit_code == 0, same.output
    assert "No changes." in same.output


def test_command_writes_markdown_to_a_file(tmp_path: Path) -> None:
    report = tmp_path / "diff.md"

    result = invoke(str(BEFORE), str(AFTER), "--format", "markdown", "--output", str(report))

    assert result.exit_code == 2, result.output
    assert "report written to" in result.output
    assert "#### To add" not in result.output
    # `pog` adds infra.cost's monthly cost after the plan's own report (tests/infra/cost/test_diff.py).
    assert "#### Monthly cost" in report.read_text()
    plain = render_markdown(
        diff_inventories(
            json.loads(BEFORE.read_text()),
            json.loads(AFTER.read_text()),
            str(BEFORE),
            str(AFTER),
            a_detail=f"pot-of-gold/prod phase 1, file {BEFORE}",
            b_detail=f"pot-of-gold/prod phase 2, file {AFTER}",
        )
    )
    assert report.read_text().startswith(plain)


def test_command_prints_json_keyed_by_name() -> None:
    result = invoke(str(BEFORE), str(AFTER), "--format", "json")

    assert result.exit_code == 2, result.output
    report = json.loads(result.output)
    assert report["a"]["label"] == str(BEFORE)
    assert report["counts"]["add"] > 0
    paths = [change["path"] for res in report["resources"] for change in res["changes"]]
    assert paths, "prod@1 -> prod@2 changes properties of existing resources"
    assert not [path for path in paths if re.search(r"envs\[\d+\]", path)], "env vars are keyed by name"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["staging", "dev"],
            "unknown stack 'staging': Pulumi.staging.yaml not found (stacks here: dev, prod)",
        ),
        (["prod@4", "prod"], "bad operand 'prod@4': the phase after @ must be 1, 2 or 3; got '4'"),
        (["prod@x", "prod"], "bad operand 'prod@x'"),
        (["missing.json", "dev"], "inventory file 'missing.json' not found"),
        ([str(FIXTURES), "dev"], "is a directory, not an inventory file"),
        (["dev"], "give two operands to compare"),
        ([], "give two operands to compare"),
        (["dev", "dev", "prod"], "unexpected 'prod'"),
        (["dev", "dev", "--bogus"], "unexpected '--bogus'"),
        (["dev", "dev", "--format", "html"], "--format must be text, markdown or json; got 'html'"),
        (["dev", "--base", "no-such-ref-6f1e"], "--base no-such-ref-6f1e: unknown git ref"),
        (["dev", "--base", "--help-me"], "not a git ref"),
        ([str(BEFORE), "--base", "HEAD"], "--base needs a stack to plan at the ref"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(args: list[str], message: str) -> None:
    result = invoke(*args)

    assert result.exit_code == 1, result.output
    assert message in result.output
    assert result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output


def test_unwritable_report_is_an_error(tmp_path: Path) -> None:
    result = invoke(str(BEFORE), str(AFTER), "--output", str(tmp_path / "missing" / "diff.txt"))

    assert result.exit_code == 1
    assert "cannot write the report to" in result.output


def test_non_json_and_resourceless_inventories_are_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "empty.json").write_text("{}")

    bad = invoke(str(tmp_path / "bad.json"), str(BEFORE))
    empty = invoke(str(BEFORE), str(tmp_path / "empty.json"))

    assert (bad.exit_code, empty.exit_code) == (1, 1)
    assert "is not JSON" in bad.output
    assert 'has no "resources" list' in empty.output


def test_not_a_git_repository_through_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setattr(sources, "REPO_ROOT", tmp_path)

    result = invoke("dev", "--base", "HEAD")

    assert result.exit_code == 1
    assert f"--base HEAD: {tmp_path} is not a git repository" in result.output


def test_config_errors_are_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(stack: str, phase: int | None) -> dict[str, Any]:
        raise ConfigError(["pot-of-gold:region: 'mars-north1' is not a GCP region"])

    monkeypatch.setattr(sources, "plan_inventory", broken)

    result = invoke("dev", str(BEFORE))

    assert result.exit_code == 1
    assert "error: stack configuration has 1 problem(s):" in result.output
    assert "mars-north1" in result.output
    assert "Traceback" not in result.output


# --- real plans ---------------------------------------------------------------------------------------


def test_real_phase_1_to_3_adds_the_failover_regions() -> None:
    regions = json.loads(load_stack("prod").config["pot-of-gold:failoverRegions"])

    result = invoke("prod@1", "prod@3")

    assert result.exit_code == 2, result.output
    summary = re.search(r"(\d+) to add, \d+ to change, \d+ to replace, \d+ to destroy", result.output)
    assert summary is not None
    assert int(summary.group(1)) > 0
    added = result.output.split("To add (", 1)[1].split("\n\n", 1)[0]
    for region in regions:
        assert re.search(rf"\+ {re.escape(RUN)} \S*{region}", added), (
            f"no Cloud Run service added in {region}"
        )


def test_real_same_stack_twice_has_no_changes() -> None:
    result = invoke("dev", "dev")

    assert result.exit_code == 0, result.output
    assert "No changes." in result.output


# --- git refs -----------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def worktrees(repo: Path) -> list[str]:
    return [
        line
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


_FAKE_RUNNER = """
class PlanInputError(Exception):
    pass

VERSION = "{version}"

def plan_stack(stack, phase=None):
    if stack == "broken":
        raise RuntimeError("boom at the ref")
    if stack == "nostack":
        raise PlanInputError("unknown stack 'nostack'")
    return {{"stack": stack, "version": VERSION}}, phase or 1
"""

_FAKE_INVENTORY = """
def to_inventory(plan, phase):
    thing = {"type": "test:index:Thing", "name": plan["version"], "inputs": {}}
    return {"stack": plan["stack"], "phase": phase, "outputs": {}, "resources": [thing]}
"""


@pytest.fixture
def fake_repo(tmp_path: Path) -> Path:
    """A repository whose project lives in proj/, with two commits and an uncommitted change."""
    repo = tmp_path / "repo"
    plan_dir = repo / "proj" / "infra" / "plan"
    plan_dir.mkdir(parents=True)
    (repo / "proj" / "infra" / "__init__.py").write_text("")
    (plan_dir / "__init__.py").write_text("")
    (plan_dir / "inventory.py").write_text(_FAKE_INVENTORY)
    git(repo, "init", "-q")
    for version in ("one", "two"):
        (plan_dir / "runner.py").write_text(_FAKE_RUNNER.format(version=version))
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", version)
    (plan_dir / "runner.py").write_text(_FAKE_RUNNER.format(version="uncommitted"))
    return repo


def test_a_ref_is_planned_with_that_refs_code_in_a_removed_worktree(fake_repo: Path) -> None:
    project = fake_repo / "proj"

    first = sources.plan_at_ref("dev", 2, "HEAD~1", project)
    head = sources.plan_at_ref("dev", None, "HEAD", project)

    assert (first["resources"][0]["name"], first["phase"]) == ("one", 2)
    assert (head["resources"][0]["name"], head["phase"]) == ("two", 1)
    assert worktrees(fake_repo) == [f"worktree {fake_repo}"]


@pytest.mark.parametrize(
    ("stack", "message"),
    [
        ("broken", "the plan of broken at HEAD failed: RuntimeError: boom at the ref"),
        ("nostack", "at HEAD: unknown stack 'nostack'"),
    ],
)
def test_failures_at_a_ref_are_one_line_and_remove_the_worktree(
    fake_repo: Path, stack: str, message: str
) -> None:
    with pytest.raises(PlanInputError, match=re.escape(message)):
        sources.plan_at_ref(stack, None, "HEAD", fake_repo / "proj")

    assert worktrees(fake_repo) == [f"worktree {fake_repo}"]


def test_base_with_two_operands_plans_a_at_the_ref(
    fake_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "REPO_ROOT", fake_repo / "proj")
    after = tmp_path / "after.json"
    thing = {"type": "test:index:Thing", "name": "two", "inputs": {}}
    after.write_text(json.dumps({"stack": "dev", "phase": 1, "resources": [thing]}))

    result = invoke("dev", str(after), "--base", "HEAD~1")

    assert result.exit_code == 2, result.output
    assert "pog diff dev at HEAD~1 → " in result.output
    assert "+ test:index:Thing two" in result.output
    assert "- test:index:Thing one" in result.output


_PROJECT_IGNORE = shutil.ignore_patterns(".git", ".venv", "*_cache", "__pycache__", "node_modules")


def test_base_head_of_a_committed_copy_of_this_tree_has_no_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real program, planned at a git ref in a worktree, equals the same code planned here.

    A copy committed in a scratch repository, so the test does not depend on what this
    repository's HEAD contains while others work.
    """
    copy = tmp_path / "copy"
    shutil.copytree(REPO_ROOT, copy, ignore=_PROJECT_IGNORE)
    git(copy, "init", "-q")
    git(copy, "add", "-A")
    git(copy, "commit", "-qm", "snapshot")
    monkeypatch.setattr(sources, "REPO_ROOT", copy)

    result = invoke("dev", "--base", "HEAD")

    assert result.exit_code == 0, result.output
    assert "pog diff dev at HEAD → dev" in result.output
    assert "A: pot-of-gold/dev phase 1, git HEAD" in result.output
    assert "No changes." in result.output
    assert worktrees(copy) == [f"worktree {copy}"]


def test_diff_of_two_stacks_lines_up_their_resources() -> None:
    result = runner.invoke(app, ["diff", "dev", "prod"])

    assert result.exit_code == 2, result.output
    assert "names aligned as pog-{env}-*" in result.output
    assert "0 to replace" in result.output
    assert "DATA LOSS RISK" not in result.output
    # What really differs between the environments shows as a change of the same resource.
    assert "~ gcp:cloudrunv2/service:Service pog-{env}-api-us-central1" in result.output
    assert "template.scaling.minInstanceCount: 0 -> 1" in result.output
    assert "+ gcp:monitoring/notificationChannel:NotificationChannel pog-{env}-pagerduty" in result.output


def test_align_stacks_leaves_one_stack_alone_and_aligns_whole_names_only() -> None:
    dev = {"stack": "dev", "resources": [{"type": "t", "name": "pog-dev-x", "inputs": {"d": "pog-devx"}}]}
    prod = {"stack": "prod", "resources": [{"type": "t", "name": "pog-prod-x", "inputs": {}}]}

    assert align_stacks(dev, dev) == (dev, dev)
    aligned_dev, aligned_prod = align_stacks(dev, prod)
    assert aligned_dev["resources"][0]["name"] == aligned_prod["resources"][0]["name"] == "pog-{env}-x"
    assert aligned_dev["resources"][0]["inputs"] == {"d": "pog-devx"}
