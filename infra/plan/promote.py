"""`pog promote --from dev --to prod`: move a stack to the phase and image digest of the stack before it.

A promotion changes two values of the target stack file: ``pot-of-gold:phase`` (one step at a time,
never past the source) and the digest of ``pot-of-gold:appImage``. Only the digest moves: each stack
pulls from the Artifact Registry repository of its own project, so the target keeps its repository
and the release owner copies the image there by digest (the digest is the same in every registry).

Before anything is written, the target is planned as it is and as it would be (the real program with
the promoted values, no temporary stack file), the two plans are diffed with the `pog diff` engine,
and `pog check` runs on the promoted target. A promotion is refused, with one line saying why, when
it skips a phase, moves the target ahead of the source or down, destroys or replaces data (unless
``--allow-data-loss``), or when the promoted target fails check. ``--write`` edits the target stack
file in place with ruamel.yaml's round-trip mode: every other byte stays as it was.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pulumi
import typer
from rich.markup import escape
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarint import ScalarInt
from ruamel.yaml.scalarstring import ScalarString

from infra.config import key
from infra.phases import PHASES
from infra.plan.diff import Diff, ResourceDiff, diff_inventories, render_markdown, text_lines
from infra.plan.engine import Plan, run_program
from infra.plan.inventory import to_inventory
from infra.plan.output import console, fail
from infra.plan.stackfile import REPO_ROOT, PlanInputError, load_stack
from infra.policy.check import CheckReport, check_inventory, context_for

PHASE_KEY = key("phase")
IMAGE_KEY = key("appImage")
RUNBOOK = "runbooks/procedures/phase-promotion.md"
FORMATS = ("text", "markdown")
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
    raw = config.get(PHASE_KEY, "")
    if not raw.isdigit() or int(raw) not in PHASES:
        raise PlanInputError(f"{PHASE_KEY} of {stack} must be 1, 2 or 3; got {raw or 'nothing'!r}")
    return int(raw)


def _digest_of(stack: str, image: str) -> str:
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
    if phase is not None and phase not in PHASES:
        raise PlanInputError(f"--phase must be 1, 2 or 3; got {phase}")
    source_config = load_stack(source, root=root).config
    target_config = load_stack(target, root=root).config
    source_phase, old_phase = _phase_of(source, source_config), _phase_of(target, target_config)
    new_phase = source_phase if phase is None else phase
    _refuse_phase_step(source, target, source_phase, old_phase, new_phase)

    old_image = target_config.get(IMAGE_KEY, "")
    _digest_of(target, old_image)  # the target must be pinned by digest too, or there is no digest to move
    new_image = with_digest(old_image, _digest_of(source, source_config.get(IMAGE_KEY, "")))
    promotion = Promotion(
        source=source,
        target=target,
        source_phase=source_phase,
        phase=ValueChange(PHASE_KEY, str(old_phase), str(new_phase)),
        image=ValueChange(IMAGE_KEY, old_image, new_image),
        root=root,
    )
    if not promotion.changes:
        return promotion

    before, _ = plan_with_config(target, {}, root)
    after, _ = plan_with_config(target, {c.key: c.new for c in promotion.changes}, root)
    promoted = to_inventory(after, new_phase)
    stack_file = promotion.stack_file.name
    promotion.diff = diff_inventories(
        to_inventory(before, old_phase),
        promoted,
        target,
        f"{target} promoted",
        a_detail=f"pot-of-gold/{target} phase {old_phase}, {stack_file}",
        b_detail=f"pot-of-gold/{target} phase {new_phase}, {stack_file} after promotion from {source}",
    )
    risks = promotion.diff.data_loss
    if risks and not allow_data_loss:
        promotion.refusal = (
            f"promoting {target} to phase {new_phase} would destroy or replace data: "
            f"{_data_loss_line(risks)}; follow {RUNBOOK}, then re-run with --allow-data-loss"
        )
        return promotion
    if risks:
        promotion.notes.append(f"--allow-data-loss: {_data_loss_line(risks)} accepted (procedure: {RUNBOOK})")
    promotion.check = run_check(target, new_phase, promoted, root)
    if not promotion.check.passed:
        promotion.refusal = (
            f"{target} at phase {new_phase} would fail check: {_failing_rules(promotion.check)}; "
            f"see `pog check {target} --phase {new_phase}`"
        )
    return promotion


# --- writing the target stack file -------------------------------------------------------------------


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long value (an image reference) onto a second line
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, data: Any) -> str:
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def _round_trip(text: str, name: str) -> tuple[YAML, Any]:
    """A loader/dumper that gives ``text`` back byte for byte, and the loaded document."""
    for mapping, sequence, offset in ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0)):
        yaml = _yaml(mapping, sequence, offset)
        try:
            data = yaml.load(text)
        except YAMLError as exc:
            raise PlanInputError(f"{name} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if _dump(yaml, data) == text:
            return yaml, data
    raise PlanInputError(
        f"cannot edit {name} without reformatting it (unusual indentation): "
        "apply the promotion by hand with `pulumi config set`"
    )


def _like(old: Any, new: str) -> Any:
    """``new`` in the style ``old`` was written in (an int stays an int, quotes stay quotes)."""
    if isinstance(old, ScalarString):
        return type(old)(new)
    if isinstance(old, ScalarInt):
        return type(old)(int(new))
    if isinstance(old, int) and not isinstance(old, bool) and new.isdigit():
        return int(new)
    return new


def edit_stack_file(path: Path, values: Mapping[str, str]) -> None:
    """Set ``values`` under ``config:`` in ``path``; every other line stays byte-identical."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanInputError(f"cannot read {name}: {exc.strerror}") from None
    yaml, data = _round_trip(text, name)
    config = data.get("config") if isinstance(data, CommentedMap) else None
    if not isinstance(config, CommentedMap):
        raise PlanInputError(f"{name} has no `config:` mapping to update")
    for config_key, value in values.items():
        if config_key not in config:
            raise PlanInputError(f"{name} has no {config_key} to update")
        config[config_key] = _like(config[config_key], value)
    updated = _dump(yaml, data)
    old_lines, new_lines = text.splitlines(keepends=True), updated.splitlines(keepends=True)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b]
    if len(old_lines) != len(new_lines) or len(changed) > len(values):
        raise PlanInputError(f"cannot edit {name} without reformatting it: apply the promotion by hand")
    # Write beside the file and rename over it: an interrupted write never leaves half a stack file.
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(updated)
        Path(scratch).chmod(path.stat().st_mode & 0o777)
        Path(scratch).replace(path)
    except OSError as exc:
        Path(scratch).unlink(missing_ok=True)
        raise PlanInputError(f"cannot write {name}: {exc.strerror}") from None


