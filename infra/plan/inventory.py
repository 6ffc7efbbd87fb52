"""The plan as a deterministic JSON inventory: the same input gives byte-identical output."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from infra.plan.engine import Plan, PlannedResource


def resource_entry(resource: PlannedResource) -> dict[str, Any]:
    return {
        "type": resource.type,
        "name": resource.name,
        "parent": resource.parent,
        "provider": resource.provider,
        "protect": resource.protect,
        "depends_on": list(resource.depends_on),
        "secret_paths": list(resource.secret_paths),
        "inputs": resource.inputs,
    }


def to_inventory(plan: Plan, phase: int) -> dict[str, Any]:
    resources = sorted(plan.resources, key=lambda r: (r.type, r.name))
    return {
        "stack": plan.stack,
        "phase": phase,
        "counts": dict(sorted(Counter(r.type for r in plan.resources).items())),
        "outputs": plan.outputs,
        "resources": [resource_entry(r) for r in resources],
    }


def dumps(inventory: dict[str, Any]) -> str:
    return json.dumps(inventory, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
