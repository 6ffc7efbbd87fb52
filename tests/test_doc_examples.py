"""The example outputs in README.md and docs/ are what the commands print (scripts/doc_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import doc_examples
from scripts.doc_examples import ExampleError, check, find_examples, normalize

DOC = """# Title

Before.

<!-- example: pog diff prod@1 prod@2 -->
```text
(output)
```
<!-- /example -->

Between.

<!-- example: pog plan dev --quiet -->
```text
12 resources
```
<!-- /example -->

After.
"""


class FakePog:
    """Answers each command with a fixed output, and records what ran."""

    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        self.ran: list[str] = []

    def __call__(self, command: str) -> str:
        self.ran.append(command)
        return self.outputs[command]


def _doc(tmp_path: Path, text: str = DOC) -> Path:
    path = tmp_path / "guide.md"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.unit
def test_blocks_are_found_with_their_command_and_line(tmp_path: Path) -> None:
    path = _doc(tmp_path)

    examples = find_examples(path, path.read_text())

    assert [(e.line, e.command, e.body) for e in examples] == [
        (5, "pog diff prod@1 prod@2", "(output)\n"),
        (13, "pog plan dev --quiet", "12 resources\n"),
    ]


@pytest.mark.unit
def test_a_stale_block_is_reported_and_write_refreshes_only_the_blocks(tmp_path: Path) -> None:
    path = _doc(tmp_path)
    pog = FakePog({"pog diff prod@1 prod@2": "1 to add\n", "pog plan dev --quiet": "12 resources\n"})

    reported = check([path], run=pog)
    written = check([path], write=True, run=pog)
    again = check([path], run=pog)

    assert [(e.where.rsplit("/", 1)[-1], e.command) for e in reported.stale] == [
        ("guide.md:5", "pog diff prod@1 prod@2")
    ]
    assert [e.command for e in written.stale] == ["pog diff prod@1 prod@2"]
    assert again.stale == []
    assert len(again.examples) == 2
    assert path.read_text() == DOC.replace("(output)", "1 to add")


@pytest.mark.unit
def test_check_without_write_leaves_the_file_alone(tmp_path: Path) -> None:
    path = _doc(tmp_path)

    check([path], run=FakePog({"pog diff prod@1 prod@2": "x\n", "pog plan dev --quiet": "y\n"}))

    assert path.read_text() == DOC


@pytest.mark.unit
def test_a_command_used_twice_runs_once(tmp_path: Path) -> None:
    block = "<!-- example: pog check dev -->\n```text\nold\n```\n<!-- /example -->\n"
    first, second = _doc(tmp_path, block), tmp_path / "other.md"
    second.write_text(block)
    pog = FakePog({"pog check dev": "PASS\n"})

    result = check([first, second], write=True, run=pog)

    assert pog.ran == ["pog check dev"]
    assert len(result.stale) == 2
    assert second.read_text() == block.replace("old", "PASS")


@pytest.mark.unit
def test_output_holding_a_fence_gets_a_longer_one(tmp_path: Path) -> None:
    path = _doc(tmp_path, "<!-- example: pog diff a b -->\n```text\nx\n```\n<!-- /example -->\n")
    output = "### report\n```\ncode\n```\n"

    check([path], write=True, run=FakePog({"pog diff a b": output}))

    assert path.read_text() == f"<!-- example: pog diff a b -->\n````text\n{output}````\n<!-- /example -->\n"
    assert find_examples(path, path.read_text())[0].body == output


@pytest.mark.unit
def test_a_marker_without_its_block_names_the_file_and_line(tmp_path: Path) -> None:
    path = _doc(tmp_path, "# T\n\n<!-- example: pog check dev -->\nno fence here\n<!-- /example -->\n")

    with pytest.raises(ExampleError, match=r"guide\.md:3: an example marker must be followed by a fenced"):
        find_examples(path, path.read_text())


@pytest.mark.unit
@pytest.mark.parametrize("command", ["rm -rf /", "make plan", "", "pog 'unclosed"])
def test_only_pog_commands_run(command: str) -> None:
    with pytest.raises(ExampleError):
        doc_examples.run_command(command)


@pytest.mark.unit
def test_output_is_normalized_for_the_docs() -> None:
    root = str(doc_examples.REPO_ROOT)

    assert normalize(f"a   \nwritten to {root}/out.json\n\n\n") == "a\nwritten to out.json\n"


@pytest.mark.unit
def test_the_command_line_reports_stale_blocks_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _doc(tmp_path)
    monkeypatch.setattr(
        doc_examples,
        "run_command",
        FakePog({"pog diff prod@1 prod@2": "new\n", "pog plan dev --quiet": "12 resources\n"}),
    )

    code = doc_examples.main([str(path)])

    assert code == 1
    assert f"{path}:5: `pog diff prod@1 prod@2` differs from the command's output" in capsys.readouterr().out


def test_the_docs_examples_are_what_the_commands_print() -> None:
    result = check(doc_examples.default_paths())

    assert result.examples, "no <!-- example: pog ... --> block in README.md or docs/"
    stale = [f"{e.where}: `{e.command}`" for e in result.stale]
    assert not stale, f"stale examples (run scripts/doc_examples.py --write): {stale}"
