"""``pog realtime rules | sync | resync`` as the jobs run them (``python -m app.ops``'s commands), against
the fake Realtime Database: the exact rules requests per shard, the exit codes, one ``error:`` line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import firestore
from typer.testing import CliRunner

from app.core.config import get_settings
from app.domain.realtime import MirrorKey
from app.ops.__main__ import app as ops_app
from app.ops.realtime_cli import RULES_FILE
from tests.app.conftest import Backends
from tests.app.fixtures.realtime import SHARDS, FakeRtdb

S0, S1 = SHARDS
RULES = RULES_FILE.read_text()


@pytest.fixture
def env(backends: Backends, rtdb: FakeRtdb, monkeypatch: pytest.MonkeyPatch, clean: None) -> Iterator[None]:
    monkeypatch.setenv("POG_ENVIRONMENT", "test")
    monkeypatch.setenv("POG_REDIS_URL", backends.redis_url)
    monkeypatch.setenv("POG_FIREBASE_PROJECT_ID", backends.project)
    monkeypatch.setenv("POG_LOG_JSON", "false")
    monkeypatch.setenv("POG_REALTIME_DATABASE_URLS", ",".join(rtdb.urls))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def pog(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(ops_app, ["realtime", *args])
    return result.exit_code, result.stdout, result.stderr


def report(out: str) -> Any:
    """The command's JSON report: the indented document after any log lines (JSON logs go to stdout when
    another test of this process configured them)."""
    return json.loads(out[out.index("{\n") :])


def test_rules_are_deployed_where_they_differ_and_left_where_they_match(env: None, rtdb: FakeRtdb) -> None:
    rtdb.rules[S1] = json.dumps(json.loads(RULES), indent=4)  # the same rules, other formatting
    code, out, err = pog("rules")
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"shard 0 {rtdb.urls[0]}: changed", f"shard 1 {rtdb.urls[1]}: unchanged"]
    assert [(r.method, r.shard, r.path, r.body) for r in rtdb.requests] == [
        ("GET", S0, "/.settings/rules.json", None),
        ("PUT", S0, "/.settings/rules.json", RULES),
        ("GET", S1, "/.settings/rules.json", None),
    ]
    assert rtdb.rules[S0] == RULES
    rtdb.clear()
    code, out, _ = pog("rules")  # idempotent: nothing left to write
    assert code == 0
    assert out.splitlines() == [f"shard {i} {url}: unchanged" for i, url in enumerate(rtdb.urls)]
    assert {r.method for r in rtdb.requests} == {"GET"}


def test_check_reports_drift_and_writes_nothing(env: None, rtdb: FakeRtdb) -> None:
    rtdb.rules[S0] = RULES
    rtdb.rules[S1] = "// edited in the console\n" + RULES  # comments: not what the repository deploys
    code, out, err = pog("rules", "--check")
    assert code == 1
    assert out.splitlines() == [f"shard 0 {rtdb.urls[0]}: unchanged", f"shard 1 {rtdb.urls[1]}: drift"]
    assert err.startswith("error: the rules of shard(s) 1 differ from database.rules.json")
    assert len(err.splitlines()) == 1
    assert {r.method for r in rtdb.requests} == {"GET"}
    rtdb.rules[S1] = RULES
    assert pog("rules", "--check")[0] == 0


def test_a_shard_that_does_not_answer_is_one_error_line(
    env: None, rtdb: FakeRtdb, db: firestore.Client
) -> None:
    db.collection("users").document("bob").set({"uid": "bob", "friends": []})
    rtdb.down()
    for args in (("rules",), ("resync",)):
        code, out, err = pog(*args)
        assert code == 1, args
        assert re.match(r"error: realtime shard [01] \(", err), err  # resync writes both at once
        assert len(err.splitlines()) == 1, err
        assert "Traceback" not in out + err
    # sync touches the shards only for the records waiting: none here, so nothing failed.
    assert pog("sync")[0] == 0


def test_without_database_urls_each_command_names_the_setting(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POG_REALTIME_DATABASE_URLS", "")
    get_settings.cache_clear()
    for args in (("rules",), ("sync",), ("resync",)):
        code, _, err = pog(*args)
        assert (code, err.splitlines()) == (
            1,
            [
                "error: POG_REALTIME_DATABASE_URLS is empty: set it to the stack's Realtime Database URLs, "
                "shard 0 first"
            ],
        ), args


def test_a_bad_database_url_is_one_error_line(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POG_REALTIME_DATABASE_URLS", "https://example.com")
    get_settings.cache_clear()
    code, _, err = pog("sync")
    assert code == 1
    assert err.startswith("error: invalid setting POG_REALTIME_DATABASE_URLS")
    assert len(err.splitlines()) == 1


def test_sync_and_resync_print_their_reports(env: None, rtdb: FakeRtdb, db: firestore.Client) -> None:
    db.collection("users").document("bob").set({"uid": "bob", "friends": [], "presence_visible": False})
    code, out, _ = pog("sync")
    assert (code, report(out)) == (0, {"applied": 0, "failed": 0, "kept": 0})
    code, out, _ = pog("resync")
    assert code == 0
    assert report(out) == {
        "players": 1,
        "written": {"0": 1, "1": 0},
        "removed": {"0": 0, "1": 0},
    }
    assert rtdb.at(S0, "hidden/bob") is True


def test_sync_exits_1_when_records_stay(env: None, rtdb: FakeRtdb, db: firestore.Client) -> None:
    db.collection("users").document("bob").set({"uid": "bob", "friends": [], "presence_visible": False})
    db.collection("realtime_outbox").document(MirrorKey.hidden("bob").record_id).set(
        {"kind": "hidden", "uids": ["bob"], "recorded_at": firestore.SERVER_TIMESTAMP, "nonce": "1"}
    )
    rtdb.failing = ("/.json",)
    code, out, err = pog("sync")
    assert code == 1
    assert report(out) == {"applied": 0, "failed": 1, "kept": 0}
    assert err.startswith("error: 1 outbox record(s) could not be applied")
    rtdb.failing = ()
    code, out, _ = pog("sync")
    assert (code, report(out)) == (0, {"applied": 1, "failed": 0, "kept": 0})
    assert rtdb.at(S0, "hidden/bob") is True
