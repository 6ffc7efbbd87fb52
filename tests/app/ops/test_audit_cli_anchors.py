"""`pog audit anchor` and the anchors `pog audit verify` checks (Cloud Storage: gcp-storage-emulator)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore
from typer.testing import CliRunner

from app.services.grant_port import GrantRequest, GrantSource
from pog.cli import app as pog
from tests.app.conftest import Backends, Mint
from tests.app.fixtures.payments import entries, player

BUCKET = "pog-test-audit-anchors"


@pytest.fixture
def anchors(free_tcp_port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An in-process Cloud Storage emulator with the anchors bucket; the storage client talks to it."""
    from gcp_storage_emulator.server import create_server
    from google.cloud import storage

    server = create_server("localhost", free_tcp_port, in_memory=True)
    server.start()
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://localhost:{free_tcp_port}")
        monkeypatch.setenv("POG_AUDIT_ANCHOR_BUCKET", BUCKET)
        client = storage.Client(project="demo-anchors")
        yield client.create_bucket(BUCKET)
    finally:
        server.stop()


@pytest.fixture
def cli(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("POG_ENVIRONMENT", "test")
    monkeypatch.setenv("POG_FIREBASE_PROJECT_ID", backends.project)
    return ["--project", backends.project]


def _run(*args: str) -> Any:
    return CliRunner().invoke(pog, ["audit", *args])


def _grant(client: TestClient, uid: str, coins: int) -> None:
    grants = client.app.state.container.grants  # type: ignore[attr-defined]
    request = GrantRequest(uid, GrantSource.ADMIN, f"test:{uuid.uuid4()}", coins=coins, reason="test")
    assert client.portal.call(grants.grant, request).value == "granted"  # type: ignore[union-attr]


def test_an_anchor_holds_the_signed_heads_and_verifies(
    econ: TestClient, auth: Mint, anchors: Any, cli: list[str]
) -> None:
    import orjson

    player(econ, auth, "alice")
    player(econ, auth, "bob")
    _grant(econ, "alice", 10)
    _grant(econ, "bob", 5)
    done = _run("anchor", *cli)
    assert done.exit_code == 0, done.output
    assert "anchored 2 chain head(s) in gs://pog-test-audit-anchors/anchors/" in done.output
    [blob] = list(anchors.list_blobs())
    envelope = orjson.loads(blob.download_as_bytes())
    assert sorted(envelope["body"]["heads"]) == ["alice", "bob"]
    assert envelope["body"]["since"] is None
    assert envelope["signature"]["kid"].startswith("local:")
    _grant(econ, "alice", 1)
    assert _run("anchor", *cli).exit_code == 0  # the second covers what changed since the first
    newest = max(anchors.list_blobs(), key=lambda b: b.name)
    assert orjson.loads(newest.download_as_bytes())["body"]["since"] is not None
    result = _run("verify", *cli)
    assert result.exit_code == 0, result.output
    assert "ok: 2 chain(s), 3 entries verified, 2 anchor(s)" in result.output


def test_a_rollback_to_an_older_signed_head_is_caught_by_the_anchor(
    econ: TestClient, auth: Mint, db: firestore.Client, anchors: Any, cli: list[str]
) -> None:
    """Failed before issue 18: deleting the newest entries and restoring the older head (signed, since it
    was once genuine) left a consistent chain: verify said ok and the grant was gone without a trace."""
    player(econ, auth, "alice")
    _grant(econ, "alice", 10)
    head = db.collection("audit_chains").document("alice")
    older = head.get().to_dict() or {}
    _grant(econ, "alice", 500)
    assert _run("anchor", *cli).exit_code == 0
    db.collection("transactions").document(entries(db, "alice")[-1]["id"]).delete()
    head.set(older)
    assert _run("verify", *cli, "--no-anchors").exit_code == 0  # the chain and its signature agree
    result = _run("verify", *cli)
    assert result.exit_code == 1
    assert (
        "TAMPERED audit_chains/alice: head at seq 1 is older than seq 2 anchored in anchors/" in result.output
    )
    assert "(rolled back)" in result.output


def test_an_entry_rewritten_after_its_anchor_is_named(
    econ: TestClient, auth: Mint, db: firestore.Client, anchors: Any, cli: list[str]
) -> None:
    player(econ, auth, "alice")
    _grant(econ, "alice", 10)
    assert _run("anchor", *cli).exit_code == 0
    first = entries(db, "alice")[0]["id"]
    db.collection("transactions").document(first).update({"hash": "f" * 64})
    result = _run("verify", *cli)
    assert result.exit_code == 1
    assert f"transactions/{first}: hash differs from the one anchored in anchors/" in result.output


def test_an_anchor_is_created_once_and_a_replaced_one_fails_its_signature(
    econ: TestClient, auth: Mint, anchors: Any, cli: list[str]
) -> None:
    """Failed before issue 18: there were no anchors. The store creates each with ifGenerationMatch=0 (GCS
    refuses an existing name; the emulator does not enforce preconditions, so the request is checked),
    and an object replaced by other means no longer verifies."""
    from app.repositories.audit_anchors import AnchorStore

    player(econ, auth, "alice")
    _grant(econ, "alice", 10)
    store = AnchorStore(BUCKET)
    sent: list[str] = []
    http = store._client._http
    request = http.request

    def recording(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(url)
        return request(method, url, *args, **kwargs)

    http.request = recording
    store.create("anchors/2025/01/01/x.json", b"{}")
    assert [url for url in sent if "ifGenerationMatch=0" in url] != []
    assert _run("anchor", *cli).exit_code == 0
    [blob] = [b for b in anchors.list_blobs() if b.name != "anchors/2025/01/01/x.json"]
    forged = blob.download_as_bytes().replace(b'"seq":1', b'"seq":9')
    anchors.blob(blob.name).upload_from_string(forged)
    result = _run("verify", *cli)
    assert result.exit_code == 1
    assert f"gs://{BUCKET}/{blob.name}: anchor signature: the signature does not match" in result.output
    assert f"gs://{BUCKET}/anchors/2025/01/01/x.json: not an anchor" in result.output


def test_anchor_without_a_bucket_is_one_error_line(
    backends: Backends, cli: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POG_AUDIT_ANCHOR_BUCKET", raising=False)
    result = _run("anchor", *cli)
    assert result.exit_code == 1
    assert result.output.startswith("error: POG_AUDIT_ANCHOR_BUCKET is unset")


def test_anchor_names_sort_by_time() -> None:
    from app.repositories.audit_anchors import anchor_name

    early = anchor_name(datetime(2025, 3, 9, 23, 59, 59, 999999, tzinfo=UTC))
    late = anchor_name(datetime(2025, 3, 10, 0, 0, tzinfo=UTC))
    assert early == "anchors/2025/03/09/2025-03-09T23:59:59.999999Z.json"
    assert early < late
