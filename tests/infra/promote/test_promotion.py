"""`pog promote --from dev --to prod`: on temporary copies of the stack files, with the real program."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.plan.inventory import to_inventory
from infra.plan.stackfile import REPO_ROOT, PlanInputError
from infra.policy.check import CheckReport, check_inventory, context_for
from infra.policy.model import Severity, Violation
from infra.promote import promotion as promote
from infra.promote.stack_file import edit_stack_file
from pog.cli import app

runner = CliRunner()

RUNBOOK = "runbooks/procedures/phase-promotion.md"
NEW_DIGEST = "sha256:" + "ab" * 32
OLD_DIGEST = "sha256:" + "3f1c9a0e8b7d6c5a" * 4
PROD_IMAGE_REPO = "us-central1-docker.pkg.dev/pot-of-gold-prod/pog-prod-images/api"
_PHASE_LINE = re.compile(r"^  pot-of-gold:phase: \d+$", re.M)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}$", re.M)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The project's stack files, copied: the tests never touch the repository's Pulumi.*.yaml.

    Both copies start at phase 1 with the same digest, whatever the repository's files say today.
    """
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "runbooks").symlink_to(REPO_ROOT / "runbooks")  # check reads the runbooks the alerts name
    for stack in ("dev", "prod"):
        set_phase(tmp_path, stack, 1)
        set_digest(tmp_path, stack, OLD_DIGEST)
    return tmp_path


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[CheckReport]:
    """The real check runs on the promoted target, but passes whatever it finds.

    These tests are about the promotion; whether today's stacks pass every rule is `pog check`'s
    business (see test_the_real_check_decides). The reports it really produced are returned.
    """
    reports: list[CheckReport] = []
    real = promote.run_check

    def run(target: str, phase: int, inventory: Any, root: Path) -> CheckReport:
        report = real(target, phase, inventory, root)
        reports.append(report)
        return dataclasses.replace(report, violations=())

    monkeypatch.setattr(promote, "run_check", run)
    return reports


def stack_file(root: Path, stack: str) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def set_phase(root: Path, stack: str, phase: int) -> None:
    path = stack_file(root, stack)
    text, count = _PHASE_LINE.subn(f"  pot-of-gold:phase: {phase}", path.read_text())
    assert count == 1
    path.write_text(text)


def set_digest(root: Path, stack: str, digest: str) -> None:
    path = stack_file(root, stack)
    text, count = _DIGEST.subn(digest, path.read_text())
    assert count == 1
    path.write_text(text)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def invoke(root: Path, *args: str, source: str = "dev", target: str = "prod") -> tuple[int, str]:
    result = runner.invoke(app, ["promote", "--from", source, "--to", target, "--root", str(root), *args])
    return result.exit_code, result.output


def assert_one_line_refusal(output: str, *expected: str) -> str:
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0], output
    return errors[0]


# --- accepted ----------------------------------------------------------------------------------------


def test_dry_run_shows_both_changes_and_the_diff_and_writes_nothing(
    root: Path, checked: list[CheckReport]
) -> None:
    set_phase(root, "dev", 2)
    set_digest(root, "dev", NEW_DIGEST)
    before = snapshot(root)

    code, output = invoke(root)

    assert code == 0, output
    assert "pog promote dev → prod" in output
    assert "pot-of-gold:phase: 1 -> 2" in output
    assert f"- {PROD_IMAGE_REPO}@{OLD_DIGEST}" in output
    # Only the digest moves: prod keeps pulling from its own project's repository.
    assert f"+ {PROD_IMAGE_REPO}@{NEW_DIGEST}" in output
    assert "pog diff prod → prod promoted" in output
    # Changed: the service and the eight jobs (the image), the budget's amount (each phase has its own,
    # infra/stacks/budgets.json), the live boards' cache rules, the URL map, the datastore grant and Redis.
    assert "23 to add, 15 to change, 0 to replace, 0 to destroy" in output
    assert "+ gcp:firestore/database:Database pog-prod-firestore-game-sessions (protected)" in output
    assert f'~ template.containers[api].image: "{PROD_IMAGE_REPO}@sha256:3f1c9a0' in output
    assert "prod at phase 2 passes check (" in output
    assert [(r.stack, r.environment, r.phase) for r in checked] == [("prod", "prod", 2)]
    assert checked[0].resources == len(promote.plan_with_config("prod", {}, root)[0].resources) + 23
    assert output.rstrip().endswith("(dry run: pass --write to update Pulumi.prod.yaml)")
    assert snapshot(root) == before


