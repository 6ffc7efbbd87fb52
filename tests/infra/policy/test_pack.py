"""The CrossGuard pack: validators called directly, as pulumi-policy's analyzer calls them.

``infra/policy/__main__.py`` is never imported here (PolicyPack() serves gRPC and blocks); the last test
starts it as a process, the way the Pulumi CLI does, and stops it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from infra.policy import pack
from infra.policy import tokens as t
from infra.policy.check import check_inventory
from infra.policy.model import Severity
from infra.policy.rules import ALL_RULES, rule

from .helpers import ctx, inventory_for, real_context

REPO = Path(__file__).resolve().parents[3]


class Collector:
    """A report_violation that keeps what it is told."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str | None]] = []

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.reports.append((message, urn))

    @property
    def messages(self) -> list[str]:
        return [m for m, _ in self.reports]


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:prod::pot-of-gold::{type_}::{name}"


def options(protect: bool = False, parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def resource_args(
    type_: str, name: str, props: dict[str, Any], protect: bool = False
) -> ResourceValidationArgs:
    # The analyzer wraps props in a proxy that raises on unknown values; so do the tests.
    return ResourceValidationArgs(
        type_, unknown_checking_proxy(props), urn(type_, name), name, options(protect), None
    )


def policy_resource(type_: str, name: str, props: dict[str, Any], protect: bool = False) -> PolicyResource:
    return PolicyResource(
        type_, unknown_checking_proxy(props), urn(type_, name), name, options(protect), None, None, [], {}
    )


def policies(environment: str = "prod", phase: int = 1) -> dict[str, Policy]:
    return {p.name: p for p in pack.build_policies(ctx(environment, phase))}


def validate(policy: Policy, args: ResourceValidationArgs | StackValidationArgs) -> Collector:
    collector = Collector()
    result = policy.validate(args, collector)  # type: ignore[arg-type]
    assert result is None
    return collector


def test_every_rule_is_in_the_pack_exactly_once() -> None:
    built = pack.build_policies(ctx())
    names = [p.name for p in built]

    assert len(names) == len(set(names)) == len(ALL_RULES)
    assert sorted(names) == sorted(r.id.lower() for r in ALL_RULES)
    for p in built:
        r = rule(p.name.upper())
        kind = ResourceValidationPolicy if r.scope != "stack" else StackValidationPolicy
        assert isinstance(p, kind), p.name
        mandatory = r.severity in (Severity.CRITICAL, Severity.HIGH)
        assert p.enforcement_level == (EnforcementLevel.MANDATORY if mandatory else EnforcementLevel.ADVISORY)
        assert p.severity is not None
        assert p.severity.value == r.severity.value
        assert p.remediation_steps == r.remediation
        assert r.id in (p.tags or [])


BUCKET_OK = {
    "name": "pog-prod-assets",
    "publicAccessPrevention": "enforced",
    "uniformBucketLevelAccess": True,
}


@pytest.mark.parametrize(
    ("policy", "type_", "props", "protect", "expected"),
    [
        ("pog-gcs-001", t.BUCKET, BUCKET_OK, True, []),
        (
            "pog-gcs-001",
            t.BUCKET,
            {**BUCKET_OK, "publicAccessPrevention": "inherited"},
            True,
            ["not 'enforced'"],
        ),
        ("pog-kms-002", t.KEY_RING, {"location": "us-central1"}, True, []),
        ("pog-kms-002", t.KEY_RING, {"location": "us-central1"}, False, ["not protected"]),
        ("pog-run-002", t.RUN_SERVICE, {"ingress": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"}, False, []),
        ("pog-run-002", t.RUN_SERVICE, {"ingress": "INGRESS_TRAFFIC_ALL"}, False, ["bypasses Cloudflare"]),
        # A rule ignores resources of other types.
        ("pog-run-002", t.BUCKET, {"ingress": "INGRESS_TRAFFIC_ALL"}, False, []),
    ],
)
def test_resource_validators(
    policy: str, type_: str, props: dict[str, Any], protect: bool, expected: list[str]
) -> None:
    collector = validate(policies()[policy], resource_args(type_, "r", props, protect))

    assert len(collector.reports) == len(expected)
    for message, fragment in zip(collector.messages, expected, strict=True):
        assert fragment in message


def test_prod_only_rules_follow_the_context() -> None:
    props = {"deleteProtectionState": "DELETE_PROTECTION_DISABLED"}
    args = resource_args(t.FIRESTORE_DATABASE, "db", props, protect=True)

    assert validate(policies("dev")["pog-fs-001"], args).reports == []
    assert len(validate(policies("prod")["pog-fs-001"], args).reports) == 1


def test_values_unknown_during_preview_are_not_violations() -> None:
    props = {"publicAccessPrevention": UNKNOWN_STRING_VALUE, "uniformBucketLevelAccess": True, "name": "b"}

    for name in ("pog-gcs-001", "pog-gcs-002", "pog-val-001"):
        assert validate(policies()[name], resource_args(t.BUCKET, "b", props, True)).reports == []


def test_plain_turns_proxies_into_data_and_unknowns_into_markers() -> None:
    props = unknown_checking_proxy(
        {"a": {"b": [1, UNKNOWN_STRING_VALUE]}, "c": UNKNOWN_STRING_VALUE, "d": "x"}
    )

    assert pack.plain(props) == {"a": {"b": [1, "[unknown]"]}, "c": "[unknown]", "d": "x"}


ZONE = "a4cc31f1079298613da36f44c761faea"


def test_stack_validator_reports_the_resource_urn() -> None:
    dns = policy_resource(t.CF_DNS_RECORD, "dns", {"zoneId": ZONE, "type": "A", "proxied": True})
    ssl = policy_resource(
        t.CF_ZONE_SETTING, "zone-ssl", {"zoneId": ZONE, "settingId": "ssl", "value": "full"}
    )
    strict = policy_resource(
        t.CF_ZONE_SETTING, "zone-ssl", {"zoneId": ZONE, "settingId": "ssl", "value": "strict"}
    )
    policy = policies()["pog-cf-001"]

    assert validate(policy, StackValidationArgs([dns, strict])).reports == []
    reports = validate(policy, StackValidationArgs([dns, ssl])).reports
    assert len(reports) == 1
    assert reports[0][1] == urn(t.CF_ZONE_SETTING, "zone-ssl")


def test_stack_validator_reports_the_stack_itself() -> None:
    db = {
        "name": "(default)",
        "locationId": "nam5",
        "pointInTimeRecoveryEnablement": "POINT_IN_TIME_RECOVERY_DISABLED",
    }
    reports = validate(
        policies()["pog-stk-003"], StackValidationArgs([policy_resource(t.FIRESTORE_DATABASE, "db", db)])
    )

    assert len(reports.reports) == 1
    message, where = reports.reports[0]
    assert "RPO" in message
    assert where is None


def test_parents_become_keys() -> None:
    component = policy_resource("potgold:data:Data", "pog-prod-data", {})
    child = policy_resource(t.FIRESTORE_DATABASE, "db", {"name": "(default)"})
    child.parent = component

    converted = pack.resource_from_policy(child)
    assert converted.parent == "potgold:data:Data::pog-prod-data"
    assert converted.key == f"{t.FIRESTORE_DATABASE}::db"


def _as_policy_resources(inventory: dict[str, Any]) -> list[PolicyResource]:
    resources = {
        f"{e['type']}::{e['name']}": policy_resource(e["type"], e["name"], e["inputs"], e["protect"])
        for e in inventory["resources"]
    }
    for e in inventory["resources"]:
        if e["parent"]:
            resources[f"{e['type']}::{e['name']}"].parent = resources[e["parent"]]
    return list(resources.values())


def test_the_pack_and_pog_check_agree_on_a_real_plan() -> None:
    """The same rule functions: what `pog check` finds in an inventory, the pack reports for it."""
    inventory = inventory_for("prod", 3)
    for e in inventory["resources"]:  # break a few things so there is something to agree on
        if e["type"] == t.RUN_SERVICE:
            e["inputs"]["ingress"] = "INGRESS_TRAFFIC_ALL"
        if e["type"] == t.FIRESTORE_DATABASE:
            e["protect"] = False
    context = real_context("prod", 3)
    offline = sorted((v.rule_id.lower(), v.message) for v in check_inventory(inventory, context).violations)

    built = pack.build_policies(context)
    resources = _as_policy_resources(inventory)
    crossguard: list[tuple[str, str]] = []
    for policy in built:
        if isinstance(policy, StackValidationPolicy):
            crossguard += [
                (policy.name, m) for m in validate(policy, StackValidationArgs(resources)).messages
            ]
        else:
            for r in resources:
                args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None)
                crossguard += [(policy.name, m) for m in validate(policy, args).messages]

    assert sorted(crossguard) == offline
    assert {"pog-run-002", "pog-data-001"} <= {name for name, _ in offline}


def test_pack_context_reads_the_stack_under_preview(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_STACK", "organization/pot-of-gold/prod")
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    from_file = pack.pack_context()
    assert (from_file.stack, from_file.environment, from_file.phase) == ("prod", "prod", 1)

    monkeypatch.setenv(
        "PULUMI_CONFIG", json.dumps({"pot-of-gold:environment": "dev", "pot-of-gold:phase": "3"})
    )
    from_config = pack.pack_context()
    assert (from_config.environment, from_config.phase) == ("dev", 3)


def test_pack_context_without_a_stack_assumes_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_STACK", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)

    assert pack.pack_context().environment == "prod"
    labelled = pack.resource_from_args(resource_args(t.BUCKET, "b", {"labels": {"env": "dev"}}))
    assert pack.pack_context([labelled]).environment == "dev"


def test_the_entry_point_serves_the_pack() -> None:
    """`pulumi preview --policy-pack infra/policy` runs the directory; it prints its gRPC port and serves."""
    with subprocess.Popen(
        [sys.executable, str(REPO / "infra" / "policy")],
        cwd=REPO / "infra" / "policy",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            port = process.stdout.readline().strip()
        finally:
            process.terminate()
            _, errors = process.communicate(timeout=30)
    assert port.isdigit(), errors
