"""The machine-readable report: the same findings as the text, values in full, secrets never."""

from __future__ import annotations

import json
from typing import Any

from infra.plan.diff.model import Diff, PropertyChange, ResourceDiff
from infra.plan.diff.values import is_unset
from infra.plan.engine import SECRET_MARK


def _value(change: PropertyChange, value: Any) -> Any:
    if is_unset(value):
        return None
    return SECRET_MARK if change.secret else value


def change_dict(change: PropertyChange) -> dict[str, Any]:
    return {
        "path": change.path,
        "change": change.kind,
        "old": _value(change, change.old),
        "new": _value(change, change.new),
        "note": change.note or None,
        "forces_replacement": change.replace_reason is not None,
    }


def resource_dict(resource: ResourceDiff) -> dict[str, Any]:
    return {
        "type": resource.type,
        "name": resource.name,
        "action": resource.action.value,
        "protected": resource.protected,
        "data_loss": resource.data_loss,
        "changes": [change_dict(change) for change in resource.changes],
    }


def diff_dict(diff: Diff) -> dict[str, Any]:
    return {
        "a": {"label": diff.a, "detail": diff.a_detail},
        "b": {"label": diff.b, "detail": diff.b_detail},
        "summary": diff.summary,
        "counts": {action.value: count for action, count in diff.counts.items()},
        "resources": [resource_dict(resource) for resource in diff.resources],
        "outputs": [change_dict(change) for change in diff.outputs],
        **{appendix.key: appendix.to_dict() for appendix in diff.appendices},
    }


def render_json(diff: Diff) -> str:
    return json.dumps(diff_dict(diff), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
