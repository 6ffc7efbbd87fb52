"""A YAML data file of infra.cost read into its pydantic model, or one error naming the file, key and fix."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, model: type[M], error: type[Exception], what: str, fix: str) -> M:
    """``model`` validated from ``path``; ``error`` names the file and the first bad key, then ``fix``."""
    try:
        return model.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise error(f"{path}: {where}: {first['msg']} ({fix})") from exc
