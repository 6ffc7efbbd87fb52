"""The monthly snapshot workflow may act as the exporter account, and only when the stack says which CI."""

from __future__ import annotations

import functools

import pytest

from infra.plan.engine import Plan, run_program
from infra.plan.inventory import to_inventory
from infra.plan.mocks import PROJECT_NUMBER
from infra.plan.stackfile import load_stack
from infra.policy.check import check_inventory, context_for
from tests.infra.conftest import ALL, plan_for
from tests.infra.stacks.layers import prefix, project

SA_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
POOL = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/github"
REPOSITORY = "potofgold/platform"


@functools.cache
def configured(stack: str, phase: int) -> Plan:
    stack_input = load_stack(stack, phase)
    config = {
        **stack_input.config,
        "pot-of-gold:ciWorkloadIdentityPool": POOL,
        "pot-of-gold:ciRepository": REPOSITORY,
    }
    return run_program(stack, config, stack_input.secret_keys)


def exporter_email(plan: Plan) -> str:
    return f"{prefix(plan)}-exporter@{project(plan)}.iam.gserviceaccount.com"


def test_no_service_account_grant_without_the_ci_config(plan: Plan) -> None:
    assert plan.of_type(SA_IAM) == []


@pytest.mark.parametrize(("stack", "phase"), [("dev", 1), ("prod", 3)])
def test_the_repository_may_act_as_the_exporter_and_as_nothing_else(stack: str, phase: int) -> None:
    plan = configured(stack, phase)

    [grant] = plan.of_type(SA_IAM)
    assert grant.parent == f"potgold:backups:Backups::{prefix(plan)}-backups"
    assert grant.inputs == {
        "serviceAccountId": f"projects/{project(plan)}/serviceAccounts/{exporter_email(plan)}",
        "role": "roles/iam.workloadIdentityUser",
        "member": (
            "principalSet://iam.googleapis.com/projects/123456789012/locations/global"
            "/workloadIdentityPools/github/attribute.repository/potofgold/platform"
        ),
    }
    # Everything else is the plan without the grant.
    assert len(plan.resources) == len(plan_for(stack, phase).resources) + 1


def test_the_configured_grant_passes_every_policy_rule() -> None:
    report = check_inventory(to_inventory(configured("prod", 1), 1), context_for("prod", 1))

    assert report.violations == ()


@pytest.mark.parametrize(("stack", "phase"), ALL)
def test_the_exporter_email_is_a_stack_output(stack: str, phase: int) -> None:
    """What docs/deploying.md ("The monthly snapshot's CI identity") tells the user to store as
    GCP_SNAPSHOT_SERVICE_ACCOUNT."""
    plan = plan_for(stack, phase)

    assert plan.outputs["exporterServiceAccount"] == exporter_email(plan)
