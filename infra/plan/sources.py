"""What `pog diff` compares: an operand (a stack, a stack at a phase, an inventory file, a stack at a
git ref) resolved to an inventory (the JSON `pog plan --json` writes).

Every user mistake raises ``PlanInputError`` with one line naming what to fix.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.phases import PhaseError, parse_phase
from infra.plan.inventory import to_inventory
from infra.plan.runner import plan_stack
from infra.plan.stackfile import REPO_ROOT, PlanInputError, load_stack

# Seconds a plan at a git ref may take (the program runs in a subprocess there).
REF_PLAN_TIMEOUT = 600


@dataclass(frozen=True)
class Operand:
    """One side of a diff, as typed: ``dev``, ``prod@2`` or ``path/to/inventory.json``."""

    text: str
    stack: str | None = None
    phase: int | None = None
    path: Path | None = None

    @property
    def is_file(self) -> bool:
        return self.path is not None


@dataclass(frozen=True)
class Source:
    """A resolved operand: what to call it in the output, and its inventory."""

    label: str
    detail: str
    inventory: dict[str, Any]


def parse_operand(text: str) -> Operand:
    """Classify an operand without planning anything (cheap: errors come before slow plans)."""
    text = text.strip()
    if not text:
        raise PlanInputError("empty operand: give a stack (dev), a stack at a phase (prod@2) or a .json file")
    if text.endswith(".json") or os.sep in text or "/" in text or Path(text).is_file():
        return Operand(text=text, path=Path(text))
    stack, at, phase_text = text.partition("@")
    if not stack:
        raise PlanInputError(f"bad operand {text!r}: name the stack before @ (for example prod@2)")
    phase: int | None = None
    if at:
        try:
            phase = parse_phase(phase_text)
        except PhaseError as exc:
            raise PlanInputError(
                f"bad operand {text!r}: the phase after @ {exc} (for example {stack}@2)"
            ) from None
    return Operand(text=text, stack=stack, phase=phase)


def check_stack(operand: Operand) -> None:
    """Fail now, before any plan runs, if the stack file does not exist."""
    if operand.stack is not None:
        load_stack(operand.stack, operand.phase)


def _describe(inventory: dict[str, Any], where: str) -> str:
    stack, phase = inventory.get("stack"), inventory.get("phase")
    if isinstance(stack, str) and isinstance(phase, int):
        return f"pot-of-gold/{stack} phase {phase}, {where}"
    return where


def load_inventory_file(path: Path) -> dict[str, Any]:
    """Read and check an inventory written by ``pog plan --json``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanInputError(f"inventory file {str(path)!r} not found") from None
    except IsADirectoryError:
        raise PlanInputError(f"{str(path)!r} is a directory, not an inventory file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanInputError(f"cannot read the inventory file {str(path)!r}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanInputError(
            f"{str(path)!r} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            "write an inventory with `pog plan STACK --json FILE`"
        ) from None
    check_inventory(data, repr(str(path)))
    return data  # type: ignore[no-any-return]


def check_inventory(data: Any, what: str) -> None:
    hint = "not an inventory from `pog plan STACK --json FILE`"
    if not isinstance(data, dict) or not isinstance(data.get("resources"), list):
        raise PlanInputError(f'{what} has no "resources" list: {hint}')
    for index, entry in enumerate(data["resources"]):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("type"), str)
            and isinstance(entry.get("name"), str)
        ):
            raise PlanInputError(f'{what}: resources[{index}] has no "type" and "name" strings: {hint}')
        if not isinstance(entry.get("inputs", {}), dict):
            raise PlanInputError(f"{what}: resources[{index}].inputs is not an object: {hint}")


def plan_inventory(stack: str, phase: int | None) -> dict[str, Any]:
    """Plan a stack of the working tree in this process (raises what the program raises)."""
    plan, planned_phase = plan_stack(stack, phase)
    return to_inventory(plan, planned_phase)


def resolve(operand: Operand, ref: str | None = None, root: Path | None = None) -> Source:
    if operand.path is not None:
        if ref is not None:
            raise PlanInputError(
                f"--base applies to a stack, not to the inventory file {operand.text!r}: "
                "give a stack as the first operand"
            )
        inventory = load_inventory_file(operand.path)
        return Source(operand.text, _describe(inventory, f"file {operand.text}"), inventory)
    assert operand.stack is not None
    if ref is not None:
        inventory = plan_at_ref(operand.stack, operand.phase, ref, root)
        return Source(f"{operand.text} at {ref}", _describe(inventory, f"git {ref}"), inventory)
    inventory = plan_inventory(operand.stack, operand.phase)
    return Source(operand.text, _describe(inventory, "working tree"), inventory)


