"""Differences between two JSON values, as (path, old, new) leaves, and how paths and values print.

Objects are compared by key, lists of objects the stacks declare by the field that names their items
(keyed_lists.py), other lists by position. Values the engine received as secrets are ``[secret]``:
two of them compare equal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from infra.plan.diff.keyed_lists import Key, list_keys
from infra.plan.engine import SECRET_MARK

MAX_VALUE_CHARS = 80
ANY_INDEX = -1  # a "[]" segment in a replacement path
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_$][A-Za-z0-9_$./:@-]*$")


class _Unset:
    """A property absent on one side (distinct from every JSON value)."""

    def __repr__(self) -> str:
        return "<unset>"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class Item:
    """An item of a keyed list, named by its key; its position on each side (None where absent)."""

    field: str
    key: Key
    old_index: int | None
    new_index: int | None

    def __str__(self) -> str:
        if isinstance(self.key, int):
            return f"[{self.field}={self.key}]"  # a bare number would read as a position
        if _BARE_KEY.match(self.key):
            return f"[{self.key}]"
        return f"[{json.dumps(self.key, ensure_ascii=False)}]"


class _Order:
    """The order of a keyed list whose items the provider applies in list order."""

    def __str__(self) -> str:
        return " (order)"


ORDER = _Order()

Segment = str | int | Item | _Order
Path = tuple[Segment, ...]


def is_unset(value: Any) -> bool:
    # Pulumi drops null inputs: absent and null are the same declaration.
    return value is UNSET or value is None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _scalar_equal(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return isinstance(old, bool) and isinstance(new, bool) and old == new
    return bool(old == new)


def _sort_key(key: Key) -> tuple[bool, Key]:
    return isinstance(key, str), key


def _walk_list(
    old: list[Any], new: list[Any], path: Path, type_: str | None
) -> Iterator[tuple[Path, Any, Any]]:
    name = path[-1] if path and isinstance(path[-1], str) else None
    keys = list_keys(type_, name, old, new) if name is not None else None
    if keys is None:
        for index in range(max(len(old), len(new))):
            yield from walk(
                old[index] if index < len(old) else UNSET,
                new[index] if index < len(new) else UNSET,
                (*path, index),
                type_,
            )
        return
    old_at = {key: index for index, key in enumerate(keys.old)}
    new_at = {key: index for index, key in enumerate(keys.new)}
    for key in sorted(old_at.keys() | new_at.keys(), key=_sort_key):
        i, j = old_at.get(key), new_at.get(key)
        item = Item(keys.field, key, i, j)
        yield from walk(
            old[i] if i is not None else UNSET, new[j] if j is not None else UNSET, (*path, item), type_
        )
    kept_old = [key for key in keys.old if key in new_at]
    kept_new = [key for key in keys.new if key in old_at]
    if keys.ordered and kept_old != kept_new:
        yield (*path, ORDER), list(keys.old), list(keys.new)


def walk(old: Any, new: Any, path: Path = (), type_: str | None = None) -> Iterator[tuple[Path, Any, Any]]:
    """Leaf differences between two JSON values: (path, old, new), in a stable order.

    ``type_`` is the resource type whose inputs these are (None for stack outputs): some lists are
    keyed for one type only.
    """
    if is_unset(old) and is_unset(new):
        return
    if old == SECRET_MARK or new == SECRET_MARK:
        if old != new:
            yield path, old, new
        return
    if is_unset(old) or is_unset(new) or _kind(old) != _kind(new):
        yield path, old, new
    elif isinstance(old, dict):
        for key in sorted(set(old) | set(new)):
            yield from walk(old.get(key, UNSET), new.get(key, UNSET), (*path, key), type_)
    elif isinstance(old, list):
        yield from _walk_list(old, new, path, type_)
    elif not _scalar_equal(old, new):
        yield path, old, new


def same(old: Any, new: Any, type_: str | None = None) -> bool:
    return next(walk(old, new, (), type_), None) is None


def format_path(path: Sequence[Segment]) -> str:
    out = ""
    for segment in path:
        if isinstance(segment, Item | _Order):
            out += str(segment)
        elif isinstance(segment, int):
            out += "[]" if segment == ANY_INDEX else f"[{segment}]"
        elif _IDENTIFIER.match(segment):
            out += f".{segment}" if out else segment
        else:
            out += f"[{json.dumps(segment, ensure_ascii=False)}]"
    return out


def engine_path(path: Sequence[Segment], side: str) -> Iterator[str]:
    """The engine's name (``a.b[2]``) of each prefix of ``path`` on one side ("old" or "new")."""
    out = ""
    for segment in path:
        if isinstance(segment, _Order):
            return
        if isinstance(segment, Item):
            index = segment.old_index if side == "old" else segment.new_index
            if index is None:
                return
            out += f"[{index}]"
        elif isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else segment
        yield out


def format_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A value on one line, JSON-style, shortened to ``limit`` characters."""
    if is_unset(value):
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"