def write(promotion: Promotion) -> None:
    edit_stack_file(promotion.stack_file, {c.key: c.new for c in promotion.changes})
    written = load_stack(promotion.target, root=promotion.root).config
    if any(written.get(c.key) != c.new for c in promotion.changes):
        raise PlanInputError(f"{promotion.stack_file.name} does not read back as written: check it by hand")


# --- reporting ---------------------------------------------------------------------------------------


def _dry_run_line(promotion: Promotion) -> str:
    return f"(dry run: pass --write to update {promotion.stack_file.name})"


def _check_line(promotion: Promotion) -> str:
    report = promotion.check
    assert report is not None
    return (
        f"{promotion.target} at phase {promotion.new_phase} passes check "
        f"({report.rules_run} rules on {report.resources} resources)"
    )


def text_report(promotion: Promotion) -> list[str]:
    """The promotion as rich markup lines: the two values, then the diff of the target."""
    p = promotion
    lines = [f"[bold]pog promote[/] {escape(p.source)} → {escape(p.target)}"]
    step = f"{p.phase.old} -> {p.phase.new}" if p.phase.changed else f"{p.phase.old} (unchanged)"
    lines.append(f"  {PHASE_KEY}: {step}")
    if p.image.changed:
        lines += [
            f"  {IMAGE_KEY}:",
            f"    [red]- {escape(p.image.old)}[/]",
            f"    [green]+ {escape(p.image.new)}[/]",
        ]
    else:
        lines.append(f"  {IMAGE_KEY}: digest {escape(_digest_of(p.target, p.image.old))} (unchanged)")
    if p.diff is not None:
        lines += ["", *text_lines(p.diff)]
    lines += [f"[yellow]{escape(note)}[/]" for note in p.notes]
    if p.check is not None and p.check.passed:
        lines += ["", f"[bold green]check:[/] {escape(_check_line(p))}"]
    return lines