# --- a stack at a git ref ---------------------------------------------------------------------------

# Runs inside the temporary worktree: plans with that tree's code and stack files and writes
# {"inventory": ...} or, for a user error the program reports, {"error": "..."} to argv[4].
_REF_PLAN_SCRIPT = """
import json, pathlib, sys
stack, phase_text, tree, out = sys.argv[1:5]
import infra
here = pathlib.Path(infra.__file__).resolve()
if not here.is_relative_to(pathlib.Path(tree).resolve()):
    sys.exit(f"imported infra from {here}, not from the worktree {tree}")
try:
    from infra.plan.inventory import to_inventory
    from infra.plan.runner import plan_stack
except ImportError as exc:
    result = {"error": f"this ref has no offline plan (infra.plan.runner): {exc}"}
else:
    try:
        plan, planned_phase = plan_stack(stack, int(phase_text) if phase_text else None)
    except Exception as exc:
        if type(exc).__name__ not in ("PlanInputError", "ConfigError"):
            raise
        result = {"error": str(exc)}
    else:
        result = {"inventory": to_inventory(plan, planned_phase)}
pathlib.Path(out).write_text(json.dumps(result), encoding="utf-8")
"""


def _project_root(root: Path | None) -> Path:
    # Read at call time, so tests can point --base at another repository.
    return REPO_ROOT if root is None else root


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise PlanInputError("--base needs git, and git is not installed (or not on PATH)") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def resolve_commit(ref: str, root: Path | None = None) -> tuple[Path, str]:
    """The git top level holding ``root`` and the commit ``ref`` names; one-line errors otherwise."""
    root = _project_root(root)
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise PlanInputError(f"--base {ref}: {root} is not a git repository (clone the project with git)")
    if not ref or ref.startswith("-"):
        raise PlanInputError(
            f"--base {ref!r}: not a git ref (give a branch, tag or commit, e.g. origin/main)"
        )
    commit = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        raise PlanInputError(
            f"--base {ref}: unknown git ref (check the name, or `git fetch` if it is a remote branch)"
        )
    return Path(top.stdout.strip()), commit.stdout.strip()


@contextmanager
def worktree(ref: str, root: Path | None = None) -> Iterator[Path]:
    """The project directory as of ``ref``, in a temporary detached worktree removed afterwards."""
    root = _project_root(root)
    top, commit = resolve_commit(ref, root)
    scratch = Path(tempfile.mkdtemp(prefix="pog-diff-"))
    tree = scratch / "tree"
    try:
        added = _git(top, "worktree", "add", "--detach", str(tree), commit)
        if added.returncode != 0:
            raise PlanInputError(f"--base {ref}: git worktree add failed: {_last_line(added.stderr)}")
        yield tree / root.resolve().relative_to(top.resolve())
    finally:
        if tree.exists():
            removed = _git(top, "worktree", "remove", "--force", str(tree))
            if removed.returncode != 0:
                shutil.rmtree(tree, ignore_errors=True)
        _git(top, "worktree", "prune")
        shutil.rmtree(scratch, ignore_errors=True)


def plan_at_ref(stack: str, phase: int | None, ref: str, root: Path | None = None) -> dict[str, Any]:
    """Plan ``stack`` with the code and stack files of ``ref``, in a subprocess run in a worktree."""
    with worktree(ref, root) as project, tempfile.TemporaryDirectory(prefix="pog-diff-") as scratch:
        out = Path(scratch) / "inventory.json"
        argv = [stack, "" if phase is None else str(phase), str(project), str(out)]
        env = {**os.environ, "PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            run = subprocess.run(
                [sys.executable, "-c", _REF_PLAN_SCRIPT, *argv],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=REF_PLAN_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise PlanInputError(f"the plan of {stack} at {ref} took over {REF_PLAN_TIMEOUT}s") from None
        if run.returncode != 0 or not out.is_file():
            raise PlanInputError(f"the plan of {stack} at {ref} failed: {_last_line(run.stderr)}")
        result = json.loads(out.read_text(encoding="utf-8"))
    if "error" in result:
        raise PlanInputError(f"at {ref}: {result['error']}")
    check_inventory(result.get("inventory"), f"the plan of {stack} at {ref}")
    return result["inventory"]  # type: ignore[no-any-return]
