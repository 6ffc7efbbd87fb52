"""The GitHub Actions workflows call only what exists and keep their promises.

Every `pog` call names a command registered in the typer app with options that command has, every
`make` target and script exists, CI runs the README's test command, the offline report is one pull
request comment edited in place, prod deploys only through the `prod` environment, and every job holds
exactly the write permissions it uses.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from infra.plan.cli import app
from infra.plan.stackfile import available_stacks

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_DIR = ROOT / ".github" / "workflows"
MARKER = "<!-- pog-offline-plan -->"
POG = ".venv/bin/pog"  # no virtualenv is activated in a workflow: pog runs from .venv/bin
AUTH = "google-github-actions/auth@"
STACKS = set(available_stacks())

# Shell words after which the next word is a command name.
_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "time", "exec"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*", re.S)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    return data


def _workflow_paths() -> list[Path]:
    return sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])


WORKFLOWS: dict[str, dict[str, Any]] = {path.name: _load(path) for path in _workflow_paths()}


def _triggers(workflow: dict[str, Any]) -> Any:
    # YAML 1.1 reads a bare `on` key as the boolean True.
    return workflow["on"] if "on" in workflow else workflow.get(True)


def _trigger_names(workflow: dict[str, Any]) -> set[str]:
    triggers = _triggers(workflow)
    if isinstance(triggers, str):
        return {triggers}
    return set(triggers or ())


@dataclass(frozen=True)
class Step:
    workflow: str
    job_id: str
    index: int
    data: dict[str, Any]

    @property
    def job(self) -> dict[str, Any]:
        return WORKFLOWS[self.workflow]["jobs"][self.job_id]  # type: ignore[no-any-return]

    @property
    def run(self) -> str:
        return str(self.data.get("run", ""))

    @property
    def uses(self) -> str:
        return str(self.data.get("uses", ""))

    @property
    def with_(self) -> dict[str, Any]:
        return self.data.get("with") or {}

    def env(self, name: str) -> str | None:
        """The value of ``name`` as this step sees it: step, then job, then workflow env."""
        for scope in (self.data, self.job, WORKFLOWS[self.workflow]):
            env = scope.get("env") or {}
            if name in env:
                return str(env[name])
        return None

    def __str__(self) -> str:
        return (
            f"{self.workflow} job {self.job_id} step {self.index + 1} ({self.data.get('name') or self.uses})"
        )


def _steps(workflow: str | None = None) -> Iterator[Step]:
    for name, data in WORKFLOWS.items():
        if workflow is not None and name != workflow:
            continue
        for job_id, job in (data.get("jobs") or {}).items():
            for index, step in enumerate(job.get("steps") or ()):
                yield Step(name, job_id, index, step)


# --- shell -----------------------------------------------------------------------------------------------


def logical_lines(script: str) -> list[str]:
    return script.replace("\\\n", " ").splitlines()


def commands(line: str) -> list[list[str]]:
    """The simple commands of one shell line, as words (quotes removed), without redirections.

    Good enough for the scripts in these workflows: operators (; && || | & ( )) end a command, a
    redirection drops its target, keywords and leading VAR=value assignments are skipped.
    """
    line = re.sub(r"(?<=\s)\d+(?=[<>])", "", line)  # the fd of 2>&1, 2> file
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found: list[list[str]] = []
    current: list[str] | None = None
    skip_target = False
    for word in lexer:
        if word and set(word) <= set("();<>|&"):
            if "<" in word or ">" in word:
                skip_target = True
                continue
            current = None
            continue
        if skip_target:
            skip_target = False
            continue
        if current is None:
            if word in _KEYWORDS or _ASSIGNMENT.fullmatch(word):
                continue
            current = [word]
            found.append(current)
        else:
            current.append(word)
    return found


def script_commands(script: str) -> list[tuple[str, list[str]]]:
    """Every simple command of a script with its line; a line the lexer cannot read fails the test."""
    out = []
    for line in logical_lines(script):
        try:
            out += [(line, command) for command in commands(line)]
        except ValueError as exc:
            pytest.fail(f"cannot read this shell line ({exc}); keep workflow scripts simple: {line!r}")
    return out


def _run_commands(workflow: str | None = None) -> Iterator[tuple[Step, str, list[str]]]:
    for step in _steps(workflow):
        for line, command in script_commands(step.run):
            yield step, line, command


def _is_pog(command: list[str]) -> bool:
    return command[0] == "pog" or command[0].endswith("/pog")


# --- pog ------------------------------------------------------------------------------------------------


def registered_commands() -> dict[str, Any]:
    """The commands the typer app registers now (pog check and promote land separately)."""
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def pog_problems(command: list[str], registered: dict[str, Any]) -> list[str]:
    """What is wrong with one `pog ...` call: its path, its subcommand, its options and arguments."""
    shown = " ".join(command)
    if command[0] != POG:
        return [f"{shown!r}: call pog as {POG} (no virtualenv is activated in a workflow)"]
    if len(command) < 2 or command[1].startswith("-"):
        return [f"{shown!r}: no subcommand"]
    name, rest, commands = command[1], command[2:], registered
    while True:  # a sub-app (pog backup ...) names its own subcommand next
        if name not in commands:
            return [f"{shown!r}: `pog {name}` is not registered (registered: {', '.join(sorted(commands))})"]
        found = commands[name]
        if not hasattr(found, "commands"):  # a group (typer.core.TyperGroup) lists its subcommands
            break
        if not rest or rest[0].startswith("-"):
            return [f"{shown!r}: no subcommand after pog {name}"]
        commands = {f"{name} {sub}": cmd for sub, cmd in found.commands.items()}
        name, rest = f"{name} {rest[0]}", rest[1:]
    params = found.params
    options = {
        opt: p for p in params if p.param_type_name == "option" for opt in (*p.opts, *p.secondary_opts)
    }
    arguments = [p for p in params if p.param_type_name == "argument"]
    problems, given, positional = [], set(), 0
    words = iter(rest)
    for word in words:
        if not word.startswith("-") or word == "-":
            positional += 1
            continue
        option, has_value, _ = word.partition("=")
        param = options.get(option)
        if param is None:
            problems.append(
                f"{shown!r}: pog {name} has no option {option} (it has {', '.join(sorted(options))})"
            )
            continue
        given.add(param.name)
        if not param.is_flag and not has_value and next(words, None) is None:
            problems.append(f"{shown!r}: {option} needs a value")
    for param in params:
        if param.param_type_name == "option" and param.required and param.name not in given:
            problems.append(f"{shown!r}: pog {name} requires {param.opts[0]}")
    required = sum(1 for p in arguments if p.required)
    unlimited = any(p.nargs == -1 for p in arguments)
    if positional < required or (not unlimited and positional > len(arguments)):
        problems.append(
            f"{shown!r}: pog {name} takes {required}-{len(arguments)} arguments, got {positional}"
        )
    return problems


def test_every_pog_call_uses_a_registered_command_and_its_options() -> None:
    registered = registered_commands()
    calls = [(step, command) for step, _, command in _run_commands() if _is_pog(command)]
    assert calls, "no workflow calls pog"
    problems = [f"{step}: {p}" for step, command in calls for p in pog_problems(command, registered)]
    # Accepting data loss is a person's decision (see promote.yml), never a workflow's.
    problems += [f"{step}: no --allow-data-loss in CI" for step, c in calls if "--allow-data-loss" in c]
    assert not problems, "\n".join(problems)


def test_the_pog_call_checker_catches_mistakes() -> None:
    registered = registered_commands()
    ok = [POG, "plan", "dev", "--quiet", "--json", "dev.json"]
    assert pog_problems(ok, registered) == []
    assert pog_problems([POG, "diff", "dev", "--base", "origin/main", "--format=markdown"], registered) == []
    assert "is not registered" in pog_problems([POG, "deploy", "dev"], registered)[0]
    assert "has no option --verbose" in pog_problems([POG, "plan", "dev", "--verbose"], registered)[0]
    assert "needs a value" in pog_problems([POG, "plan", "dev", "--json"], registered)[0]
    assert "arguments, got 0" in pog_problems([POG, "plan"], registered)[0]
    assert "arguments, got 2" in pog_problems([POG, "plan", "dev", "prod"], registered)[0]
    assert "call pog as" in pog_problems(["pog", "plan", "dev"], registered)[0]
    assert pog_problems([POG, "backup", "snapshot", "--stack", "prod"], registered) == []
    assert "no subcommand after pog backup" in pog_problems([POG, "backup", "--stack", "prod"], registered)[0]
    assert "`pog backup nope` is not registered" in pog_problems([POG, "backup", "nope"], registered)[0]
    assert "has no option --bogus" in pog_problems([POG, "backup", "snapshot", "--bogus"], registered)[0]
    assert "requires --stack" in pog_problems([POG, "backup", "snapshot"], registered)[0]


def test_the_shell_reader_finds_commands_where_the_shell_does() -> None:
    line = 'x=0; .venv/bin/pog diff "$s" --base "$b" --output "$o" 2> "$e" || rc=$?; echo "pog plan dev"'
    assert commands(line) == [
        [".venv/bin/pog", "diff", "$s", "--base", "$b", "--output", "$o"],
        ["echo", "pog plan dev"],
    ]
    assert commands('if [ -n "$P" ]; then make plan STACK=prod; fi') == [
        ["[", "-n", "$P", "]"],
        ["make", "plan", "STACK=prod"],
        ["fi"],
    ]
    assert commands("ids=$(gh api x --jq '.[] | .id')") == [["gh", "api", "x", "--jq", ".[] | .id"]]


# --- structure, make targets, scripts ------------------------------------------------------------------


def test_the_workflows_exist() -> None:
    assert {"ci.yml", "preview.yml", "deploy.yml", "promote.yml", "snapshot.yml"} <= set(WORKFLOWS)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_workflow_has_triggers_and_jobs_with_a_runner_and_steps(name: str) -> None:
    workflow = WORKFLOWS[name]
    assert workflow.get("name"), f"{name} has no name"
    assert _trigger_names(workflow), f"{name} has no `on:` triggers"
    jobs = workflow.get("jobs")
    assert isinstance(jobs, dict), f"{name} has no jobs"
    assert jobs, f"{name} has no jobs"
    for job_id, job in jobs.items():
        assert job.get("runs-on"), f"{name} job {job_id} has no runs-on"
        steps = job.get("steps")
        assert isinstance(steps, list), f"{name} job {job_id} has no steps"
        assert steps, f"{name} job {job_id} has no steps"
        for step in steps:
            assert ("run" in step) != ("uses" in step), (
                f"{name} job {job_id}: a step needs run or uses: {step}"
            )


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*:(?!=)", text, re.M))


def _referenced_scripts(command: list[str]) -> list[str]:
    """Repository files a command runs: `scripts/x`, `bash .ci/run`, `python bench/y.py`."""
    candidates = [command[0]]
    if Path(command[0]).name in ("bash", "sh", "python", "python3") and len(command) > 1:
        candidates.append(command[1])
    return [
        c
        for c in candidates
        if "/" in c and not c.startswith(("/", "$", "~", ".venv/")) and not c.startswith("-")
    ]


def test_every_make_target_and_script_a_workflow_uses_exists() -> None:
    targets = make_targets()
    assert {"setup", "test", "plan", "bench"} <= targets
    problems = []
    seen_scripts: set[str] = set()

    def check(where: str, command: list[str]) -> None:
        if command[0] == "make":
            for word in command[1:]:
                if not word.startswith("-") and "=" not in word and word not in targets:
                    problems.append(f"{where}: make target {word!r} is not in the Makefile")
        for script in _referenced_scripts(command):
            path = ROOT / script
            if not path.is_file():
                problems.append(f"{where}: {script} does not exist")
            elif script not in seen_scripts and path.read_text(errors="replace").startswith("#!"):
                seen_scripts.add(script)  # a shell script the workflow runs: its own make calls count too
                for _, inner in script_commands(path.read_text()):
                    check(f"{where} -> {script}", inner)

    for step, _, command in _run_commands():
        check(str(step), command)
    assert not problems, "\n".join(problems)


def test_actions_are_pinned_by_major_version() -> None:
    for step in _steps():
        if step.uses:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step.uses), f"{step}: pin {step.uses!r} to @vN"


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_no_url_no_index_and_no_key_in_workflows(name: str) -> None:
    text = (WORKFLOW_DIR / name).read_text()
    assert not re.search(r"\w+://", text), f"{name} names a URL; use the tools' defaults"
    assert not re.search(r"index-url|find-links|INDEX_URL", text, re.I), f"{name} names a package index"
    assert "credentials_json" not in text, f"{name}: authenticate to GCP by workload identity federation"


# --- permissions -----------------------------------------------------------------------------------------


def _writes(permissions: Any) -> set[str]:
    assert isinstance(permissions, dict), f"permissions must list scopes, not {permissions!r}"
    return {scope for scope, level in permissions.items() if level == "write"}


def _needed_writes(job: dict[str, Any]) -> set[str]:
    needed = set()
    for step in job.get("steps") or ():
        uses, run, with_ = str(step.get("uses", "")), str(step.get("run", "")), step.get("with") or {}
        if uses.startswith(AUTH):
            needed.add("id-token")
        if uses.startswith("pulumi/actions@") and str(with_.get("comment-on-pr")).lower() == "true":
            needed.add("pull-requests")
        if uses.startswith("peter-evans/create-pull-request@"):
            needed |= {"contents", "pull-requests"}
        if re.search(r"gh api\b.*issues/", run, re.S) or "gh pr " in run:
            needed.add("pull-requests")
        if "git push" in run:
            needed.add("contents")
    return needed


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_workflows_request_least_permissions(name: str) -> None:
    workflow = WORKFLOWS[name]
    assert "permissions" in workflow, f"{name}: set `permissions:` (the default token may write everything)"
    assert not _writes(workflow["permissions"]), f"{name}: grant write scopes per job, not to the workflow"
    for job_id, job in workflow["jobs"].items():
        granted = _writes(job.get("permissions", workflow["permissions"]))
        assert granted == _needed_writes(job), (
            f"{name} job {job_id}: writes {granted}, uses {_needed_writes(job)}"
        )


# --- ci.yml -------------------------------------------------------------------------------------------------


def test_ci_runs_the_readme_test_command() -> None:
    assert _trigger_names(WORKFLOWS["ci.yml"]) >= {"pull_request", "push"}
    assert any(step.run.strip() == "bash .ci/run" for step in _steps("ci.yml"))


def _pog_lines(workflow: str, subcommand: str) -> list[tuple[Step, str, list[str]]]:
    return [
        (step, line, command)
        for step, line, command in _run_commands(workflow)
        if _is_pog(command) and command[1:2] == [subcommand]
    ]


def test_ci_plans_diffs_and_checks_every_stack_without_credentials() -> None:
    plans, diffs, checks = (_pog_lines("ci.yml", c) for c in ("plan", "diff", "check"))
    assert plans, "ci.yml runs no pog plan"
    assert diffs, "ci.yml runs no pog diff"
    assert checks, "ci.yml runs no pog check"
    for step, _, _ in plans + diffs + checks:
        loop = re.search(r"for stack in ([\w ]+); do", step.run)
        assert loop is not None, f"{step}: loop over every stack"
        assert set(loop.group(1).split()) == STACKS, f"{step}: loop over every stack"
    assert all("--quiet" in c and "--json" in c for _, _, c in plans)
    assert all({"--base", "--format", "--output"} <= set(c) for _, _, c in diffs)
    assert all(c[c.index("--format") + 1] == "markdown" for _, _, c in diffs + checks)
    text = (WORKFLOW_DIR / "ci.yml").read_text()
    assert "secrets." not in text
    assert "id-token" not in text


def test_ci_treats_diff_exit_code_2_as_changes_not_failure() -> None:
    for step, line, _ in _pog_lines("ci.yml", "diff"):
        assert "||" in line, f"{step}: a bare pog diff fails the step when there are changes (exit 2)"
        assert re.search(r"-eq 2|== ?2|^\s*2\)", step.run, re.M), f"{step}: handle exit code 2 as changes"
    for step, line, _ in _pog_lines("ci.yml", "check"):
        assert "||" in line, f"{step}: record a failed check, fail the job after the comment is posted"


def test_ci_fetches_the_history_the_diff_base_needs() -> None:
    for step, _, _ in _pog_lines("ci.yml", "diff"):
        checkouts = [s for s in step.job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
        assert checkouts
        assert all(str((s.get("with") or {}).get("fetch-depth")) == "0" for s in checkouts)


def _marker_used(step: Step) -> bool:
    if MARKER in step.run:
        return True
    names = re.findall(r"\$\{?(?:ENV\.)?([A-Za-z_][A-Za-z0-9_]*)", step.run)
    return any(step.env(n) == MARKER for n in names)


def test_ci_posts_one_pull_request_comment_and_updates_it() -> None:
    posting = [s for s in _steps("ci.yml") if re.search(r"gh api\b.*issues/", s.run, re.S)]
    assert len(posting) == 1, "exactly one step posts the report"
    step = posting[0]
    assert _marker_used(step), f"{step}: find the previous comment by the hidden marker {MARKER}"
    assert re.search(r"--method PATCH\s+\S*issues/comments/", step.run), f"{step}: edit the existing comment"
    assert re.search(r"--method POST\s+\S*issues/\$\{?PR\}?/comments", step.run), f"{step}: or create one"
    assert step.run.index("PATCH") < step.run.index("POST")
    assert "else" in step.run
    condition = str(step.data.get("if", ""))
    assert "always()" in condition
    assert "pull_request" in condition
    assert "head.repo.full_name == github.repository" in condition, f"{step}: fork tokens cannot comment"
    # The report the comment carries starts with the marker, written by the step that runs pog.
    builders = [s for s, _, _ in _pog_lines("ci.yml", "plan")]
    assert builders
    assert all(_marker_used(s) for s in builders)
    # A failed plan, diff or check fails the job only after the comment is posted.
    job_steps = step.job["steps"]
    failing = [
        i for i, s in enumerate(job_steps) if re.search(r"^\s*exit 1\s*$", str(s.get("run", "")), re.M)
    ]
    assert failing
    assert min(failing) > step.index


# --- preview.yml, deploy.yml, promote.yml ---------------------------------------------------------------


def _pulumi_steps(command: str) -> list[Step]:
    return [s for s in _steps() if s.uses.startswith("pulumi/actions@") and s.with_.get("command") == command]


def test_preview_runs_where_credentials_exist_with_the_policy_pack() -> None:
    steps = _pulumi_steps("preview")
    assert steps
    assert all(s.workflow == "preview.yml" for s in steps)
    for step in steps:
        assert step.uses == "pulumi/actions@v6"
        assert str(step.with_.get("comment-on-pr")).lower() == "true"
        packs = str(step.with_.get("policyPacks", "")).split()
        assert packs == ["infra/policy"]
        assert (ROOT / packs[0]).is_dir()
        assert set(step.job["strategy"]["matrix"]["stack"]) == STACKS
        assert "head.repo.full_name == github.repository" in str(step.job.get("if", ""))
        auth = [s for s in step.job["steps"] if str(s.get("uses", "")).startswith(AUTH)]
        assert auth
        assert all("workload_identity_provider" in (s.get("with") or {}) for s in auth)


def _environment(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    return environment.get("name") if isinstance(environment, dict) else environment


def test_deploy_checks_first_and_prod_needs_the_prod_environment() -> None:
    ups = _pulumi_steps("up")
    assert {str(s.with_.get("stack-name")) for s in ups} == STACKS
    for step in ups:
        stack = str(step.with_["stack-name"])
        assert step.workflow == "deploy.yml"
        checks = [
            i
            for i, s in enumerate(step.job["steps"])
            for _, command in script_commands(str(s.get("run", "")))
            if _is_pog(command) and command[1:3] == ["check", stack]
        ]
        assert checks, f"{step}: run pog check {stack} before pulumi up"
        assert min(checks) < step.index, f"{step}: run pog check {stack} before pulumi up"
        if stack == "prod":
            assert _environment(step.job) == "prod", f"{step}: prod deploys through the `prod` environment"
            condition = str(step.job.get("if", ""))
            assert "workflow_dispatch" in condition
            assert "refs/heads/main" in condition
        else:
            assert _environment(step.job) != "prod"
    deploy = WORKFLOWS["deploy.yml"]
    assert _trigger_names(deploy) == {"push", "workflow_dispatch"}
    assert _triggers(deploy)["push"]["branches"] == ["main"]


def test_promote_writes_the_stack_file_and_opens_a_pull_request() -> None:
    promote = WORKFLOWS["promote.yml"]
    assert _trigger_names(promote) == {"workflow_dispatch"}
    inputs = _triggers(promote)["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"from", "to", "phase"}
    assert not inputs["phase"].get("required")
    calls = _pog_lines("promote.yml", "promote")
    assert calls
    assert all({"--from", "--to", "--write"} <= set(c) for _, _, c in calls)
    assert any("--phase" in c for _, _, c in calls)
    opens = [s for s in _steps("promote.yml") if s.uses.startswith("peter-evans/create-pull-request@")]
    assert len(opens) == 1
    assert "Pulumi." in str(opens[0].with_.get("add-paths"))
    assert opens[0].index > max(s.index for s, _, _ in calls)


# --- snapshot.yml -------------------------------------------------------------------------------------------


def test_snapshot_runs_monthly_and_on_demand_for_every_stack_with_federated_credentials() -> None:
    snapshot = WORKFLOWS["snapshot.yml"]
    assert _trigger_names(snapshot) == {"schedule", "workflow_dispatch"}
    (schedule,) = _triggers(snapshot)["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (month, weekday) == ("*", "*"), "once a month"
    assert day.isdigit(), "a fixed day of the month"
    assert 1 <= int(day) <= 28, "a day that every month has"
    assert minute.isdigit()
    assert hour.isdigit()
    assert set(_triggers(snapshot)["workflow_dispatch"]["inputs"]["stack"]["options"]) == STACKS
    calls = _pog_lines("snapshot.yml", "backup")
    assert calls, "snapshot.yml runs no pog backup"
    for step, _, command in calls:
        assert command[2] == "snapshot"
        assert step.env("STACK") == "${{ matrix.stack }}"
        assert step.env("PULUMI_ACCESS_TOKEN") == "${{ secrets.PULUMI_ACCESS_TOKEN }}"
        matrix = str(step.job["strategy"]["matrix"]["stack"])
        assert all(f'"{stack}"' in matrix for stack in STACKS), "the schedule snapshots every stack"
        assert _environment(step.job) == "${{ matrix.stack }}"
        before = step.job["steps"][: step.index]
        auth = [s for s in before if str(s.get("uses", "")).startswith(AUTH)]
        assert auth, f"{step}: authenticate to GCP before the snapshot"
        assert all("workload_identity_provider" in (s.get("with") or {}) for s in auth)
        installs = [s for s in before if str(s.get("uses", "")).startswith("pulumi/actions@")]
        assert installs, f"{step}: the snapshot runs `pulumi stack export`: install the CLI first"
        assert all("command" not in (s.get("with") or {}) for s in installs), "install only, change nothing"