def test_write_changes_only_the_phase_and_image_lines(root: Path, checked: list[CheckReport]) -> None:
    set_phase(root, "dev", 2)
    set_digest(root, "dev", NEW_DIGEST)
    dev_before = stack_file(root, "dev").read_bytes()
    old_lines = stack_file(root, "prod").read_text().splitlines(keepends=True)

    code, output = invoke(root, "--write")

    assert code == 0, output
    assert "(dry run" not in output
    assert "Pulumi.prod.yaml updated: pot-of-gold:phase 1 -> 2; pot-of-gold:appImage digest " in output
    new_lines = stack_file(root, "prod").read_text().splitlines(keepends=True)
    replaced = {
        "  pot-of-gold:phase: 1\n": "  pot-of-gold:phase: 2\n",
        f"  pot-of-gold:appImage: {PROD_IMAGE_REPO}@{OLD_DIGEST}\n": (
            f"  pot-of-gold:appImage: {PROD_IMAGE_REPO}@{NEW_DIGEST}\n"
        ),
    }
    assert set(replaced) <= set(old_lines)
    # Line by line: the two values changed, every other byte (comments, order, quoting) as it was.
    assert new_lines == [replaced.get(line, line) for line in old_lines]
    assert any(line.startswith("# Production: paged on-call") for line in new_lines)
    assert '  pot-of-gold:redisCloudPaymentMethodId: "48213"\n' in new_lines
    assert stack_file(root, "dev").read_bytes() == dev_before

    again_code, again = invoke(root)
    assert again_code == 0, again
    assert "Nothing to promote: prod is already at dev's phase 2" in again


def test_write_with_the_same_digest_changes_only_the_phase_line(
    root: Path, checked: list[CheckReport]
) -> None:
    set_phase(root, "dev", 2)
    old_text = stack_file(root, "prod").read_text()

    code, output = invoke(root, "--write")

    assert code == 0, output
    assert f"pot-of-gold:appImage: digest {OLD_DIGEST} (unchanged)" in output
    assert stack_file(root, "prod").read_text() == old_text.replace(
        "  pot-of-gold:phase: 1\n", "  pot-of-gold:phase: 2\n"
    )


def test_only_a_new_digest_is_a_promotion_at_the_same_phase(root: Path, checked: list[CheckReport]) -> None:
    set_digest(root, "dev", NEW_DIGEST)
    old_text = stack_file(root, "prod").read_text()

    code, output = invoke(root, "--write")

    assert code == 0, output
    assert "pot-of-gold:phase: 1 (unchanged)" in output
    assert "0 to add, 9 to change, 0 to replace, 0 to destroy" in output  # the service and the eight jobs
    assert stack_file(root, "prod").read_text() == re.sub(_DIGEST, NEW_DIGEST, old_text)


def test_markdown_report_for_a_promotion(root: Path, checked: list[CheckReport]) -> None:
    set_phase(root, "dev", 2)

    code, output = invoke(root, "--format", "markdown")

    assert code == 0, output
    assert output.startswith("### `pog promote`: `dev` → `prod`\n")
    assert "| `pot-of-gold:phase` | 1 | 2 |" in output
    assert f"| `pot-of-gold:appImage` | `{PROD_IMAGE_REPO}@{OLD_DIGEST}` | unchanged |" in output
    assert "### `pog diff`: `prod` → `prod promoted`" in output
    assert "_(dry run: pass --write to update Pulumi.prod.yaml)_" in output


def test_nothing_to_change_exits_0(root: Path) -> None:
    before = snapshot(root)

    code, output = invoke(root, "--write")

    assert code == 0, output
    assert output == (
        f"Nothing to promote: prod is already at dev's phase 1 and image digest {OLD_DIGEST}.\n"
    )
    assert snapshot(root) == before


