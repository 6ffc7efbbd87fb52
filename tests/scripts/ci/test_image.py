"""scripts/ci/image.py: the image pushed once by digest, and deployed to each stack by that digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.ci import image
from scripts.ci.github import Result, StepError
from tests.scripts.ci.fakes import FakeRunner

pytestmark = pytest.mark.unit

DEV = "us-central1-docker.pkg.dev/pot-of-gold-dev/pog-dev-images/api"
PROD = "us-central1-docker.pkg.dev/pot-of-gold-prod/pog-prod-images/api"
DIGEST = "sha256:" + "ab" * 32


def test_each_stacks_repository_is_its_app_image_without_the_digest() -> None:
    assert image.stack_repository("dev") == DEV
    assert image.stack_repository("prod") == PROD


@pytest.mark.parametrize(
    "text",
    ["config:\n  pot-of-gold:region: us-central1\n", "config:\n  pot-of-gold:appImage: repo/api:latest\n"],
)
def test_a_stack_file_without_an_image_by_digest_is_an_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    with pytest.raises(StepError, match=r"Pulumi\.dev\.yaml names no appImage"):
        image.stack_repository("dev", tmp_path)
    with pytest.raises(StepError, match="names no appImage"):
        image.stack_repository("nope", tmp_path)


def test_the_pushed_digest_is_the_repositorys_entry_of_repo_digests() -> None:
    lines = f"other/api@{DIGEST}\n{DEV}@{DIGEST}\n{DEV}@sha256:{'cd' * 32}\n"
    assert image.pushed_digest(lines, DEV) == f"{DEV}@{DIGEST}"
    with pytest.raises(StepError, match="no digest recorded"):
        image.pushed_digest(f"{DEV}@sha256:short\n", DEV)


def test_push_tags_pushes_and_reports_the_registrys_digest() -> None:
    runner = FakeRunner([(["docker", "image", "inspect"], Result(0, f"{DEV}@{DIGEST}\n"))])
    assert image.push("dev", "pog-api:abc", "abc", runner) == f"{DEV}@{DIGEST}"
    assert runner.calls[:3] == [
        ["gcloud", "auth", "configure-docker", "us-central1-docker.pkg.dev", "--quiet"],
        ["docker", "tag", "pog-api:abc", f"{DEV}:abc"],
        ["docker", "push", f"{DEV}:abc"],
    ]
    assert runner.calls[3][-1] == f"{DEV}:abc"


def test_a_failed_push_stops_before_any_digest() -> None:
    runner = FakeRunner([(["docker", "push"], Result(1))])
    with pytest.raises(StepError, match=r"docker push failed \(exit 1\)"):
        image.push("dev", "pog-api:abc", "abc", runner)
    assert not runner.called("docker", "image", "inspect")


def test_copy_into_another_repository_keeps_the_manifest_and_checks_the_digest() -> None:
    runner = FakeRunner()
    assert image.copy("prod", f"{DEV}@{DIGEST}", "abc", runner) == f"{PROD}@{DIGEST}"
    [create] = runner.called("docker", "buildx", "imagetools", "create")
    assert create[4:] == ["--prefer-index=false", "--tag", f"{PROD}:abc", f"{DEV}@{DIGEST}"]
    assert runner.called("docker", "buildx", "imagetools", "inspect") == [
        ["docker", "buildx", "imagetools", "inspect", f"{PROD}@{DIGEST}"]
    ]


def test_copy_within_the_same_repository_only_checks() -> None:
    runner = FakeRunner()
    assert image.copy("dev", f"{DEV}@{DIGEST}", "abc", runner) == f"{DEV}@{DIGEST}"
    assert not runner.called("docker", "buildx", "imagetools", "create")
    assert runner.calls[0] == ["gcloud", "auth", "configure-docker", "us-central1-docker.pkg.dev", "--quiet"]


def test_copy_logs_in_to_both_registries_when_they_differ() -> None:
    runner = FakeRunner()
    image.copy("prod", f"europe-west1-docker.pkg.dev/p/r/api@{DIGEST}", "abc", runner)
    assert runner.calls[0][3] == "us-central1-docker.pkg.dev,europe-west1-docker.pkg.dev"


@pytest.mark.parametrize(
    "source",
    [f"{DEV}:latest", f"docker.io/library/api@{DIGEST}", f"{DEV}@sha256:abc", f"{DEV}@{DIGEST}\nx", ""],
)
def test_copy_refuses_anything_but_an_artifact_registry_image_by_digest(source: str) -> None:
    runner = FakeRunner()
    with pytest.raises(StepError, match="not an Artifact Registry image by digest"):
        image.copy("prod", source, "abc", runner)
    assert runner.calls == []


def test_copy_fails_when_the_repository_does_not_hold_the_digest() -> None:
    runner = FakeRunner([(["docker", "buildx", "imagetools", "inspect"], Result(1, "", "not found\n"))])
    with pytest.raises(StepError, match=f"does not hold {DIGEST}: not found"):
        image.copy("prod", f"{DEV}@{DIGEST}", "abc", runner)


def test_main_outputs_the_image_or_annotates_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    runner = FakeRunner([(["docker", "image", "inspect"], Result(0, f"{DEV}@{DIGEST}\n"))])
    assert image.main(["push", "--stack", "dev", "--local", "pog-api:abc", "--tag", "abc"], runner) == 0
    assert output.read_text() == f"image={DEV}@{DIGEST}\n"
    assert summary.read_text() == f"pushed `{DEV}@{DIGEST}` (tag `abc`)\n"
    assert image.main(["copy", "--stack", "prod", "--source", "nope", "--tag", "abc"], FakeRunner()) == 1
    assert capsys.readouterr().err == "::error::not an Artifact Registry image by digest: 'nope'\n"
    assert output.read_text() == f"image={DEV}@{DIGEST}\n", "no output after a failure"
