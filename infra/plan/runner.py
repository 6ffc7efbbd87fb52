"""Plan a stack (optionally at another phase) from its stack file."""

from __future__ import annotations

from infra.phases import PhaseError, parse_phase
from infra.plan.engine import Plan, run_program
from infra.plan.stackfile import PlanInputError, load_stack


def plan_stack(stack: str, phase: int | None = None) -> tuple[Plan, int]:
    try:
        phase = None if phase is None else parse_phase(phase)
    except PhaseError as exc:
        raise PlanInputError(f"--phase {exc}") from None
    stack_input = load_stack(stack, phase)
    return run_program(stack, stack_input.config, stack_input.secret_keys), stack_input.phase
