"""Setting values of a stack file in place: ruamel.yaml's round-trip mode, every other byte kept."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarint import ScalarInt
from ruamel.yaml.scalarstring import ScalarString

from infra.plan.stackfile import PlanInputError, load_stack
from infra.promote.promotion import Promotion


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long value (an image reference) onto a second line
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, data: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def _round_trip(text: str, name: str) -> tuple[YAML, Any]:
    """A loader/dumper that gives ``text`` back byte for byte, and the loaded document."""
    for mapping, sequence, offset in ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0)):
        yaml = _yaml(mapping, sequence, offset)
        try:
            data = yaml.load(text)
        except YAMLError as exc:
            raise PlanInputError(f"{name} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if _dump(yaml, data) == text:
            return yaml, data
    raise PlanInputError(
        f"cannot edit {name} without reformatting it (unusual indentation): "
        "apply the promotion by hand with `pulumi config set`"
    )


def _like(old: Any, new: str) -> Any:
    """``new`` in the style ``old`` was written in (an int stays an int, quotes stay quotes)."""
    if isinstance(old, ScalarString):
        return type(old)(new)
    if isinstance(old, ScalarInt):
        return type(old)(int(new))
    if isinstance(old, int) and not isinstance(old, bool) and new.isdigit():
        return int(new)
    return new


def edit_stack_file(path: Path, values: Mapping[str, str]) -> None:
    """Set ``values`` under ``config:`` in ``path``; every other line stays byte-identical."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanInputError(f"cannot read {name}: {exc.strerror}") from None
    yaml, data = _round_trip(text, name)
    config = data.get("config") if isinstance(data, CommentedMap) else None
    if not isinstance(config, CommentedMap):
        raise PlanInputError(f"{name} has no `config:` mapping to update")
    for config_key, value in values.items():
        if config_key not in config:
            raise PlanInputError(f"{name} has no {config_key} to update")
        config[config_key] = _like(config[config_key], value)
    updated = _dump(yaml, data)
    old_lines, new_lines = text.splitlines(keepends=True), updated.splitlines(keepends=True)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b]
    if len(old_lines) != len(new_lines) or len(changed) > len(values):
        raise PlanInputError(f"cannot edit {name} without reformatting it: apply the promotion by hand")
    # Write beside the file and rename over it: an interrupted write never leaves half a stack file.
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(updated)
        Path(scratch).chmod(path.stat().st_mode & 0o777)
        Path(scratch).replace(path)
    except OSError as exc:
        Path(scratch).unlink(missing_ok=True)
        raise PlanInputError(f"cannot write {name}: {exc.strerror}") from None


def write(promotion: Promotion) -> None:
    edit_stack_file(promotion.stack_file, {c.key: c.new for c in promotion.changes})
    written = load_stack(promotion.target, root=promotion.root).config
    if any(written.get(c.key) != c.new for c in promotion.changes):
        raise PlanInputError(f"{promotion.stack_file.name} does not read back as written: check it by hand")
