"""The README, CI and lock file keep the promises a new user relies on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _first_code_block(text: str) -> list[str]:
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_the_plan_and_test_commands() -> None:
    assert _first_code_block(README) == ["make plan", "make test"]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "set ", "cd "))
    ]
    # The README's test command runs first, once and unchanged; what follows only builds the image.
    assert commands[0] == _first_code_block(README)[1]
    assert commands.count(commands[0]) == 1
    assert not any(line.startswith(("make", ".venv/", "pytest")) for line in commands[1:])


def test_every_config_key_is_in_the_config_reference() -> None:
    reference = (ROOT / "docs" / "stacks.md").read_text()
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    keys = [name for name in schema if not name.startswith("pulumi:")]
    assert {"environment", "phase", "region", "failoverRegions"} <= set(keys)
    for name in keys:
        assert f"| `{name}` |" in reference, f"{name} missing from the config reference in docs/stacks.md"


def test_lock_file_is_hash_pinned_and_names_no_index() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    requirements = [line for line in lock.splitlines() if re.match(r"^[a-z0-9]", line, re.I)]
    assert requirements
    assert all("==" in line for line in requirements)
    assert lock.count("--hash=sha256:") >= len(requirements)
    assert not re.search(r"https?://|--index-url|--extra-index-url|--find-links", lock)
