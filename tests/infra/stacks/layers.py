"""Helpers the per-layer tests share: stack-derived names and a layer's own resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.plan.engine import Plan, PlannedResource
from infra.plan.stackfile import load_stack


def prefix(plan: Plan) -> str:
    return f"pog-{plan.stack}"


def project(plan: Plan) -> str:
    return f"pot-of-gold-{plan.stack}"


def stack_config(plan: Plan, key: str) -> Any:
    """A value of the plan's stack file, e.g. stack_config(plan, "region")."""
    return load_stack(plan.stack).config[f"pot-of-gold:{key}"]


def api_member(plan: Plan) -> str:
    return f"serviceAccount:{prefix(plan)}-api@{project(plan)}.iam.gserviceaccount.com"


@dataclass(frozen=True)
class Layer:
    """A component of the program, e.g. Layer("potgold:data:Data", "data") for pog-<env>-data."""

    component_type: str
    suffix: str

    def children(self, plan: Plan) -> list[PlannedResource]:
        return plan.children_of(f"{self.component_type}::{prefix(plan)}-{self.suffix}")

    def mine(self, plan: Plan, type_: str) -> list[PlannedResource]:
        return [r for r in self.children(plan) if r.type == type_]
