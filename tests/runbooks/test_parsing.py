"""The command extraction the other runbook tests rely on: what a shell would run, nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runbooks.commands import code_blocks, commands_in, parse_line

pytestmark = pytest.mark.unit

SAMPLE = """\
# Sample

Text with `gcloud inline code` that is not a command.

```sh
export ENV=prod
.venv/bin/pog plan $ENV --quiet   # a comment with gcloud words
gcloud run services describe $PREFIX-api-$REGION --region $REGION \\
  --project $PROJECT --format 'value(spec.template)'
```

1. Indented in a list:

   ```sh
   export REDIS_URL="$(gcloud secrets versions access latest --secret=$PREFIX-redis-url)"
   for r in a b; do gcloud run revisions list --service x-$r --region $r; done
   POG_X=1 pog backup verify --source '(default)' --copy restore-1 && echo ok | tee out
   ```

```yaml
gcloud: not-a-shell-block
```
"""


def test_blocks_are_found_with_their_language_and_dedented() -> None:
    blocks = code_blocks(SAMPLE)
    assert [(lang, body.splitlines()[0]) for _, lang, body in blocks] == [
        ("sh", "export ENV=prod"),
        ("sh", 'export REDIS_URL="$(gcloud secrets versions access latest --secret=$PREFIX-redis-url)"'),
        ("yaml", "gcloud: not-a-shell-block"),
    ]


def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "runbooks" / "sample.md"
    path.parent.mkdir()
    path.write_text(SAMPLE)
    return path


def test_commands_of_a_file(tmp_path: Path) -> None:
    found = [(c.program, c.words(), c.flags()) for c in commands_in(sample_file(tmp_path), tmp_path)]
    assert found == [
        ("pog", ["plan"], ["--quiet"]),
        ("gcloud", ["run", "services", "describe"], ["--region", "--project", "--format"]),
        ("gcloud", ["secrets", "versions", "access", "latest"], ["--secret"]),
        ("gcloud", ["run", "revisions", "list"], ["--service", "--region"]),
        ("pog", ["backup", "verify"], ["--source", "--copy"]),
        ("echo", ["ok"], []),
        ("tee", ["out"], []),
    ]


def test_line_numbers_point_at_the_command(tmp_path: Path) -> None:
    sources = [c.source for c in commands_in(sample_file(tmp_path), tmp_path) if c.program == "gcloud"]
    assert sources == ["runbooks/sample.md:8", "runbooks/sample.md:15", "runbooks/sample.md:16"]


def test_substitutions_operators_and_assignments() -> None:
    assert parse_line('A=1 B="x y" gcloud auth print-access-token | cut -c1-5') == [
        ["gcloud", "auth", "print-access-token"],
        ["cut", "-c1-5"],
    ]
    assert parse_line(
        "printf '%s' \"${CURRENT%@*}@$NEW\" | gcloud secrets versions add $S --data-file=-"
    ) == [
        ["printf", "%s", "${CURRENT%@*}@$NEW"],
        ["gcloud", "secrets", "versions", "add", "$S", "--data-file=-"],
    ]
    # The loop head runs nothing; its body does.
    assert parse_line('while read -r e; do stripe events resend "$e"; done') == [
        ["stripe", "events", "resend", "$e"],
    ]
    assert parse_line('[ "$r" = "$F" ] && continue') == [["[", "$r", "=", "$F", "]"], ["continue"]]
