"""scripts/ci/github.py: step outputs, the job summary, annotations, and the command runner; and the rule
that every step module runs on the runner's own python3 (the standard library and scripts.ci only)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from scripts.ci import github

pytestmark = pytest.mark.unit

CI_DIR = Path(github.__file__).resolve().parent


def test_an_output_is_appended_to_the_file_github_names(tmp_path: Path) -> None:
    out = tmp_path / "output"
    out.write_text("earlier=1\n")
    github.set_output("image", "repo@sha256:abc", env={"GITHUB_OUTPUT": str(out)})
    github.set_output("failed", "", env={"GITHUB_OUTPUT": str(out)})
    assert out.read_text() == "earlier=1\nimage=repo@sha256:abc\nfailed=\n"


def test_an_output_is_printed_outside_github_actions(capsys: pytest.CaptureFixture[str]) -> None:
    github.set_output("path", "/tmp/x.bundle", env={})
    assert capsys.readouterr().out == "path=/tmp/x.bundle\n"


def test_an_output_of_several_lines_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one line only"):
        github.set_output("x", "a\nb", env={"GITHUB_OUTPUT": str(tmp_path / "o")})
    assert not (tmp_path / "o").exists()


def test_the_summary_is_appended_and_skipped_outside_github_actions(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    github.add_summary("# one\n", env={"GITHUB_STEP_SUMMARY": str(summary)})
    github.add_summary("two\n", env={"GITHUB_STEP_SUMMARY": str(summary)})
    github.add_summary("nowhere\n", env={})
    assert summary.read_text() == "# one\ntwo\n"


def test_an_error_is_an_annotation_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    github.error("no digest")
    assert capsys.readouterr().err == "::error::no digest\n"


def test_run_captures_separately_or_merged_and_never_raises() -> None:
    script = "echo out; echo err >&2; exit 3"
    separate = github.run(["sh", "-c", script])
    assert separate == github.Result(3, "out\n", "err\n")
    merged = github.run(["sh", "-c", script], merge=True)
    assert merged.returncode == 3
    assert sorted(merged.stdout.split()) == ["err", "out"]
    assert merged.stderr == ""
    assert github.run(["sh", "-c", "exit 0"], capture=False) == github.Result(0)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_step_modules_need_nothing_but_the_standard_library() -> None:
    """deploy.yml and repo-backup.yml run them with the runner's python3, before any virtualenv."""
    modules = sorted(CI_DIR.glob("*.py"))
    assert len(modules) >= 6
    for module in modules:
        foreign = {
            name
            for name in _imports(module)
            if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("scripts.ci")
        }
        assert not foreign, f"{module.name} imports {sorted(foreign)}"
