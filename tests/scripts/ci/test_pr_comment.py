"""scripts/ci/pr_comment.py: the report is one pull request comment, edited in place on every push."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.ci import pr_comment
from scripts.ci.github import Result
from tests.scripts.ci.fakes import FakeRunner

pytestmark = pytest.mark.unit

MARKER = "<!-- pog-offline-plan -->"
REPO = "owner/pot-of-gold"


def _comment(comment_id: int, login: str, body: str) -> dict[str, object]:
    return {"id": comment_id, "user": {"login": login}, "body": body}


def _listing(*pages: list[dict[str, object]]) -> list[tuple[list[str], Result]]:
    """`gh api --paginate --slurp` answers one JSON array of pages."""
    return [(["gh", "api", "--paginate"], Result(0, json.dumps(list(pages))))]


def _body(tmp_path: Path, text: str = f"{MARKER}\n## report\n") -> Path:
    path = tmp_path / "comment.md"
    path.write_text(text)
    return path


def test_the_bots_comment_with_the_marker_is_found_on_any_page() -> None:
    runner = FakeRunner(
        _listing(
            [
                _comment(1, "someone", f"{MARKER} quoted by a person"),
                _comment(2, "github-actions[bot]", "other"),
            ],
            [
                _comment(3, "github-actions[bot]", f"{MARKER}\nold report"),
                _comment(4, "github-actions[bot]", MARKER),
            ],
        )
    )
    assert pr_comment.find_comment(REPO, 12, MARKER, runner) == 3
    assert runner.calls == [["gh", "api", "--paginate", "--slurp", f"repos/{REPO}/issues/12/comments"]]
    assert pr_comment.find_comment(REPO, 12, MARKER, FakeRunner(_listing([]))) is None


def test_an_existing_report_is_edited(tmp_path: Path) -> None:
    runner = FakeRunner(_listing([_comment(77, "github-actions[bot]", f"{MARKER}\nold")]))
    body = _body(tmp_path)
    assert pr_comment.post(REPO, 12, MARKER, body, runner) == "updated comment 77"
    [patch] = runner.called("gh", "api", "--method")
    assert patch == [
        "gh",
        "api",
        "--method",
        "PATCH",
        f"repos/{REPO}/issues/comments/77",
        "-F",
        f"body=@{body}",
    ]


def test_the_first_report_is_created(tmp_path: Path) -> None:
    runner = FakeRunner(_listing([_comment(5, "someone", "hello")]))
    body = _body(tmp_path)
    assert (
        pr_comment.main(["--repo", REPO, "--pr", "12", "--marker", MARKER, "--body", str(body)], runner) == 0
    )
    [post] = runner.called("gh", "api", "--method")
    assert post == [
        "gh",
        "api",
        "--method",
        "POST",
        f"repos/{REPO}/issues/12/comments",
        "-F",
        f"body=@{body}",
    ]


def test_a_failed_call_fails_the_step_with_one_annotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = FakeRunner([(["gh", "api", "--paginate"], Result(1, "", "HTTP 403: Resource not accessible\n"))])
    argv = ["--repo", REPO, "--pr", "12", "--marker", MARKER, "--body", str(_body(tmp_path))]
    assert pr_comment.main(argv, runner) == 1
    assert (
        capsys.readouterr().err
        == "::error::listing the comments of #12 failed: HTTP 403: Resource not accessible\n"
    )
    failing_post = FakeRunner([*_listing([]), (["gh", "api", "--method"], Result(1, "", "HTTP 422\n"))])
    assert pr_comment.main(argv, failing_post) == 1
    assert "creating the report comment failed: HTTP 422" in capsys.readouterr().err


def test_a_body_without_the_marker_is_refused(tmp_path: Path) -> None:
    runner = FakeRunner()
    argv = ["--repo", REPO, "--pr", "1", "--marker", MARKER, "--body", str(_body(tmp_path, "no marker"))]
    assert pr_comment.main(argv, runner) == 1
    assert runner.calls == [], "never post a comment the next push could not find"
