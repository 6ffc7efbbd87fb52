"""Compare two inventories (``pog plan --json``) the way ``pulumi preview`` would report the change.

Resources are matched by key (type and logical name). A matched resource whose inputs or options
differ is an update, or a replacement when a property in ``replacements.py`` changed (or its parent,
which changes the URN). Destroying or replacing a protected or data-holding resource is a data loss
risk. A secret is never printed, not even when only one side is secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from infra.config import NAME_PREFIX
from infra.plan.diff.model import Action, Diff, PropertyChange, ResourceDiff
from infra.plan.diff.values import ANY_INDEX, UNSET, Item, Path, Segment, engine_path, format_path, same, walk
from infra.plan.engine import SECRET_MARK
from infra.plan.replacements import DATA_HOLDING, ReplacementRule, rules_for

NEUTRAL_PREFIX = f"{NAME_PREFIX}-{{env}}"
PARENT_REASON = "a new parent changes the URN: Pulumi deletes and re-creates unless an alias is set"
_RULE_TOKEN = re.compile(r"\[\]|[^.\[\]]+")


# --- replacement rules -------------------------------------------------------------------------------


def parse_rule_path(path: str) -> tuple[Segment, ...]:
    """``"a.b[].c"`` -> ``("a", "b", ANY, "c")``."""
    return tuple(ANY_INDEX if token == "[]" else token for token in _RULE_TOKEN.findall(path))


def _project(value: Any, segments: tuple[Segment, ...]) -> list[Any]:
    """The values a rule path selects: one per list item for each ``[]``."""
    if not segments:
        return [value]
    head, rest = segments[0], segments[1:]
    if head == ANY_INDEX:
        if isinstance(value, list):
            return [selected for item in value for selected in _project(item, rest)]
        return [value]
    if isinstance(value, dict):
        return _project(value.get(head, UNSET), rest)
    return [value]


def _overlaps(path: Path, rule: tuple[Segment, ...]) -> bool:
    """Whether a changed path is (inside, or contains) what a rule path selects."""
    return all(
        (r == ANY_INDEX and isinstance(p, int | Item)) or p == r for p, r in zip(path, rule, strict=False)
    )


def triggered_rules(
    type_: str, old: dict[str, Any], new: dict[str, Any], rules: Sequence[ReplacementRule] | None = None
) -> list[tuple[tuple[Segment, ...], ReplacementRule]]:
    """The replacement rules whose selected values differ between two input sets."""
    fired = []
    for rule in rules_for(type_) if rules is None else [r for r in rules if r.applies_to(type_)]:
        segments = parse_rule_path(rule.path)
        before, after = _project(old, segments), _project(new, segments)
        if len(before) != len(after) or not all(
            same(b, a, type_) for b, a in zip(before, after, strict=True)
        ):
            fired.append((segments, rule))
    return fired


# --- comparing inventories ---------------------------------------------------------------------------


def _index(inventory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_key: dict[str, dict[str, Any]] = {}
    for entry in inventory.get("resources", []):
        key = f"{entry['type']}::{entry['name']}"
        if key in by_key:  # the same type and name under another parent: a distinct URN
            key = f"{key} (parent {entry.get('parent')})"
        by_key[key] = entry
    return by_key


def _under_secret(path: Path, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether the engine marked this path or one of its ancestors secret, on either side."""
    return any(
        name in set(entry.get("secret_paths", ()))
        for side, entry in (("old", old), ("new", new))
        for name in engine_path(path, side)
    )


def _data_loss(type_: str, protected: bool) -> str | None:
    reasons = []
    if type_ in DATA_HOLDING:
        reasons.append(f"loses {DATA_HOLDING[type_]}")
    if protected:
        reasons.append("protected (protect=True)")
    return "; ".join(reasons) or None


