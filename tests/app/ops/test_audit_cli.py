"""The audit log: hash chains verified by `pog audit verify`, tampering detected, GET /v1/me/transactions."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore
from typer.testing import CliRunner

from app.services.grant_port import GrantRequest, GrantSource
from pog.cli import app as pog
from tests.app.conftest import Backends, Mint
from tests.app.fixtures.payments import checkout_session, entries, player, post_stripe, stripe_event


@pytest.fixture
def cli_env(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("POG_ENVIRONMENT", "test")
    monkeypatch.setenv("POG_FIREBASE_PROJECT_ID", backends.project)
    return ["audit", "verify", "--project", backends.project]


def _verify(args: list[str]) -> Any:
    return CliRunner().invoke(pog, args)


def _grant(client: TestClient, uid: str, coins: int, source_id: str | None = None) -> str:
    grants = client.app.state.container.grants  # type: ignore[attr-defined]
    request = GrantRequest(
        uid, GrantSource.ADMIN, source_id or f"test:{uuid.uuid4()}", coins=coins, reason="test"
    )
    outcome = client.portal.call(grants.grant, request)  # type: ignore[union-attr]
    return str(outcome.value)


def _history(econ: TestClient, auth: Mint) -> None:
    player(econ, auth, "alice", "IE")
    player(econ, auth, "bob", "IE")
    for n in range(4):
        assert _grant(econ, "alice", 10 + n) == "granted"
    post_stripe(
        econ, stripe_event("checkout.session.completed", checkout_session("alice", f"pi_{uuid.uuid4().hex}"))
    )
    assert _grant(econ, "bob", 5) == "granted"


def test_an_untouched_log_verifies(
    econ: TestClient, auth: Mint, db: firestore.Client, cli_env: list[str]
) -> None:
    _history(econ, auth)
    result = _verify(cli_env)
    assert result.exit_code == 0, result.output
    assert "ok: 2 chain(s), 6 entries verified" in result.output
    chain = entries(db, "alice")
    assert [e["seq"] for e in chain] == [1, 2, 3, 4, 5]
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(chain))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"coins": 1_000_000}, "hash does not match"),
        ({"balance_coins": 999}, "hash does not match"),
        ({"reason": "gift"}, "hash does not match"),
        ({"sealed.ct": "AAAA"}, "hash does not match"),
        ({"seq": 7}, "seq 7 where 3 was expected"),
    ],
)
def test_a_tampered_entry_is_detected_with_its_path(
    econ: TestClient,
    auth: Mint,
    db: firestore.Client,
    cli_env: list[str],
    change: dict[str, Any],
    expected: str,
) -> None:
    _history(econ, auth)
    target = entries(db, "alice")[2] if "sealed.ct" not in change else entries(db, "alice", "grant")[-1]
    db.collection("transactions").document(target["id"]).update(change)
    result = _verify(cli_env)
    assert result.exit_code == 1
    assert f"TAMPERED transactions/{target['id']}" in result.output
    assert expected in result.output
    print(f"\ntampered {list(change)} on {target['id']}: detected ({result.output.splitlines()[0]})")


def test_a_deleted_entry_and_a_deleted_newest_entry_are_detected(
    econ: TestClient, auth: Mint, db: firestore.Client, cli_env: list[str]
) -> None:
    _history(econ, auth)
    chain = entries(db, "alice")
    db.collection("transactions").document(chain[-1]["id"]).delete()
    result = _verify([*cli_env, "--uid", "alice"])
    assert result.exit_code == 1
    assert "audit_chains/alice: head says seq 5 but the entries end at 4" in result.output
    db.collection("transactions").document(chain[1]["id"]).delete()
    result = _verify([*cli_env, "--uid", "alice"])
    assert f"transactions/{chain[2]['id']}: seq 3 where 2 was expected" in result.output


def test_a_forged_entry_with_a_recomputed_hash_breaks_the_link(
    econ: TestClient, auth: Mint, db: firestore.Client, cli_env: list[str]
) -> None:
    from app.domain.audit import entry_hash

    _history(econ, auth)
    target = entries(db, "alice")[1]
    forged = {**target, "coins": 5000}
    forged["hash"] = entry_hash(forged)  # a consistent entry, but the next one links to the old hash
    db.collection("transactions").document(target["id"]).set(forged)
    result = _verify(cli_env)
    assert result.exit_code == 1
    assert f"transactions/{entries(db, 'alice')[2]['id']}: prev_hash does not match" in result.output


def test_an_entry_and_its_head_rewritten_consistently_fail_the_head_signature(
    econ: TestClient, auth: Mint, db: firestore.Client, cli_env: list[str]
) -> None:
    """Failed before issue 18: an attacker with Firestore write rewrote the newest entry, recomputed its
    hash and moved the head to it; every hash and link agreed, so `pog audit verify` said ok."""
    from app.domain.audit import entry_hash

    _history(econ, auth)
    newest = entries(db, "alice")[-1]
    forged = {**newest, "coins": 1_000_000}
    forged["hash"] = entry_hash(forged)
    db.collection("transactions").document(newest["id"]).set(forged)
    db.collection("audit_chains").document("alice").update({"hash": forged["hash"]})
    result = _verify(cli_env)
    assert result.exit_code == 1
    assert "TAMPERED audit_chains/alice: head signature: the signature does not match" in result.output
    assert "1 problem(s)" in result.output


def test_a_head_signed_with_another_key_or_unsigned_is_refused(
    econ: TestClient, auth: Mint, db: firestore.Client, cli_env: list[str]
) -> None:
    """Failed before issue 18: a head carried no signature, so a forged one could not be told apart."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from app.core.signing import LocalSigner
    from app.domain.audit import head_message
    from app.repositories.ledger import head_of

    _history(econ, auth)
    ref = db.collection("audit_chains").document("alice")
    head = head_of(ref.get().to_dict() or {})
    own_key = LocalSigner(ec.generate_private_key(ec.SECP256R1()))  # the attacker's key
    ref.update({"signature": own_key.sign(head_message("alice", head)).to_doc()})
    db.collection("audit_chains").document("bob").update({"signature": None})
    result = _verify(cli_env)
    assert result.exit_code == 1
    assert f"audit_chains/alice: head signature: signed by an unknown key {own_key.key_id}" in result.output
    assert "audit_chains/bob: head signature: unsigned" in result.output


