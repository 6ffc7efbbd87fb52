"""scripts/ci/repo_bundle.py: every branch and tag in one verified bundle, on a real clone; the upload."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from scripts.ci import repo_bundle
from scripts.ci.github import Result, StepError, run
from tests.scripts.ci.fakes import FakeRunner

IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def _git(cwd: Path, *args: str) -> str:
    env = {**IDENTITY, "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(cwd)}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone as actions/checkout leaves it: one local branch, the others as origin/* refs, tags."""
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q", "-b", "main")
    _git(origin, "commit", "-q", "--allow-empty", "-m", "first")
    _git(origin, "branch", "feature")
    _git(origin, "tag", "v1")
    _git(origin, "tag", "-a", "v2", "-m", "annotated")
    _git(origin, "checkout", "-q", "feature")
    _git(origin, "commit", "-q", "--allow-empty", "-m", "on feature")
    _git(tmp_path, "clone", "-q", "--branch", "main", str(origin), "work")
    work = tmp_path / "work"
    monkeypatch.chdir(work)
    for name, value in {"GIT_CONFIG_GLOBAL": "/dev/null", "HOME": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    return work


def test_the_bundle_holds_every_branch_and_tag_under_its_name(clone: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    bundle, refs = repo_bundle.make_bundle(out, run, today=dt.date(2026, 3, 2))
    assert refs == 4
    assert bundle.name == f"pog-2026-03-02-{_git(clone, 'rev-parse', '--short=12', 'HEAD').strip()}.bundle"
    heads = {line.split()[1] for line in _git(clone, "bundle", "list-heads", str(bundle)).splitlines()}
    assert heads >= {"refs/heads/main", "refs/heads/feature", "refs/tags/v1", "refs/tags/v2"}
    assert _git(clone, "for-each-ref", "refs/remotes") == "", "no remote-tracking refs are left"
    feature = _git(clone, "rev-parse", "refs/heads/feature")
    assert feature == _git(tmp_path / "origin", "rev-parse", "feature"), "the branch at origin's commit"


def test_a_bundle_that_misses_a_ref_fails(clone: Path, tmp_path: Path) -> None:
    def listing_without_tags(argv: Sequence[str]) -> Result:
        listed = run(argv)
        return Result(0, "\n".join(ln for ln in listed.stdout.splitlines() if "refs/tags/" not in ln))

    def runner(argv: Sequence[str], *, capture: bool = True, merge: bool = False) -> Result:
        if list(argv[:3]) == ["git", "bundle", "list-heads"]:
            return listing_without_tags(argv)
        return run(argv, capture=capture, merge=merge)

    with pytest.raises(StepError, match="the bundle's refs differ from the repository's"):
        repo_bundle.make_bundle(tmp_path, runner)


@pytest.mark.unit
def test_the_ref_comparison_ignores_order_and_head() -> None:
    want = "a refs/heads/main\nb refs/tags/v1\n"
    assert repo_bundle.refs_differ(want, "b refs/tags/v1\na refs/heads/main\na HEAD\n") == []
    assert "-b refs/tags/v1" in repo_bundle.refs_differ(want, "a refs/heads/main\n")


@pytest.mark.unit
@pytest.mark.parametrize("bucket", ["gs://pog-prod-repo-backups", "", "Pog-Prod", "pog prod", "a"])
def test_the_bucket_must_be_a_bare_name(bucket: str) -> None:
    with pytest.raises(StepError, match="set REPO_BACKUP_BUCKET"):
        repo_bundle.upload_command(bucket, Path("x.bundle"))


@pytest.mark.unit
def test_upload_copies_the_bundle_into_the_bucket(capsys: pytest.CaptureFixture[str]) -> None:
    runner = FakeRunner()
    argv = ["upload", "--bucket", "pog-prod-repo-backups", "--bundle", "/tmp/pog.bundle"]
    assert repo_bundle.main(argv, runner) == 0
    assert runner.calls == [["gcloud", "storage", "cp", "/tmp/pog.bundle", "gs://pog-prod-repo-backups/"]]
    failing = FakeRunner([(["gcloud"], Result(1))])
    assert repo_bundle.main(argv, failing) == 1
    assert capsys.readouterr().err == "::error::copying pog.bundle to gs://pog-prod-repo-backups/ failed\n"
