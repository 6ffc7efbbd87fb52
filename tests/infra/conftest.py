"""Plans of every stack x phase, computed once per test process."""

from __future__ import annotations

import functools

import pytest

from infra.plan.engine import Plan
from infra.plan.runner import plan_stack

STACKS = ("dev", "prod")
PHASES = (1, 2, 3)
ALL = [(stack, phase) for stack in STACKS for phase in PHASES]


@functools.cache
def plan_for(stack: str, phase: int) -> Plan:
    plan, _ = plan_stack(stack, phase)
    return plan


@pytest.fixture(params=ALL, ids=[f"{s}-p{p}" for s, p in ALL])
def stack_phase(request: pytest.FixtureRequest) -> tuple[str, int]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def plan(stack_phase: tuple[str, int]) -> Plan:
    return plan_for(*stack_phase)