def test_every_head_is_signed_by_the_configured_key(
    econ: TestClient, auth: Mint, db: firestore.Client
) -> None:
    from app.core.config import Settings
    from app.core.signing import SignatureChecker
    from app.domain.audit import head_message
    from app.repositories.ledger import head_of

    _history(econ, auth)
    checker = SignatureChecker(Settings(environment="test"))
    heads = {snap.id: head_of(snap.to_dict() or {}) for snap in db.collection("audit_chains").stream()}
    assert sorted(heads) == ["alice", "bob"]
    assert [checker.problem(h.signature, head_message(c, h)) for c, h in heads.items()] == [None, None]


def test_decrypt_opens_every_sealed_field_with_the_data_key(
    econ: TestClient, auth: Mint, db: firestore.Client, cli_env: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from tests.app.fixtures.payments import AUDIT_KEY

    _history(econ, auth)
    monkeypatch.setenv("POG_AUDIT_LOCAL_KEY", AUDIT_KEY)
    result = _verify([*cli_env, "--decrypt"])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("POG_AUDIT_LOCAL_KEY", base64.b64encode(b"w" * 32).decode())  # the wrong key
    result = _verify([*cli_env, "--decrypt"])
    assert result.exit_code == 1
    sealed = entries(db, "alice", "grant")[-1]["id"]
    assert f"transactions/{sealed}: sealed with key" in result.output


def test_only_one_chain_is_checked_with_uid(
    econ: TestClient, auth: Mint, db: firestore.Client, cli_env: list[str]
) -> None:
    _history(econ, auth)
    db.collection("transactions").document(entries(db, "alice")[0]["id"]).update({"coins": 1})
    assert _verify([*cli_env, "--uid", "bob"]).exit_code == 0
    assert _verify([*cli_env, "--uid", "alice"]).exit_code == 1


def test_the_app_never_overwrites_an_entry(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    """Entries are created with `create` (fails if the id exists): a stale chain head cannot overwrite."""
    _history(econ, auth)
    before = entries(db, "alice")
    # Roll the head back as if a writer had a stale view: the next append targets an existing id.
    db.collection("audit_chains").document("alice").update({"seq": 2, "hash": before[1]["hash"]})
    with pytest.raises(AlreadyExists):
        _grant(econ, "alice", 1)
    assert entries(db, "alice") == before


# --- GET /v1/me/transactions ----------------------------------------------------------------------------


def test_my_transactions_are_mine_redacted_and_paginated(econ: TestClient, auth: Mint) -> None:
    _history(econ, auth)
    headers = auth("alice")
    r = econ.get("/v1/me/transactions", headers=headers, params={"limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [e["seq"] for e in page["entries"]] == [5, 4]
    assert set(page["entries"][0]) == {
        "id",
        "seq",
        "created_at",
        "kind",
        "source",
        "coins",
        "items",
        "balance_coins",
        "reason",
    }
    assert "sealed" not in r.text
    assert "pi_" not in r.text
    assert "hash" not in r.text
    seen = [e["seq"] for e in page["entries"]]
    while page["next_cursor"]:
        page = econ.get(
            "/v1/me/transactions", headers=headers, params={"limit": 2, "cursor": page["next_cursor"]}
        ).json()
        seen += [e["seq"] for e in page["entries"]]
    assert seen == [5, 4, 3, 2, 1]
    bob = econ.get("/v1/me/transactions", headers=auth("bob")).json()
    assert [e["coins"] for e in bob["entries"]] == [5]


def test_another_players_cursor_is_404(econ: TestClient, auth: Mint, db: firestore.Client) -> None:
    _history(econ, auth)
    alices = entries(db, "alice")[0]["id"]
    r = econ.get("/v1/me/transactions", headers=auth("bob"), params={"cursor": alices})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "cursor_not_found"
    r = econ.get("/v1/me/transactions", headers=auth("bob"), params={"cursor": "nope"})
    assert r.status_code == 404


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"cursor": "a/b"}, {"cursor": ""}])
def test_bad_query_is_422(econ: TestClient, auth: Mint, params: dict[str, Any]) -> None:
    r = econ.get("/v1/me/transactions", headers=auth("alice"), params=params)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


def test_transactions_need_a_token(econ: TestClient) -> None:
    assert econ.get("/v1/me/transactions").status_code == 401


def test_rules_deny_clients_the_server_only_collections(
    econ: TestClient, auth: Mint, backends: Backends, db: firestore.Client
) -> None:
    """The rules file loaded into the emulator: a signed-in client is refused every server-only collection."""
    import json
    import urllib.error
    import urllib.request
    from pathlib import Path

    import jwt

    _history(econ, auth)
    rules = (Path(__file__).resolve().parents[3] / "infra" / "stacks" / "firestore.rules").read_text()
    base = f"http://{backends.firestore_host}"
    put = urllib.request.Request(
        f"{base}/emulator/v1/projects/{backends.project}:securityRules",
        data=json.dumps({"rules": {"files": [{"name": "firestore.rules", "content": rules}]}}).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(put, timeout=10).close()
    token = jwt.encode({"sub": "alice", "user_id": "alice"}, None, algorithm="none")
    denied = 0
    docs = f"{base}/v1/projects/{backends.project}/databases/(default)/documents"
    paths = [
        f"transactions/{entries(db, 'alice')[0]['id']}",
        "audit_chains/alice",
        "review_queue/x",
        "payments/x",
        "processed_sources/x",
    ]
    for path in paths:
        request = urllib.request.Request(f"{docs}/{path}", headers={"Authorization": f"Bearer {token}"})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as exc:
            denied += exc.code == 403
    assert denied == len(paths)
