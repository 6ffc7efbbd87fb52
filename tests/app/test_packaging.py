"""The Cloud Run image (Dockerfile, parsed: no Docker engine here) and its runtime-only lock."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = ("pytest", "ruff", "mypy", "httpx2", "types-", "pulumi", "schemathesis")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def final_stage(parsed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(parsed) if word == "FROM"]
    return parsed[starts[-1] :]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((ROOT / "Dockerfile").read_text())


def lock_pins(path: Path) -> dict[str, str]:
    pins = {}
    for match in re.finditer(r"^([A-Za-z0-9_.\[\]-]+)==(\S+)", path.read_text(), re.MULTILINE):
        name = re.sub(r"\[.*\]", "", match.group(1)).lower().replace("_", "-")
        pins[name] = match.group(2)
    return pins


def test_multi_stage_slim_python_311(dockerfile: list[tuple[str, str]]) -> None:
    froms = [args for word, args in dockerfile if word == "FROM"]
    assert len(froms) >= 2
    assert all(args.split()[0] == "python:3.11-slim" for args in froms)


def test_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    users = [args for word, args in final_stage(dockerfile) if word == "USER"]
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_installs_only_the_hash_pinned_runtime_lock(dockerfile: list[tuple[str, str]]) -> None:
    runs = " ".join(args for word, args in dockerfile if word == "RUN")
    copies = " ".join(args for word, args in dockerfile if word in {"COPY", "ADD"})
    assert "--require-hashes -r /tmp/requirements-app.lock" in runs
    assert "requirements.lock" not in copies + runs  # the dev lock
    assert "--extra" not in runs
    assert ".[dev]" not in runs
    assert not any(tool in runs.lower() for tool in DEV_ONLY)
    assert not any(word == "ADD" for word, _ in dockerfile)


def test_listens_on_cloud_runs_port_and_serves_the_app(dockerfile: list[tuple[str, str]]) -> None:
    stage = final_stage(dockerfile)
    assert ("EXPOSE", "8080") in stage
    envs = " ".join(args for word, args in stage if word == "ENV")
    assert "PORT=8080" in envs
    [cmd] = [args for word, args in stage if word == "CMD"]
    argv = " ".join(shlex.split(cmd.strip("[]").replace('", "', '" "')))
    assert "uvicorn app.main:app" in argv
    assert "--host 0.0.0.0" in argv
    assert "--port ${PORT:-8080}" in argv
    assert "--no-access-log" in argv
    assert "exec uvicorn" in argv


def test_dockerignore_sends_only_the_app_and_its_lock() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert {line for line in rules if line.startswith("!")} == {"!app/", "!requirements-app.lock"}


def test_runtime_lock_is_hash_pinned_without_index_urls() -> None:
    text = (ROOT / "requirements-app.lock").read_text()
    assert not re.search(r"^\s*--(index-url|extra-index-url|find-links)", text, re.MULTILINE)
    urls = [line for line in text.splitlines() if re.search(r"https?://", line)]
    assert urls == []
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    requirements = [block for block in blocks if "==" in block.split("\n", 1)[0]]
    assert len(requirements) > 20
    for block in requirements:
        assert "--hash=sha256:" in block, block.split()[0]
    names = lock_pins(ROOT / "requirements-app.lock")
    assert not [name for name in names if name.startswith(DEV_ONLY)]


def test_runtime_lock_input_is_the_app_block_of_pyproject() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = [line.strip() for line in (ROOT / "requirements-app.in").read_text().splitlines()]
    wanted = [line for line in wanted if line and not line.startswith("#")]
    assert set(wanted) <= set(deps), "requirements-app.in names a dependency pyproject.toml does not"
    text = (ROOT / "pyproject.toml").read_text()
    block = text.split("# The game API (app/).", 1)[1].split("\n]", 1)[0]
    in_block = re.findall(r'^\s*"([^"]+)"', block, re.MULTILINE)
    assert sorted(in_block) == sorted(wanted), "re-sync requirements-app.in with pyproject.toml, then re-lock"


def test_runtime_pins_equal_the_tested_ones() -> None:
    """The image runs the versions the test suite ran (requirements.lock)."""
    app = lock_pins(ROOT / "requirements-app.lock")
    full = lock_pins(ROOT / "requirements.lock")
    different = {name: (pin, full.get(name)) for name, pin in app.items() if full.get(name) != pin}
    assert different == {}
