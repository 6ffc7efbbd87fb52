"""The lists of objects the stacks declare, and the field that names each item.

A keyed list is compared item by item under that name, so adding one env var in the middle shows
one ``envs[POG_FOO]`` added rather than every later entry changed. A list is keyed only when every
item on both sides carries the field with a distinct string or number; otherwise it is compared by
position, as are lists not named here. Where the provider applies the items in list order
(``ordered``), a new order is one change of its own.

Found by listing every list of objects in the plans of both stacks at every phase
(``pog plan STACK --phase N --json``); add a row when a stack declares a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CLOUDFLARE_RULESET = "cloudflare:index/ruleset:Ruleset"
FIRESTORE_INDEX = "gcp:firestore/index:Index"


@dataclass(frozen=True)
class KeyedList:
    name: str  # the property holding the list, wherever it is nested
    fields: tuple[str, ...]  # candidate keys, the first one every item has (uniquely) wins
    ordered: bool = False
    types: tuple[str, ...] = ()  # resource types it applies to; empty: any

    def applies_to(self, type_: str | None) -> bool:
        return not self.types or type_ in self.types


KEYED_LISTS: tuple[KeyedList, ...] = (
    # Cloud Run services and jobs.
    KeyedList("containers", ("name",)),
    KeyedList("envs", ("name",)),
    KeyedList("volumes", ("name",)),
    KeyedList("volumeMounts", ("mountPath",)),
    KeyedList("ports", ("name", "containerPort")),
    # Cloudflare runs a ruleset's rules in list order; Cloud Armor by each rule's priority.
    KeyedList("rules", ("ref", "id", "description"), ordered=True, types=(CLOUDFLARE_RULESET,)),
    KeyedList("rules", ("description", "priority")),
    # A composite index's field order is part of the index.
    KeyedList("fields", ("fieldPath",), ordered=True, types=(FIRESTORE_INDEX,)),
    KeyedList("cleanupPolicies", ("id",)),
    KeyedList("conditions", ("displayName",)),
    KeyedList("backends", ("group",)),
    KeyedList("auditLogConfigs", ("logType",)),
    KeyedList("labels", ("key",)),
    KeyedList("topics", ("name",)),
    KeyedList("subnetworks", ("name",)),
    KeyedList("hostRules", ("pathMatcher",)),
    KeyedList("pathMatchers", ("name",)),
    KeyedList("routeRules", ("priority",)),
    KeyedList("headerMatches", ("headerName",)),
    KeyedList("files", ("name",)),
    # Redis Cloud subscriptions and databases.
    KeyedList("regions", ("region",)),
    KeyedList("overrideRegions", ("name",)),
    KeyedList("alerts", ("name",)),
    KeyedList("globalAlerts", ("name",)),
)

Key = str | int


@dataclass(frozen=True)
class ListKeys:
    """How to line up one pair of lists: the key field and each side's keys, in list order."""

    field: str
    old: tuple[Key, ...]
    new: tuple[Key, ...]
    ordered: bool


def _keys_of(items: Sequence[object], field: str) -> tuple[Key, ...] | None:
    keys = []
    for item in items:
        value = item.get(field) if isinstance(item, dict) else None
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        keys.append(value)
    return tuple(keys) if len(set(keys)) == len(keys) else None


def list_keys(type_: str | None, name: str, old: Sequence[object], new: Sequence[object]) -> ListKeys | None:
    """The keys of two versions of the list property ``name``, or None to compare them by position."""
    for keyed in KEYED_LISTS:
        if keyed.name != name or not keyed.applies_to(type_):
            continue
        for field in keyed.fields:
            old_keys, new_keys = _keys_of(old, field), _keys_of(new, field)
            if old_keys is not None and new_keys is not None:
                return ListKeys(field, old_keys, new_keys, keyed.ordered)
        return None
    return None
