"""Disaster-recovery figures per stack and phase against RTO 1 h / RPO 5 min."""

from __future__ import annotations

from typing import Any

import pytest

from infra.policy import tokens as t
from infra.policy.dr import AUTOMATIC_FAILOVER_RTO, PITR_RPO, DrFigures, dr_figures
from infra.policy.model import Resource, StackView

from .helpers import inventory_for, real_context

ALL = [(stack, phase) for stack in ("dev", "prod") for phase in (1, 2, 3)]


def figures(inventory: dict[str, Any], stack: str, phase: int) -> DrFigures:
    resources = [Resource.from_entry(e) for e in inventory["resources"]]
    return dr_figures(StackView.of(resources), real_context(stack, phase))


@pytest.mark.parametrize(("stack", "phase"), ALL, ids=[f"{s}-p{p}" for s, p in ALL])
def test_figures_of_the_program(stack: str, phase: int) -> None:
    dr = figures(inventory_for(stack, phase), stack, phase)

    assert dr.rpo_seconds == PITR_RPO
    assert dr.rpo_met
    assert dr.enforced == (stack == "prod")
    if phase == 3:
        assert len(dr.api_regions) == 3
        assert dr.automatic_failover is True
        assert dr.rto_required
        assert dr.rto_seconds == AUTOMATIC_FAILOVER_RTO
        assert dr.rto_met
    else:
        assert len(dr.api_regions) == 1
        assert dr.automatic_failover is False
        assert not dr.rto_required
        assert dr.rto_met is False  # shown as "not required before multi-region", not a failure
    assert dr.passed
    assert dr.problems == []


def test_without_pitr_the_daily_export_is_the_rpo() -> None:
    inventory = inventory_for("prod", 1)
    for entry in inventory["resources"]:
        if entry["type"] == t.FIRESTORE_DATABASE:
            entry["inputs"]["pointInTimeRecoveryEnablement"] = "POINT_IN_TIME_RECOVERY_DISABLED"

    dr = figures(inventory, "prod", 1)

    assert dr.rpo_seconds == 86_400
    assert not dr.rpo_met
    assert not dr.passed
    assert dr.problems == ["RPO 1d ((default): daily backup, no PITR) exceeds the target of 5min"]


def test_dev_misses_targets_without_failing() -> None:
    inventory = inventory_for("dev", 1)
    for entry in inventory["resources"]:
        if entry["type"] == t.FIRESTORE_DATABASE:
            entry["inputs"]["pointInTimeRecoveryEnablement"] = "POINT_IN_TIME_RECOVERY_DISABLED"

    dr = figures(inventory, "dev", 1)

    assert dr.problems
    assert not dr.enforced
    assert dr.passed
    assert {row[0]: row[3] for row in dr.rows()}["RPO (data loss)"] == "NOT MET"


def test_phase_3_without_warm_instances_has_no_automatic_failover() -> None:
    inventory = inventory_for("prod", 3)
    for entry in inventory["resources"]:
        if entry["type"] == t.RUN_SERVICE:
            entry["inputs"]["template"]["scaling"]["minInstanceCount"] = 0

    dr = figures(inventory, "prod", 3)

    assert dr.automatic_failover is False
    assert not dr.passed
    assert "no automatic regional failover" in dr.problems[0]


def test_unknown_backend_references_are_not_a_failure() -> None:
    inventory = inventory_for("prod", 3)
    for entry in inventory["resources"]:
        if entry["type"] == t.BACKEND_SERVICE:
            entry["inputs"]["backends"] = [{"group": "[unknown]"} for _ in entry["inputs"]["backends"]]

    dr = figures(inventory, "prod", 3)

    assert dr.automatic_failover is None
    assert dr.rto_met is None
    assert dr.passed