# --- refused -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dev", "prod", "args", "expected"),
    [
        pytest.param(3, 1, ["--phase", "3"], "prod is at phase 1: going to phase 3 skips phase 2", id="skip"),
        pytest.param(3, 1, [], "promote one phase at a time (--phase 2)", id="skip-by-default"),
        pytest.param(
            2, 1, ["--phase", "3"], "phase 3 would put prod ahead of dev (phase 2)", id="ahead-of-source"
        ),
        pytest.param(1, 1, ["--phase", "2"], "promote dev to phase 2 first", id="ahead-same-phase"),
        pytest.param(
            1,
            2,
            [],
            "would take it to phase 1: that is a demotion, not a promotion",
            id="demotion",
        ),
        pytest.param(
            3,
            3,
            ["--phase", "2"],
            "set pot-of-gold:phase to 2 in Pulumi.prod.yaml",
            id="demotion-hint",
        ),
    ],
)
def test_phase_steps_that_are_not_a_promotion_are_refused(
    root: Path, dev: int, prod: int, args: list[str], expected: str
) -> None:
    set_phase(root, "dev", dev)
    set_phase(root, "prod", prod)
    set_digest(root, "dev", NEW_DIGEST)
    before = snapshot(root)

    code, output = invoke(root, *args, "--write")

    assert code == 1
    assert_one_line_refusal(output, expected)
    assert output.count("\n") == 1  # refused before anything is planned: the reason and nothing else
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("source", "target", "args", "expected"),
    [
        pytest.param("prod", "prod", [], "--from and --to are the same stack (prod)", id="same-stack"),
        pytest.param(
            "dev",
            "staging",
            [],
            "unknown stack 'staging': Pulumi.staging.yaml not found (stacks here: dev, prod)",
            id="unknown-target",
        ),
        pytest.param("qa", "prod", [], "unknown stack 'qa'", id="unknown-source"),
        pytest.param("dev", "prod", ["--phase", "4"], "--phase must be 1, 2 or 3; got 4", id="bad-phase"),
        pytest.param(
            "dev", "prod", ["--format", "html"], "--format must be text or markdown; got 'html'", id="format"
        ),
    ],
)
def test_user_errors_are_one_line(
    root: Path, source: str, target: str, args: list[str], expected: str
) -> None:
    set_phase(root, "dev", 2)
    before = snapshot(root)

    code, output = invoke(root, *args, "--write", source=source, target=target)

    assert code == 1
    assert_one_line_refusal(output, expected)
    assert snapshot(root) == before


def test_an_unpinned_source_image_is_refused(root: Path) -> None:
    path = stack_file(root, "dev")
    path.write_text(re.sub(r"@sha256:[0-9a-f]{64}$", ":latest", path.read_text(), flags=re.M))

    code, output = invoke(root)

    assert code == 1
    assert_one_line_refusal(output, "pot-of-gold:appImage of dev must be pinned by digest")


def test_a_target_config_error_is_one_line(root: Path) -> None:
    set_phase(root, "dev", 2)
    path = stack_file(root, "prod")
    path.write_text(path.read_text().replace("pot-of-gold:region: us-central1", "pot-of-gold:region: mars-1"))

    code, output = invoke(root)

    assert code == 1
    line = assert_one_line_refusal(output, "stack configuration has 1 problem(s): pot-of-gold:region")
    assert "mars-1" in line


def test_data_loss_is_refused_and_names_the_resources_and_the_runbook(root: Path) -> None:
    set_phase(root, "dev", 3)
    set_phase(root, "prod", 2)
    before = snapshot(root)

    code, output = invoke(root, "--write")

    assert code == 1
    line = assert_one_line_refusal(
        output,
        "promoting prod to phase 3 would destroy or replace data:",
        "destroy rediscloud:index/subscription:Subscription pog-prod-redis,",
        "destroy rediscloud:index/subscriptionDatabase:SubscriptionDatabase pog-prod-redis-db",
        RUNBOOK,
        "--allow-data-loss",
    )
    assert line == output.rstrip("\n").splitlines()[-1]
    assert "DATA LOSS RISK: 2 resources" in output  # the diff is shown above the refusal
    assert "passes check" not in output
    assert snapshot(root) == before


def test_data_loss_is_accepted_when_allowed(root: Path, checked: list[CheckReport]) -> None:
    set_phase(root, "dev", 3)
    set_phase(root, "prod", 2)
    old_text = stack_file(root, "prod").read_text()

    code, output = invoke(root, "--allow-data-loss", "--write")

    assert code == 0, output
    assert "--allow-data-loss: destroy rediscloud:index/subscription:Subscription pog-prod-redis" in output
    assert "prod at phase 3 passes check (" in output
    assert [(r.stack, r.phase) for r in checked] == [("prod", 3)]
    assert stack_file(root, "prod").read_text() == old_text.replace(
        "  pot-of-gold:phase: 2\n", "  pot-of-gold:phase: 3\n"
    )


