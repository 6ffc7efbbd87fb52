"""Every rule against its passing and failing fixtures (tests/infra/policy/cases.py)."""

from __future__ import annotations

import re

import pytest

from infra.policy.model import ResourceRule, Severity, StackRule, StackView, Violation
from infra.policy.rules import ALL_RULES, RESOURCE_RULES, STACK_RULES, rule

from .cases import CASES, Case
from .helpers import ctx

pytestmark = pytest.mark.unit


def evaluate(case: Case) -> list[Violation]:
    checked = rule(case.rule)
    context = ctx(case.environment, case.phase, case.root)
    if isinstance(checked, ResourceRule):
        return [v for resource in case.resources for v in checked.run(resource, context)]
    assert isinstance(checked, StackRule)
    return checked.run(StackView.of(case.resources), context)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture(case: Case) -> None:
    violations = evaluate(case)

    assert len(violations) == case.violations, [v.message for v in violations]
    assert all(v.rule_id == case.rule for v in violations)
    if case.violations:
        assert case.expect in violations[0].message, violations[0].message


def test_every_rule_has_a_passing_and_a_failing_fixture() -> None:
    passing = {c.rule for c in CASES if not c.violations}
    failing = {c.rule for c in CASES if c.violations}
    ids = {r.id for r in ALL_RULES}

    assert ids - passing == set(), "rules without a passing fixture"
    assert ids - failing == set(), "rules without a failing fixture"
    assert {c.rule for c in CASES} <= ids, "fixtures of rules that do not exist"


def test_there_are_enough_rules_and_each_is_described() -> None:
    assert len(ALL_RULES) >= 25
    assert len(RESOURCE_RULES) + len(STACK_RULES) == len(ALL_RULES)
    for r in ALL_RULES:
        assert re.fullmatch(r"POG-[A-Z]+-\d{3}", r.id), r.id
        assert r.title
        assert r.remediation
        assert isinstance(r.severity, Severity)
        assert r.checkov is None or re.fullmatch(r"(CKV2?_GCP_\d+)(, CKV2?_GCP_\d+)*", r.checkov), r.checkov


def test_rules_cite_the_checkov_ids_of_the_anchor_list() -> None:
    cited = {c.strip() for r in ALL_RULES if r.checkov for c in r.checkov.split(",")}

    assert {
        "CKV_GCP_114", "CKV_GCP_29", "CKV_GCP_28", "CKV_GCP_78", "CKV_GCP_62", "CKV_GCP_43", "CKV_GCP_82",
        "CKV_GCP_112", "CKV2_GCP_3", "CKV_GCP_42", "CKV_GCP_117", "CKV_GCP_41", "CKV_GCP_49", "CKV2_GCP_5",
    } <= cited  # fmt: skip


def test_resource_rules_name_their_types() -> None:
    assert len(RESOURCE_RULES) >= 25
    for r in RESOURCE_RULES:
        assert r.types, r.id
        assert r.applies_to(r.types[0].replace("*", "x")) or "*" in r.types[0], r.id


def test_unknown_values_are_never_violations() -> None:
    """During a preview, outputs of other resources are unknown: a rule cannot judge, so it stays quiet."""
    from infra.policy import tokens as t
    from infra.policy.values import UNKNOWN

    from .helpers import res

    unknowns = [
        res(t.BUCKET, "pog-prod-firestore-exports", protect=True, publicAccessPrevention=UNKNOWN,
            uniformBucketLevelAccess=UNKNOWN, versioning=UNKNOWN, location=UNKNOWN),
        res(t.RUN_SERVICE, "s", ingress=UNKNOWN, location=UNKNOWN, template={"serviceAccount": UNKNOWN}),
        res(t.REDIS_DATABASE, "db", enableTls=True, sourceIps=UNKNOWN, replication=UNKNOWN,
            dataPersistence="aof-every-1-second"),
        res(t.CRYPTO_KEY, "k", protect=True, rotationPeriod=UNKNOWN),
    ]  # fmt: skip
    context = ctx("prod", 1)

    assert len(RESOURCE_RULES) >= 25
    for resource in unknowns:
        for checked in RESOURCE_RULES:
            if checked.id in ("POG-RUN-005",):  # prod needs a warm instance whatever else is unknown
                continue
            assert checked.messages(resource, context) == [], (checked.id, resource.type)
