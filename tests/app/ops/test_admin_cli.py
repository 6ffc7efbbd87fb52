"""``pog admin grant-role`` / ``revoke-role`` on the Firebase Auth emulator, audited in Firestore (emulator).

Users are made with firebase_admin, and with second factors through the emulator's REST API (the Python
Admin SDK has no multi-factor support). Each test uses its own uids: the Auth emulator is shared by the
process; Firestore is cleared per test.
"""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import firebase_admin
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import auth
from google.cloud import firestore
from typer.testing import CliRunner, Result

from app.core.firebase_auth import AnonymousCredential
from app.ops.__main__ import app as ops_app
from app.ops.admin_cli import admin_app
from app.ops.audit_cli import audit_app
from tests.app.conftest import Backends
from tests.waiting import wait_for_clock_past

ACTOR = "ops-lead@example.com"
AUDIT_KEY = base64.b64encode(b"a" * 32).decode()


@pytest.fixture
def env(
    auth_emulator: str, backends: Backends, db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's settings as an operator's shell has them, on the emulators (Firestore cleared)."""
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", auth_emulator)
    monkeypatch.setenv("POG_FIREBASE_PROJECT_ID", backends.project)
    monkeypatch.setenv("POG_ENVIRONMENT", "test")
    monkeypatch.setenv("POG_AUDIT_LOCAL_KEY", AUDIT_KEY)
    monkeypatch.delenv("POG_OPS_ACTOR", raising=False)


@pytest.fixture
def fb(env: None, backends: Backends) -> Iterator[Any]:
    """A firebase_admin app on the emulator, to make users and read them back."""
    app = firebase_admin.initialize_app(
        AnonymousCredential(), {"projectId": backends.project}, name=f"test-{uuid.uuid4().hex}"
    )
    yield app
    firebase_admin.delete_app(app)


def new_user(fb: Any, claims: dict[str, Any] | None = None) -> str:
    uid = f"u-{uuid.uuid4().hex[:12]}"
    auth.create_user(uid=uid, email=f"{uid}@example.com", app=fb)
    if claims:
        auth.set_custom_user_claims(uid, claims, app=fb)
    return uid


def new_user_with_second_factor(fb: Any, auth_emulator: str, claims: dict[str, Any] | None = None) -> str:
    """A user with an SMS second factor enrolled: the emulator's admin signUp takes ``mfaInfo``."""
    uid = f"u-{uuid.uuid4().hex[:12]}"
    body = {
        "localId": uid,
        "email": f"{uid}@example.com",
        "mfaInfo": [{"phoneInfo": "+15555550100", "displayName": "work phone"}],
    }
    request = urllib.request.Request(
        f"http://{auth_emulator}/identitytoolkit.googleapis.com/v1/projects/{fb.project_id}/accounts",
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer owner", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["localId"] == uid
    if claims:
        auth.set_custom_user_claims(uid, claims, app=fb)
    return uid


def run(*args: str) -> Result:
    return CliRunner().invoke(admin_app, list(args))


def audit_entries(db: firestore.Client) -> list[dict[str, Any]]:
    return sorted((d.to_dict() or {} for d in db.collection("transactions").stream()), key=lambda e: e["id"])


def claims_of(fb: Any, uid: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = auth.get_user(uid, app=fb).custom_claims
    return found


def revoked_at(fb: Any, uid: str) -> int:
    stamp: int = auth.get_user(uid, app=fb).tokens_valid_after_timestamp
    return stamp


def assert_one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output


@pytest.mark.auth_emulator
def test_grant_admin_to_a_user_with_a_second_factor_sets_the_claim_audits_and_revokes_tokens(
    auth_emulator: str, backends: Backends, fb: Any, db: firestore.Client
) -> None:
    uid = new_user_with_second_factor(fb, auth_emulator, {"tier": "gold"})
    before = revoked_at(fb, uid)
    wait_for_clock_past(before / 1000 + 1)  # revocation has second granularity
    result = run("grant-role", uid, "admin", "--reason", "first admin of the stack", "--actor", ACTOR)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert claims_of(fb, uid) == {"tier": "gold", "role": "admin"}
    assert revoked_at(fb, uid) > before, "the refresh tokens were revoked"
    assert f"granted role admin to {uid}" in result.stdout
    assert f"refresh tokens of {uid} revoked" in result.stdout
    [entry] = audit_entries(db)
    assert entry["uid"] == f"admin:{ACTOR}"
    assert entry["actor"] == f"admin:{ACTOR}"
    assert (entry["kind"], entry["source"], entry["source_id"]) == (
        "role_grant",
        "admin",
        f"role:admin:{uid}",
    )
    assert entry["reason"] == "first admin of the stack"
    assert (entry["coins"], entry["items"], entry["sealed"]) == (0, {}, None)
    # The entry is part of the hash-chained log: the audit log's own check accepts it.
    verified = CliRunner().invoke(audit_app, ["verify"])
    assert verified.exit_code == 0, verified.output
    assert "ok: 1 chain(s), 1 entries verified" in verified.stdout


@pytest.mark.auth_emulator
def test_grant_admin_without_a_second_factor_is_refused_and_changes_nothing(
    fb: Any, db: firestore.Client
) -> None:
    uid = new_user(fb, {"tier": "gold"})
    before = revoked_at(fb, uid)
    result = run("grant-role", uid, "admin", "--reason", "needs the review queue", "--actor", ACTOR)
    assert_one_error_line(result, f"{uid} has no second factor enrolled", "first-admin.md")
    assert result.stdout == ""
    assert claims_of(fb, uid) == {"tier": "gold"}
    assert revoked_at(fb, uid) == before
    assert audit_entries(db) == []


@pytest.mark.auth_emulator
def test_revoke_removes_the_role_and_keeps_other_claims(fb: Any, db: firestore.Client) -> None:
    uid = new_user(fb, {"role": "admin", "tier": "gold", "beta": True})
    before = revoked_at(fb, uid)
    wait_for_clock_past(before / 1000 + 1)  # revocation has second granularity
    result = run("revoke-role", uid, "admin", "--reason", "left the team", "--actor", ACTOR)
    assert result.exit_code == 0, result.output
    assert claims_of(fb, uid) == {"tier": "gold", "beta": True}
    assert revoked_at(fb, uid) > before
    assert f"revoked role admin from {uid}" in result.stdout
    [entry] = audit_entries(db)
    assert (entry["kind"], entry["source_id"], entry["reason"]) == (
        "role_revoke",
        f"role:admin:{uid}",
        "left the team",
    )
    assert entry["actor"] == f"admin:{ACTOR}"


@pytest.mark.auth_emulator
def test_a_grant_that_changes_nothing_writes_nothing(
    auth_emulator: str, backends: Backends, fb: Any, db: firestore.Client
) -> None:
    uid = new_user_with_second_factor(fb, auth_emulator, {"role": "admin"})
    before = revoked_at(fb, uid)
    result = run("grant-role", uid, "admin", "--reason", "again", "--actor", ACTOR)
    assert result.exit_code == 0, result.output
    assert f"{uid} already has role admin: nothing changed" in result.stdout
    other = new_user(fb)
    result = run("revoke-role", other, "admin", "--reason", "cleanup", "--actor", ACTOR)
    assert result.exit_code == 0, result.output
    assert f"{other} does not have role admin: nothing changed" in result.stdout
    assert audit_entries(db) == []
    assert revoked_at(fb, uid) == before


@pytest.mark.auth_emulator
@pytest.mark.parametrize(
    ("command", "args", "fragments"),
    [
        ("grant-role", ["admin"], ["--reason is required"]),
        ("grant-role", ["admin", "--reason", "   "], ["--reason is required"]),
        ("revoke-role", ["admin"], ["--reason is required"]),
        ("grant-role", ["superuser", "--reason", "x"], ["unknown role 'superuser'", "admin"]),
        ("revoke-role", ["player", "--reason", "x"], ["unknown role 'player'"]),
        ("grant-role", ["admin", "--reason", "x", "--actor", "a b"], ["--actor must be"]),
    ],
    ids=[
        "grant-no-reason",
        "grant-blank-reason",
        "revoke-no-reason",
        "unknown-role",
        "revoke-player",
        "bad-actor",
    ],
)
def test_a_bad_command_is_one_error_line_and_changes_nothing(
    auth_emulator: str,
    backends: Backends,
    fb: Any,
    db: firestore.Client,
    command: str,
    args: list[str],
    fragments: list[str],
) -> None:
    uid = new_user_with_second_factor(fb, auth_emulator, {"role": "admin"})
    before = revoked_at(fb, uid)
    actor = [] if "--actor" in args else ["--actor", ACTOR]
    result = run(command, uid, *args, *actor)
    assert_one_error_line(result, *fragments)
    assert claims_of(fb, uid) == {"role": "admin"}
    assert revoked_at(fb, uid) == before
    assert audit_entries(db) == []


@pytest.mark.auth_emulator
@pytest.mark.parametrize("command", ["grant-role", "revoke-role"])
def test_an_unknown_uid_is_one_error_line_and_changes_nothing(
    backends: Backends, fb: Any, db: firestore.Client, command: str
) -> None:
    result = run(command, "nobody-here", "admin", "--reason", "x", "--actor", ACTOR)
    assert_one_error_line(result, "no Firebase Auth user with uid 'nobody-here'", backends.project)
    assert audit_entries(db) == []


@pytest.mark.auth_emulator
def test_a_change_the_sdk_refuses_after_the_audit_entry_is_recorded_as_failed(
    auth_emulator: str, backends: Backends, fb: Any, db: firestore.Client
) -> None:
    """The entry is written before the claim changes (never an unaudited change); when the change then
    fails (here the SDK's 1000-character limit on the claims), a second entry records the failure."""
    padding = {"note": "x" * 980}
    uid = new_user_with_second_factor(fb, auth_emulator, padding)
    before = revoked_at(fb, uid)
    result = run("grant-role", uid, "admin", "--reason", "on call", "--actor", ACTOR)
    assert_one_error_line(result, f"the claim of {uid} did not change", "1000 characters")
    assert claims_of(fb, uid) == padding
    assert revoked_at(fb, uid) == before
    kinds = [(e["kind"], e["source_id"], e["seq"]) for e in audit_entries(db)]
    assert kinds == [("role_grant", f"role:admin:{uid}", 1), ("role_grant_failed", f"role:admin:{uid}", 2)]


# --- who the actor is ------------------------------------------------------------------------------------


def _service_account_file(tmp_path: Path, email: str) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "demo-pog",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": email,
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    return path


@pytest.mark.auth_emulator
def test_without_actor_the_credentials_service_account_is_the_actor(
    auth_emulator: str,
    backends: Backends,
    fb: Any,
    db: firestore.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    email = "pog-ops@demo-pog.iam.gserviceaccount.com"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(_service_account_file(tmp_path, email)))
    uid = new_user_with_second_factor(fb, auth_emulator)
    result = run("grant-role", uid, "admin", "--reason", "job")
    assert result.exit_code == 0, result.output
    [entry] = audit_entries(db)
    assert entry["actor"] == f"admin:{email}"


@pytest.mark.auth_emulator
def test_pog_ops_actor_names_the_actor(
    auth_emulator: str, backends: Backends, fb: Any, db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POG_OPS_ACTOR", "oncall@example.com")
    uid = new_user_with_second_factor(fb, auth_emulator)
    assert run("grant-role", uid, "admin", "--reason", "pager").exit_code == 0
    [entry] = audit_entries(db)
    assert entry["actor"] == "admin:oncall@example.com"


@pytest.mark.auth_emulator
def test_without_actor_personal_credentials_are_refused_before_any_change(
    auth_emulator: str,
    backends: Backends,
    fb: Any,
    db: firestore.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`gcloud auth application-default login` credentials do not name their account offline."""
    user_creds = tmp_path / "adc.json"
    user_creds.write_text(
        json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"})
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(user_creds))
    uid = new_user_with_second_factor(fb, auth_emulator)
    result = run("grant-role", uid, "admin", "--reason", "x")
    assert_one_error_line(result, "who is making this change?", "--actor")
    assert claims_of(fb, uid) is None
    assert audit_entries(db) == []


# --- wiring ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["grant-role", "revoke-role"])
def test_the_commands_are_in_python_m_app_ops_and_in_pog(command: str) -> None:
    from pog.cli import app as pog

    for root in (ops_app, pog):
        result = CliRunner().invoke(root, ["admin", command, "--help"])
        assert result.exit_code == 0, result.output
        for option in ("--reason", "--actor", "--project"):
            assert option in result.stdout
