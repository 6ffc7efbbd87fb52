"""Stack config as ``pulumi`` would hand it to the program, read from ``Pulumi.<stack>.yaml``.

Secure values cannot be decrypted offline (and must never be printed), so every key the project
schema marks secret gets a visible placeholder instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.config import NAMESPACE
from infra.phases import PhaseError, parse_phase

REPO_ROOT = Path(__file__).resolve().parents[2]


class PlanInputError(Exception):
    """A user mistake in what was asked for (unknown stack, unreadable file): one line, no traceback."""


@dataclass(frozen=True)
class StackInput:
    stack: str
    config: dict[str, str]
    secret_keys: list[str]

    @property
    def phase(self) -> int:
        try:
            return parse_phase(self.config.get(f"{NAMESPACE}:phase"))
        except PhaseError:
            return 0  # the program's config validation names the key and the fix


def placeholder(config_key: str) -> str:
    return f"<secure {config_key}>"


def available_stacks(root: Path = REPO_ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise PlanInputError(f"{path.name} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PlanInputError(f"{path.name} must be a mapping with a `config:` section")
    return data


def _as_config_string(value: Any) -> str:
    # The CLI passes structured values as JSON and scalars as their YAML text.
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def project_secret_keys(root: Path = REPO_ROOT) -> list[str]:
    schema = _load_yaml(root / "Pulumi.yaml").get("config") or {}
    return sorted(
        f"{NAMESPACE}:{name}"
        for name, spec in schema.items()
        if isinstance(spec, dict) and spec.get("secret")
    )


def load_stack(stack: str, phase: int | None = None, root: Path = REPO_ROOT) -> StackInput:
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(available_stacks(root)) or "none"
        raise PlanInputError(f"unknown stack {stack!r}: {path.name} not found (stacks here: {known})")
    raw = _load_yaml(path).get("config") or {}
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        if isinstance(value, dict) and "secure" in value:
            config[key] = placeholder(key)
            secret_keys.append(key)
        elif not key.startswith("pulumi:"):
            config[key] = _as_config_string(value)
    for key in project_secret_keys(root):
        if key not in config:
            config[key] = placeholder(key)
            secret_keys.append(key)
    if phase is not None:
        config[f"{NAMESPACE}:phase"] = str(phase)
    return StackInput(stack=stack, config=config, secret_keys=sorted(secret_keys))
