"""ci.yml's offline report: for every stack, `pog plan`, `pog diff` against the base and `pog check`,
assembled into one Markdown report (the job summary, the artifact, the pull request comment).

Every command runs whatever the previous one gave, so the report covers every stack. Nothing here fails
the step: the stacks whose plan, diff or check failed are the step output ``failed`` (``dev:plan
prod:check``), and a later step fails the job once the report is posted.

    python -m scripts.ci.offline_report --out plan-out --marker '<!-- pog-offline-plan -->' \\
        --event pull_request --base-branch main --before SHA --head-sha SHA
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scripts.ci.github import Runner, add_summary, run, set_output

ROOT = Path(__file__).resolve().parents[2]
POG = ".venv/bin/pog"  # no virtualenv is activated in a workflow
#: A comment holds at most 65536 characters; the whole report stays in the summary and the artifact.
COMMENT_LIMIT = 60_000
TRUNCATED = "\n\n**Truncated**: the whole report is in the job summary and the `offline-plan` artifact.\n"


def stacks(root: Path = ROOT) -> list[str]:
    """Every stack: the ``Pulumi.<stack>.yaml`` files beside ``Pulumi.yaml``."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))


def diff_base(event: str, base_branch: str, before: str, commit_exists: bool) -> str:
    """A pull request: the merge result against its base branch. A push: against the previous tip, or
    the parent when that is unknown (a new branch, a force push)."""
    if event == "pull_request":
        return f"origin/{base_branch}"
    return before if before and commit_exists else "HEAD^"


@dataclass(frozen=True)
class Files:
    """What one stack's commands leave in the report folder: ``<out>/<stack>.<kind>``."""

    out_dir: Path
    stack: str

    def __call__(self, kind: str) -> Path:
        return self.out_dir / f"{self.stack}.{kind}"


def commands(stack: str, base: str, files: Files) -> dict[str, list[str]]:
    """The three `pog` calls for one stack (tests/test_workflows.py checks them against the CLI)."""
    return {
        "plan": [POG, "plan", stack, "--quiet", "--json", str(files("json"))],
        # exit 0: no changes; 2: changes (not a failure); anything else an error.
        "diff": [
            POG,
            "diff",
            stack,
            "--base",
            base,
            "--format",
            "markdown",
            "--output",
            str(files("diff.md")),
        ],
        "check": [POG, "check", stack, "--format", "markdown"],
    }


@dataclass(frozen=True)
class Outcome:
    stack: str
    plan_rc: int
    diff_rc: int
    check_rc: int

    @property
    def cells(self) -> tuple[str, str, str]:
        plan = "ok" if self.plan_rc == 0 else "**failed**"
        diff = {0: "no changes", 2: "changes"}.get(self.diff_rc, "**error**")
        check = "passed" if self.check_rc == 0 else "**failed**"
        return plan, diff, check

    @property
    def failed(self) -> list[str]:
        plan, diff, check = self.cells
        return [f"{self.stack}:{what}" for what, cell in (("plan", plan), ("diff", diff), ("check", check))
                if cell.startswith("**")]  # fmt: skip

    @property
    def row(self) -> str:
        return f"| `{self.stack}` | {' | '.join(self.cells)} |\n"


def run_stack(stack: str, base: str, out_dir: Path, runner: Runner = run) -> Outcome:
    """Plan, diff and check one stack, each command's output in its file."""
    files = Files(out_dir, stack)
    argv = commands(stack, base, files)
    plan = runner(argv["plan"], merge=True)
    files("plan.txt").write_text(plan.stdout)
    diff = runner(argv["diff"])
    sys.stdout.write(diff.stdout)
    files("diff.err").write_text(diff.stderr)
    check = runner(argv["check"])
    files("check.md").write_text(check.stdout)
    files("check.err").write_text(check.stderr)
    return Outcome(stack, plan.returncode, diff.returncode, check.returncode)


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


def section(outcome: Outcome, out_dir: Path) -> str:
    """One stack's part of the report: the plan folded, the diff (or why it failed), the check."""
    files = Files(out_dir, outcome.stack)
    plan_cell = outcome.cells[0]
    parts = [
        f"\n## `{outcome.stack}`\n\n",
        f"<details><summary>Plan ({plan_cell}): resources per component and type</summary>\n\n```text\n",
        _read(files("plan.txt")),
        "```\n\n</details>\n\n",
    ]
    if outcome.diff_rc in (0, 2):
        parts.append(_read(files("diff.md")))
    else:
        parts += [
            f"### `pog diff` failed (exit {outcome.diff_rc})\n\n```text\n",
            _read(files("diff.err")),
            "```\n",
        ]
    parts.append("\n")
    check = _read(files("check.md"))
    parts.append(check if check else f"### `pog check`: exit {outcome.check_rc}, no report\n")
    check_err = _read(files("check.err"))
    if outcome.check_rc != 0 and check_err:
        parts += ["\n```text\n", check_err, "```\n"]
    return "".join(parts)


def report(marker: str, head_sha: str, base: str, outcomes: Sequence[Outcome], out_dir: Path) -> str:
    """The whole report; its first line is the marker that finds the comment again on the next push."""
    return "".join(
        [
            f"{marker}\n## Offline plan, diff and policy check\n\n",
            f"Commit `{head_sha[:7]}` against `{base}`, planned under the Pulumi mock engine "
            "(no cloud, no credentials).\n\n",
            "| Stack | Plan | Diff | Policy check |\n|---|---|---|---|\n",
            *(o.row for o in outcomes),
            *(section(o, out_dir) for o in outcomes),
        ]
    )


def comment_body(text: str, limit: int = COMMENT_LIMIT) -> str:
    """The report, cut to ``limit`` bytes (with a note saying where the rest is) when longer."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[:limit].decode(errors="ignore") + TRUNCATED


def _commit_exists(ref: str, runner: Runner) -> bool:
    return bool(ref) and runner(["git", "cat-file", "-e", f"{ref}^{{commit}}"]).returncode == 0


def main(argv: Sequence[str] | None = None, runner: Runner = run) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the report folder (REPORT_DIR)")
    parser.add_argument("--marker", required=True, help="the hidden first line of the report")
    parser.add_argument("--event", required=True, help="github.event_name")
    parser.add_argument("--base-branch", default="", help="github.base_ref (pull requests)")
    parser.add_argument("--before", default="", help="github.event.before (pushes)")
    parser.add_argument("--head-sha", required=True, help="the commit the report is about")
    args = parser.parse_args(argv)

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    base = diff_base(args.event, args.base_branch, args.before, _commit_exists(args.before, runner))
    outcomes = [run_stack(stack, base, out, runner) for stack in stacks()]
    text = report(args.marker, args.head_sha, base, outcomes, out)
    (out / "report.md").write_text(text)
    (out / "comment.md").write_text(comment_body(text))
    add_summary(text)
    set_output("failed", " ".join(f for o in outcomes for f in o.failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
