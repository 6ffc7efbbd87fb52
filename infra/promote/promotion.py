"""What a promotion changes, planned, diffed and checked, and when it is refused."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infra.config import key
from infra.cost.diff import money_appendix
from infra.phases import PhaseError, parse_phase
from infra.plan.diff import Diff, ResourceDiff, diff_inventories
from infra.plan.engine import Plan, run_program
from infra.plan.inventory import to_inventory
from infra.plan.stackfile import REPO_ROOT, PlanInputError, load_stack
from infra.policy.check import CheckReport, check_inventory, context_for

PHASE_KEY = key("phase")
IMAGE_KEY = key("appImage")
RUNBOOK = "runbooks/procedures/phase-promotion.md"
_DIGEST = re.compile(r"@(?P<digest>sha256:[0-9a-f]{64})$")


class PromotionRefusedError(PlanInputError):
    """A promotion that must not happen as asked: one line with the reason and what to do instead."""


@dataclass(frozen=True)
class ValueChange:
    """One value of the target stack file, before and after the promotion."""

    key: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass
class Promotion:
    source: str
    target: str
    source_phase: int
    phase: ValueChange
    image: ValueChange
    root: Path
    diff: Diff | None = None
    check: CheckReport | None = None
    refusal: str | None = None  # set when the plans ran but the promotion is refused
    notes: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[ValueChange]:
        return [c for c in (self.phase, self.image) if c.changed]

    @property
    def new_phase(self) -> int:
        return int(self.phase.new)

    @property
    def stack_file(self) -> Path:
        return self.root / f"Pulumi.{self.target}.yaml"


# --- reading the stacks ------------------------------------------------------------------------------


def _phase_of(stack: str, config: Mapping[str, str]) -> int:
    try:
        return parse_phase(config.get(PHASE_KEY))
    except PhaseError as exc:
        raise PlanInputError(f"{PHASE_KEY} of {stack} {exc}") from None


def digest_of(stack: str, image: str) -> str:
    match = _DIGEST.search(image)
    if match is None:
        raise PlanInputError(
            f"{IMAGE_KEY} of {stack} must be pinned by digest (…@sha256:<64 hex>); got {image or 'nothing'!r}"
        )
    return match["digest"]


def with_digest(image: str, digest: str) -> str:
    """``image`` (same registry, repository and name) at another digest."""
    return _DIGEST.sub(f"@{digest}", image)


def plan_with_config(stack: str, overrides: Mapping[str, str], root: Path = REPO_ROOT) -> tuple[Plan, int]:
    """Plan ``stack`` from its stack file with some config values replaced (full keys, string values).

    The real program runs with the stack file's config as ``pulumi`` would hand it over, overridden
    in memory: nothing is written, so the plan of a promotion can never leave a stray stack file.
    """
    stack_input = load_stack(stack, root=root)
    config = {**stack_input.config, **overrides}
    plan = run_program(stack, config, stack_input.secret_keys)
    return plan, _phase_of(stack, config)


# --- deciding ----------------------------------------------------------------------------------------


def _refuse_phase_step(source: str, target: str, source_phase: int, old: int, new: int) -> None:
    if new < old:
        raise PromotionRefusedError(
            f"{target} is at phase {old} and this would take it to phase {new}: that is a demotion, not a "
            f"promotion; to scale {target} down deliberately, review `pog diff {target} {target}@{new}`, "
            f"follow {RUNBOOK} and set {PHASE_KEY} to {new} in Pulumi.{target}.yaml by hand"
        )
    if new > source_phase:
        raise PromotionRefusedError(
            f"phase {new} would put {target} ahead of {source} (phase {source_phase}): "
            f"promote {source} to phase {new} first"
        )
    if new > old + 1:
        raise PromotionRefusedError(
            f"{target} is at phase {old}: going to phase {new} skips phase {old + 1}; "
            f"promote one phase at a time (--phase {old + 1})"
        )


def _data_loss_line(risks: list[ResourceDiff]) -> str:
    return ", ".join(f"{r.action.value} {r.type} {r.name}" for r in risks)


def run_check(target: str, phase: int, inventory: Mapping[str, Any], root: Path = REPO_ROOT) -> CheckReport:
    """`pog check` on the promoted target: its planned inventory, in the context of its stack files."""
    return check_inventory(inventory, context_for(target, phase, root))


def _failing_rules(report: CheckReport) -> str:
    severity = {v.rule_id: v.severity for v in report.violations}
    return ", ".join(f"{rule} ({severity[rule].value})" for rule in sorted(severity))


def prepare(
    source: str,
    target: str,
    phase: int | None = None,
    *,
    allow_data_loss: bool = False,
    root: Path = REPO_ROOT,
) -> Promotion:
    """Everything a promotion would change, planned, diffed and checked; raises when it is refused early.

    Refusals found before any plan runs (the phase step, unknown or identical stacks) raise
    ``PromotionRefusedError``. A promotion refused after planning (data loss, failed check) is returned
    with ``refusal`` set, so the caller can still show its diff.
    """
    if source == target:
        raise PromotionRefusedError(
            f"--from and --to are the same stack ({source}): a promotion moves one stack to another's "
            "phase and image, e.g. --from dev --to prod"
        )
    try:
        phase = None if phase is None else parse_phase(phase)
    except PhaseError as exc:
        raise PlanInputError(f"--phase {exc}") from None
    source_config = load_stack(source, root=root).config
    target_config = load_stack(target, root=root).config
    source_phase, old_phase = _phase_of(source, source_config), _phase_of(target, target_config)
    new_phase = source_phase if phase is None else phase
    _refuse_phase_step(source, target, source_phase, old_phase, new_phase)

    old_image = target_config.get(IMAGE_KEY, "")
    digest_of(target, old_image)  # the target must be pinned by digest too, or there is no digest to move
    new_image = with_digest(old_image, digest_of(source, source_config.get(IMAGE_KEY, "")))
    promotion = Promotion(
        source=source,
        target=target,
        source_phase=source_phase,
        phase=ValueChange(PHASE_KEY, str(old_phase), str(new_phase)),
        image=ValueChange(IMAGE_KEY, old_image, new_image),
        root=root,
    )
    if promotion.changes:
        _plan_diff_and_check(promotion, allow_data_loss)
    return promotion


def _plan_diff_and_check(promotion: Promotion, allow_data_loss: bool) -> None:
    """Plan the target before and after, diff the two, and check the promoted one (or set ``refusal``)."""
    source, target, root = promotion.source, promotion.target, promotion.root
    old_phase, new_phase = int(promotion.phase.old), promotion.new_phase
    before, _ = plan_with_config(target, {}, root)
    after, _ = plan_with_config(target, {c.key: c.new for c in promotion.changes}, root)
    current, promoted = to_inventory(before, old_phase), to_inventory(after, new_phase)
    stack_file = promotion.stack_file.name
    promotion.diff = diff_inventories(
        current,
        promoted,
        target,
        f"{target} promoted",
        a_detail=f"pot-of-gold/{target} phase {old_phase}, {stack_file}",
        b_detail=f"pot-of-gold/{target} phase {new_phase}, {stack_file} after promotion from {source}",
    )
    # The release owner sees the bill change (issue 19): both sides at the top of the new phase's range.
    promotion.diff = replace(promotion.diff, appendices=(money_appendix(current, promoted),))
    risks = promotion.diff.data_loss
    if risks and not allow_data_loss:
        promotion.refusal = (
            f"promoting {target} to phase {new_phase} would destroy or replace data: "
            f"{_data_loss_line(risks)}; follow {RUNBOOK}, then re-run with --allow-data-loss"
        )
        return
    if risks:
        promotion.notes.append(f"--allow-data-loss: {_data_loss_line(risks)} accepted (procedure: {RUNBOOK})")
    promotion.check = run_check(target, new_phase, promoted, root)
    if not promotion.check.passed:
        promotion.refusal = (
            f"{target} at phase {new_phase} would fail check: {_failing_rules(promotion.check)}; "
            f"see `pog check {target} --phase {new_phase}`"
        )
