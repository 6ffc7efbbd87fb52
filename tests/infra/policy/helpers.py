"""Building blocks of the policy tests: small hand-built resources, contexts, real inventories."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from infra.plan.inventory import to_inventory
from infra.plan.runner import plan_stack
from infra.policy.check import context_for
from infra.policy.model import Resource, RuleContext

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def res(type_: str, logical_name: str = "r", /, *, protect: bool = False, **props: Any) -> Resource:
    """A resource with these inputs (camelCase keys, as the engine passes them, ``name`` included)."""
    return Resource(type=type_, name=logical_name, props=props, protect=protect)


def ctx(environment: str = "prod", phase: int = 1, root: Path | None = None) -> RuleContext:
    if root is None:
        return RuleContext(stack=environment, environment=environment, phase=phase)
    return RuleContext(stack=environment, environment=environment, phase=phase, repo_root=root)


@functools.cache
def _inventory(stack: str, phase: int) -> dict[str, Any]:
    plan, planned = plan_stack(stack, phase)
    return to_inventory(plan, planned)


def inventory_for(stack: str, phase: int) -> dict[str, Any]:
    """The real inventory of a stack at a phase (planned once per process), safe to mutate."""
    return copy.deepcopy(_inventory(stack, phase))


def real_context(stack: str, phase: int) -> RuleContext:
    return context_for(stack, phase)


def entry(inventory: dict[str, Any], type_: str, name: str | None = None) -> dict[str, Any]:
    """The first inventory entry of this type (and name), to mutate in a test."""
    for candidate in inventory["resources"]:
        if candidate["type"] == type_ and (name is None or candidate["name"] == name):
            return candidate  # type: ignore[no-any-return]
    raise KeyError(f"no {type_} {name or ''} in the inventory")
