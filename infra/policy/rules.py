"""Every rule of the pack, in one place: ``pog check`` and the CrossGuard pack both read ALL_RULES."""

from __future__ import annotations

from . import (
    rules_analytics,
    rules_app_check,
    rules_audit,
    rules_capacity,
    rules_cloudflare,
    rules_contract,
    rules_cost,
    rules_ddos,
    rules_gcp,
    rules_gcp_iam,
    rules_gcp_serving,
    rules_redis,
    rules_stack,
    rules_values,
)
from .model import ResourceRule, Rule, StackRule


def _collect() -> tuple[Rule, ...]:
    rules = sorted(
        (
            *rules_gcp.rules,
            *rules_analytics.rules,
            *rules_app_check.rules,
            *rules_audit.rules,
            *rules_capacity.rules,
            *rules_gcp_iam.rules,
            *rules_gcp_serving.rules,
            *rules_values.rules,
            *rules_redis.rules,
            *rules_cloudflare.rules,
            *rules_ddos.rules,
            *rules_stack.rules,
            *rules_contract.rules,
            *rules_cost.rules,
        ),
        key=lambda r: r.id,
    )
    ids = [r.id for r in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RuntimeError(f"rule ids used twice: {', '.join(duplicates)}")
    return tuple(rules)


ALL_RULES: tuple[Rule, ...] = _collect()
RESOURCE_RULES: tuple[ResourceRule, ...] = tuple(r for r in ALL_RULES if isinstance(r, ResourceRule))
STACK_RULES: tuple[StackRule, ...] = tuple(r for r in ALL_RULES if isinstance(r, StackRule))


def rule(rule_id: str) -> Rule:
    for candidate in ALL_RULES:
        if candidate.id == rule_id:
            return candidate
    raise KeyError(f"no rule {rule_id!r}")
