"""Plan a stack (optionally at another phase) from its stack file."""

from __future__ import annotations

from infra.phases import PHASES
from infra.plan.engine import Plan, run_program
from infra.plan.stackfile import PlanInputError, load_stack


def plan_stack(stack: str, phase: int | None = None) -> tuple[Plan, int]:
    if phase is not None and phase not in PHASES:
        raise PlanInputError(f"--phase must be 1, 2 or 3; got {phase}")
    stack_input = load_stack(stack, phase)
    return run_program(stack, stack_input.config, stack_input.secret_keys), stack_input.phase
