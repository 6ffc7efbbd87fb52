"""repo-backup.yml: one git bundle of every branch and tag with their whole history, verified, then
copied to the stack's repository backup bucket.

``create``:

actions/checkout leaves the branches other than the checked-out one as ``origin/*`` refs: each becomes a
local branch and the remote-tracking refs go, so the bundle holds every branch under its own name. The
bundle must list exactly the repository's branches and tags, at the same commits (or tag objects).
Step output ``path``: the bundle, ``<dir>/pog-<YYYY-MM-DD>-<12-hex>.bundle``.

``upload``: ``gcloud storage cp`` of the bundle into the bucket (its name, no ``gs://``). The account may
only create objects (roles/storage.objectCreator): no listing, no overwrite, so a re-run on the same day
for the same commit fails rather than replace that day's bundle. gcloud checks the upload against the
local file's checksum.

    python3 -m scripts.ci.repo_bundle create --dir "$RUNNER_TEMP"
    python3 -m scripts.ci.repo_bundle upload --bucket pog-prod-repo-backups --bundle PATH
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.ci.github import Runner, StepError, add_summary, error, run, set_output


def _git(runner: Runner, *args: str) -> str:
    result = runner(["git", *args])
    if result.returncode != 0:
        raise StepError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def bundle_name(day: dt.date, short_sha: str) -> str:
    return f"pog-{day.isoformat()}-{short_sha}.bundle"


def local_branches_from_remote(runner: Runner) -> None:
    """Every ``origin/*`` branch as a local branch; then no remote-tracking refs at all."""
    _git(runner, "fetch", "--quiet", "--update-head-ok", ".", "+refs/remotes/origin/*:refs/heads/*",
         "^refs/remotes/origin/HEAD")  # fmt: skip
    for ref in _git(runner, "for-each-ref", "--format=%(refname)", "refs/remotes").split():
        _git(runner, "update-ref", "--no-deref", "-d", ref)  # origin/HEAD itself, not what it points to


def refs_differ(want: str, got: str) -> list[str]:
    """The unified diff of two ref listings (``<object> <refname>`` lines), ignoring order and HEAD."""
    wanted = sorted(line for line in want.splitlines() if line.strip())
    listed = sorted(line for line in got.splitlines() if line.strip() and not line.endswith(" HEAD"))
    return list(difflib.unified_diff(wanted, listed, "repository", "bundle", lineterm=""))


def make_bundle(directory: Path, runner: Runner = run, today: dt.date | None = None) -> tuple[Path, int]:
    """Bundle and verify; returns the bundle and how many refs it holds."""
    local_branches_from_remote(runner)
    short = _git(runner, "rev-parse", "--short=12", "HEAD").strip()
    bundle = directory / bundle_name(today or dt.datetime.now(dt.UTC).date(), short)
    _git(runner, "bundle", "create", str(bundle), "--all")
    _git(runner, "bundle", "verify", str(bundle))
    # Every branch and tag is in it, at the commit (or tag object) the repository has.
    want = _git(runner, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags")
    got = _git(runner, "bundle", "list-heads", str(bundle))
    difference = refs_differ(want, got)
    if difference:
        print("\n".join(difference), file=sys.stderr)
        raise StepError("the bundle's refs differ from the repository's")
    return bundle, len([line for line in want.splitlines() if line.strip()])


#: A bucket's name as the REPO_BACKUP_BUCKET variable must hold it.
BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]+[a-z0-9]")


def upload_command(bucket: str, bundle: Path) -> list[str]:
    if not BUCKET.fullmatch(bucket):
        raise StepError(
            "set REPO_BACKUP_BUCKET (environment variable) to the bucket name, e.g. pog-prod-repo-backups"
            f" (no gs:// prefix); got {bucket!r}"
        )
    return ["gcloud", "storage", "cp", str(bundle), f"gs://{bucket}/"]


def main(argv: Sequence[str] | None = None, runner: Runner = run) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="bundle every branch and tag, and verify the bundle")
    create.add_argument("--dir", type=Path, required=True, help="where the bundle goes (RUNNER_TEMP)")
    upload = commands.add_parser("upload", help="copy the bundle to the bucket")
    upload.add_argument("--bucket", required=True, help="the bucket's name (REPO_BACKUP_BUCKET)")
    upload.add_argument("--bundle", type=Path, required=True, help="the verified bundle")
    args = parser.parse_args(argv)
    try:
        if args.command == "upload":
            cp = upload_command(args.bucket, args.bundle)
            if runner(cp, capture=False).returncode != 0:
                raise StepError(f"copying {args.bundle.name} to gs://{args.bucket}/ failed")
            return 0
        bundle, refs = make_bundle(args.dir, runner)
    except StepError as exc:
        error(str(exc))
        return 1
    set_output("path", str(bundle))
    size_mib = bundle.stat().st_size / 2**20
    add_summary(f"{bundle.name}: {refs} refs, {size_mib:.1f} MiB\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
