"""The CrossGuard adapters: every rule of ALL_RULES as a pulumi-policy policy.

Importable without side effects (``__main__.py`` starts the analyzer server, this module does not), so
tests call the validators directly with ``ResourceValidationArgs`` / ``StackValidationArgs``.

The engine hands a resource policy the resource's inputs, as ``pog plan`` records them, and a stack
policy every resource's outputs (which carry the inputs under the same camelCase names, plus ids).
Values unknown during a preview become ``[unknown]``, which every rule treats as "cannot judge yet".
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi.runtime.config import get_config_env
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import Severity as PolicySeverity
from pulumi_policy.proxy import UnknownValueError

from infra.config import NAMESPACE
from infra.phases import ENVIRONMENTS, PhaseError, parse_phase
from infra.plan.stackfile import REPO_ROOT, PlanInputError, load_stack

from .model import Resource, ResourceRule, Rule, RuleContext, Severity, StackRule, StackView
from .rules import ALL_RULES
from .values import UNKNOWN

PACK_NAME = "pot-of-gold"
MANDATORY = frozenset({Severity.CRITICAL, Severity.HIGH})

ContextSource = Callable[[Sequence[Resource]], RuleContext]


def plain(value: Any) -> Any:
    """Props as plain dicts and lists; a value unknown during the preview becomes ``[unknown]``.

    pulumi-policy wraps props in proxies that raise ``UnknownValueError`` on access to an unknown
    value; reading them once here keeps the rules free of pulumi-policy and of exceptions.
    """
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in value:
            try:
                result[str(key)] = plain(value[key])
            except UnknownValueError:
                result[str(key)] = UNKNOWN
        return result
    if isinstance(value, Sequence):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def _key(resource_type: str, name: str) -> str:
    return f"{resource_type}::{name}"


def resource_from_args(args: ResourceValidationArgs) -> Resource:
    return Resource(
        type=args.resource_type,
        name=args.name,
        props=plain(args.props),
        protect=bool(args.opts.protect),
    )


def resource_from_policy(resource: PolicyResource) -> Resource:
    parent = resource.parent
    return Resource(
        type=resource.resource_type,
        name=resource.name,
        props=plain(resource.props),
        protect=bool(resource.opts.protect),
        parent=_key(parent.resource_type, parent.name) if parent is not None else None,
    )


def _infer_environment(resources: Sequence[Resource]) -> str | None:
    for resource in resources:
        labels = resource.props.get("labels")
        if isinstance(labels, Mapping) and labels.get("env") in ENVIRONMENTS:
            return str(labels["env"])
    return None


def pack_context(resources: Sequence[Resource] = ()) -> RuleContext:
    """The stack under ``pulumi preview``: its name from PULUMI_STACK, environment and phase from the
    stack config the CLI passes to the pack, else from the stack file in this repository.

    When neither is readable the environment is inferred from the resources' ``env`` label, and prod
    is assumed last, so a prod-only check is never skipped silently.
    """
    stack = os.environ.get("PULUMI_STACK", "").rsplit("/", 1)[-1]
    config = get_config_env()
    environment, phase = _configured(
        stack, config.get(f"{NAMESPACE}:environment"), config.get(f"{NAMESPACE}:phase")
    )
    environment = environment or _infer_environment(resources) or "prod"
    return RuleContext(stack=stack or environment, environment=environment, phase=phase, repo_root=REPO_ROOT)


@functools.cache
def _configured(stack: str, environment: str | None, raw_phase: str | None) -> tuple[str | None, int]:
    if (environment is None or raw_phase is None) and stack:
        try:
            stack_input = load_stack(stack)
        except PlanInputError:
            pass
        else:
            environment = environment or stack_input.config.get(f"{NAMESPACE}:environment")
            raw_phase = raw_phase or str(stack_input.phase)
    try:
        return environment, parse_phase(raw_phase)
    except PhaseError:
        # The program itself refuses a bad phase with the config key's message before any policy runs;
        # the pack only picks rules by phase, so it falls back to phase 1 as it always has.
        return environment, 1


def _report(report_violation: ReportViolation, message: str, urn: str | None = None) -> None:
    report_violation(message, urn)


def _resource_policy(rule: ResourceRule, context: ContextSource) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if not rule.applies_to(args.resource_type):
            return
        resource = resource_from_args(args)
        for message in rule.messages(resource, context([resource])):
            _report(report_violation, message)

    return ResourceValidationPolicy(validate=validate, **_metadata(rule))


def _stack_policy(rule: StackRule, context: ContextSource) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [resource_from_policy(r) for r in args.resources]
        urns = {_key(r.resource_type, r.name): r.urn for r in args.resources}
        for finding in rule.check(StackView.of(resources), context(resources)):
            _report(report_violation, finding.message, urns.get(finding.resource or ""))

    return StackValidationPolicy(validate=validate, **_metadata(rule))


def policy_name(rule: Rule) -> str:
    return rule.id.lower()


def _metadata(rule: Rule) -> dict[str, Any]:
    return {
        "name": policy_name(rule),
        "description": rule.title + (f" ({rule.checkov})" if rule.checkov else ""),
        "display_name": f"{rule.id}: {rule.title}",
        "enforcement_level": EnforcementLevel.MANDATORY
        if rule.severity in MANDATORY
        else EnforcementLevel.ADVISORY,
        "severity": PolicySeverity(rule.severity.value),
        "remediation_steps": rule.remediation,
        "tags": [rule.id, *(c.strip() for c in (rule.checkov or "").split(",") if c.strip())],
    }


def build_policies(
    context: RuleContext | ContextSource | None = None, rules: Sequence[Rule] = ALL_RULES
) -> list[Policy]:
    """One policy per rule. ``context``: a fixed RuleContext (tests) or a function of the resources
    (default: ``pack_context``, which reads the stack under preview)."""
    source: ContextSource
    if isinstance(context, RuleContext):
        fixed = context

        def source_fixed(resources: Sequence[Resource]) -> RuleContext:
            return fixed

        source = source_fixed
    else:
        source = context or pack_context
    policies: list[Policy] = []
    for rule in rules:
        if isinstance(rule, ResourceRule):
            policies.append(_resource_policy(rule, source))
        elif isinstance(rule, StackRule):
            policies.append(_stack_policy(rule, source))
    return policies
