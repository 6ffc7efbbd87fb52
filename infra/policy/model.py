"""The rule model: what a rule is, what it sees, and what it reports.

The same rule functions run offline (``pog check``, on the inventory of ``pog plan``) and inside the
CrossGuard pack (``pulumi preview --policy-pack infra/policy``); only the adapters differ. A rule sees
properties exactly as the engine receives them: the resource's *inputs*, camelCase keys, with values
the engine cannot know yet (outputs of other resources during a preview) replaced by ``[unknown]``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from infra.phases import ENVIRONMENTS, PHASES, PhaseProfile, profile_for
from infra.plan.stackfile import REPO_ROOT


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANKS = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
SEVERITIES: tuple[Severity, ...] = tuple(sorted(Severity, key=lambda s: -s.rank))


@dataclass(frozen=True)
class Resource:
    """One declared resource: type token, logical name, inputs (camelCase), protect, parent key."""

    type: str
    name: str
    props: Mapping[str, Any]
    protect: bool = False
    parent: str | None = None

    @property
    def key(self) -> str:
        return f"{self.type}::{self.name}"

    @staticmethod
    def from_entry(entry: Mapping[str, Any]) -> Resource:
        """A resource from one entry of an inventory (``pog plan --json``)."""
        return Resource(
            type=str(entry["type"]),
            name=str(entry["name"]),
            props=entry.get("inputs") or {},
            protect=bool(entry.get("protect", False)),
            parent=entry.get("parent"),
        )


@dataclass(frozen=True)
class RuleContext:
    """What a rule may know beyond the resources: which stack, environment and phase, and where the
    repository is (runbooks, stack files)."""

    stack: str
    environment: str
    phase: int
    repo_root: Path = REPO_ROOT

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def profile(self) -> PhaseProfile | None:
        if self.environment in ENVIRONMENTS and self.phase in PHASES:
            return profile_for(self.environment, self.phase)
        return None


@dataclass(frozen=True)
class StackView:
    """Every resource of a stack, with the look-ups cross-resource rules need."""

    resources: tuple[Resource, ...]

    @staticmethod
    def of(resources: Iterable[Resource]) -> StackView:
        return StackView(tuple(resources))

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def get(self, key: str) -> Resource | None:
        for resource in self.resources:
            if resource.key == key:
                return resource
        return None


@dataclass(frozen=True)
class Finding:
    """What a stack rule reports: a message, and the resource (key) it is about, if one."""

    message: str
    resource: str | None = None


ResourceCheck = Callable[[Resource, RuleContext], Iterable[str]]
StackCheck = Callable[[StackView, RuleContext], Iterable[Finding]]


@dataclass(frozen=True)
class Violation:
    rule_id: str
    severity: Severity
    title: str
    resource: str  # "type::name", or "" for the stack as a whole
    message: str
    remediation: str
    checkov: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "severity": self.severity.value,
            "title": self.title,
            "resource": self.resource,
            "message": self.message,
            "remediation": self.remediation,
            "checkov": self.checkov,
        }


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str  # one line: what must hold
    remediation: str
    checkov: str | None  # Checkov/KICS id(s) where one exists, e.g. "CKV_GCP_114"

    @property
    def scope(self) -> str:
        raise NotImplementedError

    def violation(self, resource: str, message: str) -> Violation:
        return Violation(
            self.id, self.severity, self.title, resource, message, self.remediation, self.checkov
        )


@dataclass(frozen=True)
class ResourceRule(Rule):
    """Checks one resource at a time. ``types`` are type tokens or fnmatch patterns of them."""

    types: tuple[str, ...]
    check: ResourceCheck
    exclude: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        return ", ".join(self.types)

    def applies_to(self, type_: str) -> bool:
        return any(fnmatch.fnmatchcase(type_, t) for t in self.types) and not any(
            fnmatch.fnmatchcase(type_, t) for t in self.exclude
        )

    def messages(self, resource: Resource, ctx: RuleContext) -> list[str]:
        """The violation messages for this resource (none when the rule does not apply)."""
        if not self.applies_to(resource.type):
            return []
        return list(self.check(resource, ctx))

    def run(self, resource: Resource, ctx: RuleContext) -> list[Violation]:
        return [self.violation(resource.key, m) for m in self.messages(resource, ctx)]


@dataclass(frozen=True)
class StackRule(Rule):
    """Checks the stack as a whole (cross-resource rules, phase rules, disaster recovery)."""

    check: StackCheck

    @property
    def scope(self) -> str:
        return "stack"

    def run(self, stack: StackView, ctx: RuleContext) -> list[Violation]:
        return [self.violation(f.resource or "", f.message) for f in self.check(stack, ctx)]


@dataclass
class RuleSet:
    """Collects the rules of one module through decorators, keeping each rule next to its function."""

    rules: list[Rule] = field(default_factory=list)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def resource(
        self,
        id: str,
        severity: Severity,
        title: str,
        remediation: str,
        types: Sequence[str],
        checkov: str | None = None,
        exclude: Sequence[str] = (),
    ) -> Callable[[ResourceCheck], ResourceCheck]:
        def register(check: ResourceCheck) -> ResourceCheck:
            self.rules.append(
                ResourceRule(id, severity, title, remediation, checkov, tuple(types), check, tuple(exclude))
            )
            return check

        return register

    def stack(
        self,
        id: str,
        severity: Severity,
        title: str,
        remediation: str,
        checkov: str | None = None,
    ) -> Callable[[StackCheck], StackCheck]:
        def register(check: StackCheck) -> StackCheck:
            self.rules.append(StackRule(id, severity, title, remediation, checkov, check))
            return check

        return register