def _violation(rule_id: str, severity: Severity) -> Violation:
    return Violation(rule_id, severity, "a title", "gcp:storage/bucket:Bucket::b", "a message", "a fix")


def test_a_target_that_fails_check_is_refused_with_the_rule_ids(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_phase(root, "dev", 2)
    before = snapshot(root)
    real = promote.run_check
    failing = (
        _violation("POG-B-002", Severity.MEDIUM),
        _violation("POG-A-001", Severity.HIGH),
        _violation("POG-B-002", Severity.MEDIUM),
    )

    def run(target: str, phase: int, inventory: Any, root: Path) -> CheckReport:
        return dataclasses.replace(real(target, phase, inventory, root), violations=failing)

    monkeypatch.setattr(promote, "run_check", run)

    code, output = invoke(root, "--write")

    assert code == 1
    assert assert_one_line_refusal(output) == (
        "error: prod at phase 2 would fail check: POG-A-001 (high), POG-B-002 (medium); "
        "see `pog check prod --phase 2`"
    )
    assert "(dry run" not in output
    assert snapshot(root) == before


@pytest.mark.parametrize(
    ("dev", "prod", "args"),
    [pytest.param(2, 1, [], id="1-to-2"), pytest.param(3, 2, ["--allow-data-loss"], id="2-to-3")],
)
def test_the_real_check_decides(root: Path, dev: int, prod: int, args: list[str]) -> None:
    """Unpatched: the promotion passes exactly when `pog check` passes the promoted target."""
    set_phase(root, "dev", dev)
    set_phase(root, "prod", prod)
    before = snapshot(root)
    promoted, _ = promote.plan_with_config("prod", {"pot-of-gold:phase": str(dev)}, root)
    expected = check_inventory(to_inventory(promoted, dev), context_for("prod", dev, root))

    code, output = invoke(root, *args)

    if expected.passed:
        assert code == 0, output
        assert f"prod at phase {dev} passes check ({expected.rules_run} rules" in output
    else:
        assert code == 1, output
        line = assert_one_line_refusal(output, f"prod at phase {dev} would fail check: ")
        assert {v.rule_id for v in expected.violations} == set(re.findall(r"\b(POG-[A-Z]+-\d+)\b", line))
    assert snapshot(root) == before


# --- the parts ---------------------------------------------------------------------------------------


def test_plan_with_config_plans_the_real_program_with_overrides_in_memory(root: Path) -> None:
    before = snapshot(root)
    image = f"{PROD_IMAGE_REPO}@{NEW_DIGEST}"

    plan, phase = promote.plan_with_config(
        "prod", {"pot-of-gold:phase": "2", "pot-of-gold:appImage": image}, root
    )

    assert (plan.stack, phase) == ("prod", 2)
    service = plan.get("gcp:cloudrunv2/service:Service", "pog-prod-api-us-central1")
    assert service.inputs["template"]["containers"][0]["image"] == image
    assert plan.get("gcp:firestore/database:Database", "pog-prod-firestore-game-sessions").protect
    assert snapshot(root) == before


def test_with_digest_keeps_the_repository() -> None:
    old = f"{PROD_IMAGE_REPO}@sha256:" + "0" * 64
    assert promote.with_digest(old, NEW_DIGEST) == f"{PROD_IMAGE_REPO}@{NEW_DIGEST}"


def test_edit_keeps_quoting_comments_and_other_bytes(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    original = (
        "# top comment\n"
        "config:\n"
        '  pot-of-gold:phase: "1"   # quoted, with a comment\n'
        "  pot-of-gold:list:\n"
        "    - a   # item comment\n"
        "  pot-of-gold:appImage: 'r/i@sha256:00'\n"
        "  pot-of-gold:other: {a: 1}\n"
    )
    path.write_text(original)

    edit_stack_file(path, {"pot-of-gold:phase": "2", "pot-of-gold:appImage": "r/i@sha256:11"})

    assert path.read_text() == (
        original.replace('phase: "1"', 'phase: "2"').replace("'r/i@sha256:00'", "'r/i@sha256:11'")
    )


def test_edit_refuses_a_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config:\n  pot-of-gold:phase: 1\n")

    with pytest.raises(PlanInputError, match=r"Pulumi.x.yaml has no pot-of-gold:appImage to update"):
        edit_stack_file(path, {"pot-of-gold:appImage": "x"})
    assert path.read_text() == "config:\n  pot-of-gold:phase: 1\n"