def markdown_report(promotion: Promotion) -> str:
    p = promotion
    out = [
        f"### `pog promote`: `{p.source}` → `{p.target}`",
        "",
        f"| Setting | {p.target} now | after promotion |",
        "|---|---|---|",
        f"| `{PHASE_KEY}` | {p.phase.old} | {p.phase.new if p.phase.changed else 'unchanged'} |",
        f"| `{IMAGE_KEY}` | `{p.image.old}` | {f'`{p.image.new}`' if p.image.changed else 'unchanged'} |",
        "",
    ]
    if p.diff is not None:
        out.append(render_markdown(p.diff).rstrip("\n"))
        out.append("")
    out += [f"> {note}" for note in p.notes]
    if p.check is not None and p.check.passed:
        out += [f"**check:** {_check_line(p)}", ""]
    return "\n".join(out) + "\n"


# --- the command -------------------------------------------------------------------------------------


def _one_line(exc: Exception) -> str:
    problems = getattr(exc, "problems", None)
    if isinstance(problems, list) and problems:
        return f"stack configuration has {len(problems)} problem(s): " + "; ".join(map(str, problems))
    return " ".join(str(exc).split())


def promote(
    source: Annotated[str, typer.Option("--from", metavar="STACK", help="Stack to promote from (dev)")],
    target: Annotated[str, typer.Option("--to", metavar="STACK", help="Stack to promote (prod)")],
    phase: Annotated[
        int | None,
        typer.Option(help="Promote the target to this phase (one step, at most the source's phase)"),
    ] = None,
    write_file: Annotated[
        bool, typer.Option("--write", help="Update the target stack file (only phase and appImage)")
    ] = False,
    allow_data_loss: Annotated[
        bool,
        typer.Option(
            "--allow-data-loss", help=f"Accept destroying or replacing data-holding resources ({RUNBOOK})"
        ),
    ] = False,
    output_format: Annotated[
        str, typer.Option("--format", metavar="text|markdown", help="Report format")
    ] = "text",
    root: Annotated[
        Path,
        typer.Option(
            "--root",
            metavar="DIR",
            help="Project directory: Pulumi.yaml, the stack files, runbooks/ (default: this repository)",
            hidden=True,
        ),
    ] = REPO_ROOT,
) -> None:
    """Move the target stack to the source's phase (one step at a time) and image digest.

    Shows what changes and the offline diff of the target, and runs check on the promoted target.
    Exit code 0: the promotion is possible (and written with --write); 1: refused or error.
    """

    if output_format not in FORMATS:
        raise fail(f"--format must be text or markdown; got {output_format!r}")
    try:
        promotion = prepare(source, target, phase, allow_data_loss=allow_data_loss, root=root)
    except (PlanInputError, pulumi.RunError, OSError) as exc:
        raise fail(_one_line(exc)) from None

    if not promotion.changes:
        digest = _digest_of(target, promotion.image.old)
        console.print(
            f"Nothing to promote: {escape(target)} is already at {escape(source)}'s phase "
            f"{promotion.phase.old} and image digest {digest}.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(0)

    if output_format == "markdown":
        typer.echo(markdown_report(promotion), nl=False)
    else:
        for line in text_report(promotion):
            console.print(line, highlight=False, soft_wrap=True)
    if promotion.refusal is not None:
        raise fail(promotion.refusal)
    if not write_file:
        if output_format == "markdown":
            typer.echo(f"\n_{_dry_run_line(promotion)}_")
        else:
            console.print(f"\n{escape(_dry_run_line(promotion))}", highlight=False, soft_wrap=True)
        raise typer.Exit(0)
    try:
        write(promotion)
    except PlanInputError as exc:
        raise fail(str(exc)) from None
    what = [f"{PHASE_KEY} {promotion.phase.old} -> {promotion.phase.new}"] if promotion.phase.changed else []
    if promotion.image.changed:
        what.append(f"{IMAGE_KEY} digest {_digest_of(target, promotion.image.new)}")
    name = promotion.stack_file.name
    if output_format == "markdown":
        typer.echo(f"\n**{name} updated:** {'; '.join(what)}")
    else:
        console.print(
            f"[bold green]{escape(name)} updated:[/] {escape('; '.join(what))}",
            highlight=False,
            soft_wrap=True,
        )
