"""The analytics catalogue's generated files are current, and the contract's schemas match the envelope
the code builds (scripts/analytics_catalogue.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts import analytics_catalogue as generator

pytestmark = pytest.mark.unit

FILES = (generator.CATALOGUE_JSON, generator.DOCS, generator.AVRO_SCHEMA, generator.BIGQUERY_SCHEMA)


def test_no_generated_file_is_stale() -> None:
    stale = generator.stale()
    assert stale == [], f"stale (run scripts/analytics_catalogue.py --write): {stale}"


def _copy(tmp_path: Path) -> Path:
    for path in FILES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(generator.REPO_ROOT / path, tmp_path / path)
    return tmp_path


def test_write_refreshes_a_stale_generated_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(tmp_path)
    (root / generator.DOCS).write_text("old\n")
    assert generator.main(["--check"], root) == 1
    assert "docs/analytics-events.md is stale" in capsys.readouterr().err
    assert generator.main(["--write"], root) == 0
    assert (root / generator.DOCS).read_text() == generator.render_docs()
    assert generator.main([], root) == 0


def test_a_contract_schema_that_drifts_fails_and_is_never_rewritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(tmp_path)
    drifted = (root / generator.AVRO_SCHEMA).read_text().replace('"country"', '"region"')
    (root / generator.AVRO_SCHEMA).write_text(drifted)
    assert generator.main(["--write"], root) == 1
    assert "events.avsc does not match the envelope" in capsys.readouterr().err
    assert (root / generator.AVRO_SCHEMA).read_text() == drifted
