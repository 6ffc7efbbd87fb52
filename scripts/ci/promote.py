"""promote.yml: `pog promote --write` for the dispatch's inputs, its Markdown report in a file (the pull
request's body) and in the job summary whether or not the promotion is allowed; exits as pog did.

    python3 -m scripts.ci.promote --from dev --to prod [--phase 2] --report promote-out/report.md
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.ci.github import Runner, add_summary, error, run

POG = ".venv/bin/pog"  # no virtualenv is activated in a workflow


def command(source: str, target: str, phase: str) -> list[str]:
    """The `pog promote` call; ``phase`` empty: the source stack's phase, one step at most.

    --allow-data-loss is deliberately never passed: a promotion that destroys or replaces data-holding
    resources is run by a person following the runbook pog promote names.
    """
    argv = [POG, "promote", "--from", source, "--to", target]
    if phase:
        if not re.fullmatch(r"[1-3]", phase):
            raise ValueError(f"phase must be 1, 2 or 3 (or empty); got {phase}")
        argv += ["--phase", phase]
    return [*argv, "--write", "--format", "markdown"]


def main(argv: Sequence[str] | None = None, runner: Runner = run) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, help="the stack to promote from")
    parser.add_argument("--to", dest="target", required=True, help="the stack to promote")
    parser.add_argument("--phase", default="", help="1-3; empty: the source stack's phase")
    parser.add_argument("--report", type=Path, required=True, help="where the Markdown report goes")
    args = parser.parse_args(argv)
    try:
        pog = command(args.source, args.target, args.phase)
    except ValueError as exc:
        error(str(exc))
        return 1
    report: Path = args.report
    report.parent.mkdir(parents=True, exist_ok=True)
    result = runner(pog)
    sys.stderr.write(result.stderr)
    # The report (what changes, the diff, the check; or why the promotion is refused) either way.
    report.write_text(result.stdout)
    add_summary(result.stdout)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