def _option_changes(old: dict[str, Any], new: dict[str, Any]) -> list[PropertyChange]:
    changes = []
    for option in ("parent", "provider", "protect"):
        before, after = old.get(option), new.get(option)
        if option == "protect":
            before, after = bool(before), bool(after)
        if before != after:
            reason = PARENT_REASON if option == "parent" else None
            changes.append(PropertyChange(f"({option})", before, after, replace_reason=reason))
    return changes


def _compare(
    old: dict[str, Any], new: dict[str, Any], rules: Sequence[ReplacementRule] | None
) -> tuple[list[PropertyChange], bool]:
    changes = _option_changes(old, new)
    type_ = new.get("type", old["type"])
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    fired = triggered_rules(type_, old_inputs, new_inputs, rules)
    replace = bool(fired) or any(change.replace_reason for change in changes)
    for path, before, after in walk(old_inputs, new_inputs, (), type_):
        reason = next((rule.reason for segments, rule in fired if _overlaps(path, segments)), None)
        secret = SECRET_MARK in (before, after) or _under_secret(path, old, new)
        changes.append(PropertyChange(format_path(path), before, after, secret=secret, replace_reason=reason))
    return changes, replace


def align_stacks(a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Line up the plans of two different stacks: ``pog-dev-x`` and ``pog-prod-x`` both read ``pog-{env}-x``.

    Without this every resource of one stack is "destroyed" and every one of the other "added";
    with it, the diff shows what really differs between the environments (sizes, protection, paging).
    """
    if a.get("stack") == b.get("stack"):
        return a, b

    def neutral(inventory: dict[str, Any]) -> dict[str, Any]:
        own_prefix = re.compile(rf"\b{NAME_PREFIX}-{re.escape(str(inventory.get('stack')))}\b")
        aligned: dict[str, Any] = json.loads(own_prefix.sub(NEUTRAL_PREFIX, json.dumps(inventory)))
        return aligned

    return neutral(a), neutral(b)


def _resource_diff(
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    rules: Sequence[ReplacementRule] | None,
    across_stacks: bool,
) -> ResourceDiff | None:
    if old is None:
        assert new is not None
        return ResourceDiff(new["type"], new["name"], Action.ADD, protected=bool(new.get("protect")))
    if new is None:
        protected = bool(old.get("protect"))
        data_loss = None if across_stacks else _data_loss(old["type"], protected)
        return ResourceDiff(
            old["type"], old["name"], Action.DESTROY, protected=protected, data_loss=data_loss
        )
    changes, replace = _compare(old, new, rules)
    if not changes:
        return None
    protected = bool(old.get("protect")) or bool(new.get("protect"))
    return ResourceDiff(
        new["type"],
        new["name"],
        Action.REPLACE if replace else Action.CHANGE,
        tuple(changes),
        protected=protected,
        data_loss=_data_loss(new["type"], protected) if replace else None,
    )


def diff_inventories(
    a: dict[str, Any],
    b: dict[str, Any],
    a_label: str = "A",
    b_label: str = "B",
    *,
    a_detail: str = "",
    b_detail: str = "",
    rules: Sequence[ReplacementRule] | None = None,
    across_stacks: bool = False,
) -> Diff:
    """What changes going from inventory ``a`` to inventory ``b``.

    ``across_stacks``: a and b are different stacks (see align_stacks), so nothing is really replaced
    or destroyed: differences are reported without replacement or data-loss marks.
    """
    if across_stacks:
        rules = ()
    old_by_key, new_by_key = _index(a), _index(b)
    resources = [
        diffed
        for key in sorted(set(old_by_key) | set(new_by_key))
        if (diffed := _resource_diff(old_by_key.get(key), new_by_key.get(key), rules, across_stacks))
    ]
    outputs = tuple(
        PropertyChange(format_path(path), before, after, secret=SECRET_MARK in (before, after))
        for path, before, after in walk(a.get("outputs") or {}, b.get("outputs") or {})
    )
    return Diff(a_label, b_label, tuple(resources), outputs, a_detail=a_detail, b_detail=b_detail)
