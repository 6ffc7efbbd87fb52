"""ci.yml: the offline report as ONE pull request comment, edited in place on every push.

The comment this workflow posted before is the first one written by the Actions bot whose body starts
with the hidden marker; it is edited (PATCH), or created (POST) when there is none. Uses the GitHub CLI
with the job's token (GH_TOKEN).

    python -m scripts.ci.pr_comment --repo OWNER/NAME --pr 12 --marker '<!-- pog-offline-plan -->' \\
        --body plan-out/comment.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.ci.github import Runner, StepError, error, run

BOT = "github-actions[bot]"


def find_comment(repo: str, pr: int, marker: str, runner: Runner = run) -> int | None:
    """The id of the bot's comment that starts with ``marker``, if any (every page of comments)."""
    listed = runner(["gh", "api", "--paginate", "--slurp", f"repos/{repo}/issues/{pr}/comments"])
    if listed.returncode != 0:
        raise StepError(f"listing the comments of #{pr} failed: {listed.stderr.strip()}")
    pages = json.loads(listed.stdout or "[]")
    for page in pages:
        for comment in page:
            if comment["user"]["login"] == BOT and str(comment["body"]).startswith(marker):
                return int(comment["id"])
    return None


def post(repo: str, pr: int, marker: str, body: Path, runner: Runner = run) -> str:
    """Edit the report comment, or create it; returns what was done."""
    comment_id = find_comment(repo, pr, marker, runner)
    field = f"body=@{body}"  # gh reads the file
    if comment_id is not None:
        argv = ["gh", "api", "--method", "PATCH", f"repos/{repo}/issues/comments/{comment_id}", "-F", field]
        doing, done = f"updating comment {comment_id}", f"updated comment {comment_id}"
    else:
        argv = ["gh", "api", "--method", "POST", f"repos/{repo}/issues/{pr}/comments", "-F", field]
        doing, done = "creating the report comment", "created the report comment"
    result = runner(argv)
    if result.returncode != 0:
        raise StepError(f"{doing} failed: {result.stderr.strip()}")
    return done


def main(argv: Sequence[str] | None = None, runner: Runner = run) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repo", required=True, help="OWNER/NAME (GITHUB_REPOSITORY)")
    parser.add_argument("--pr", type=int, required=True, help="the pull request's number")
    parser.add_argument("--marker", required=True, help="the report's hidden first line")
    parser.add_argument("--body", type=Path, required=True, help="the comment's Markdown file")
    args = parser.parse_args(argv)
    body: Path = args.body
    if not body.read_text().startswith(args.marker):
        error(f"{body} does not start with the marker {args.marker}: the next push could not find it")
        return 1
    try:
        print(post(args.repo, args.pr, args.marker, body, runner))
    except StepError as exc:
        error(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
