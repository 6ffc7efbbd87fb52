"""Every `pog ...` command the runbooks name exists: its subcommand path answers `--help` with exit 0,
and every long option the runbooks pass to it is one of its options.

The path is read against the real command tree (`pog backup verify --copy x` -> `backup verify`;
`pog check dev` -> `check`, whose `dev` is an argument). A word that is no subcommand of a group stays
in the path, so the `--help` run fails and names it.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from pog.cli import app
from tests.runbooks.commands import Command, all_commands

pytestmark = pytest.mark.unit


def command_path(root: Any, words: list[str]) -> tuple[str, ...]:
    """Typer ships its own click, so a group is told apart by its `commands` (name -> command)."""
    path: list[str] = []
    node = root
    for word in words:
        if not isinstance(getattr(node, "commands", None), dict):
            break  # a leaf command: the remaining words are its arguments
        path.append(word)
        child = node.commands.get(word)
        if child is None:
            break
        node = child
    return tuple(path)


def command_at(root: Any, path: tuple[str, ...]) -> Any:
    node = root
    for word in path:
        node = node.commands[word]
    return node


def options_of(command: Any) -> set[str]:
    return {o for param in command.params for o in (*param.opts, *param.secondary_opts) if o.startswith("--")}


def _paths() -> dict[tuple[str, ...], list[Command]]:
    root = typer.main.get_command(app)
    by_path: dict[tuple[str, ...], list[Command]] = {}
    for command in all_commands("pog"):
        by_path.setdefault(command_path(root, command.words()), []).append(command)
    return by_path


PATHS = _paths()


def test_runbooks_name_pog_commands() -> None:
    assert len(PATHS) >= 5, "the runbooks should name the pog commands on-call runs"


@pytest.mark.parametrize("path", sorted(PATHS), ids=lambda p: " ".join(("pog", *p)))
def test_pog_command_exists(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    where = ", ".join(sorted({c.source for c in PATHS[path]}))
    named = sorted({" ".join(("pog", *c.words())) for c in PATHS[path]})
    assert result.exit_code == 0, (
        f"`pog {' '.join(path)}` does not exist (runbooks run {', '.join(named)} in {where}):"
        f" exit {result.exit_code}\n{result.output}"
    )


@pytest.mark.parametrize("path", sorted(PATHS), ids=lambda p: " ".join(("pog", *p)))
def test_pog_options_exist(path: tuple[str, ...]) -> None:
    root = typer.main.get_command(app)
    try:
        command = command_at(root, path)
    except KeyError:
        pytest.skip(f"`pog {' '.join(path)}` itself is missing (reported by test_pog_command_exists)")
    known = options_of(command) | {"--help"}
    unknown = sorted(
        {f"{flag} (in {c.source})" for c in PATHS[path] for flag in c.flags() if flag not in known}
    )
    assert not unknown, f"`pog {' '.join(path)}` has no option {', '.join(unknown)}; it takes {sorted(known)}"


def test_options_are_read_from_the_command() -> None:
    root = typer.main.get_command(app)
    options = options_of(command_at(root, ("plan",)))
    assert {"--phase", "--json", "--quiet", "--no-quiet"} <= options
    assert "--env" not in options


def test_path_stops_at_arguments_and_keeps_unknown_subcommands() -> None:
    root = typer.main.get_command(app)
    assert command_path(root, ["check", "dev"]) == ("check",)
    assert command_path(root, ["plan"]) == ("plan",)
    assert command_path(root, ["nosuch", "thing"]) == ("nosuch",)
    unknown = CliRunner().invoke(app, ["nosuch", "--help"])
    assert unknown.exit_code != 0
