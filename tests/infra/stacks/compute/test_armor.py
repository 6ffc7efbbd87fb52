"""Cloud Armor on the API backends: Adaptive Protection where the phase profile asks for it."""

from __future__ import annotations

from infra.phases import profile_for
from infra.plan.engine import Plan

ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"


def test_adaptive_protection_guards_the_api_where_the_profile_says(
    plan: Plan, stack_phase: tuple[str, int]
) -> None:
    """Failed before issue 18: Adaptive Protection was off on every stack."""
    stack, phase = stack_phase
    policies = [r for r in plan.of_type(ARMOR) if r.name == f"pog-{stack}-api-armor"]
    assert len(policies) == 1
    wanted = stack == "prod" or phase >= 2
    assert profile_for(stack, phase).armor_adaptive_protection is wanted  # type: ignore[arg-type]
    expected = {"layer7DdosDefenseConfig": {"enable": True, "ruleVisibility": "STANDARD"}} if wanted else None
    assert policies[0].inputs.get("adaptiveProtectionConfig") == expected
