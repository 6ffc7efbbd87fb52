"""Revoked tokens, disabled and deleted accounts get 401 (issue 4), through the SDK's ``check_revoked``
against the Firebase Auth emulator; tokens are the emulator's unsigned ones, so signature checks are
covered elsewhere (tests/app/api/test_deps.py). With ``check_revoked`` the app remembers no token: the
second request with the same token is asked again."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import firebase_admin
import pytest
from fastapi.testclient import TestClient
from firebase_admin import auth

from app.core.firebase_auth import AnonymousCredential
from tests.app import tokens
from tests.app.conftest import Backends, MakeClient
from tests.waiting import wait_for_clock_past, wait_until

pytestmark = pytest.mark.auth_emulator


@pytest.fixture
def admin(auth_emulator: str, backends: Backends, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A firebase_admin app on the emulator, to create, revoke, disable and delete users."""
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", auth_emulator)
    app = firebase_admin.initialize_app(
        AnonymousCredential(), {"projectId": backends.project}, name=f"admin-{uuid.uuid4().hex}"
    )
    yield app
    firebase_admin.delete_app(app)


@pytest.fixture
def client(make_client: MakeClient, auth_emulator: str, admin: Any) -> TestClient:
    return make_client(auth_check_revoked=True, FIREBASE_AUTH_EMULATOR_HOST=auth_emulator)


def new_user(admin: Any) -> str:
    uid = f"u-{uuid.uuid4().hex[:12]}"
    auth.create_user(uid=uid, app=admin)
    return uid


def bearer(backends: Backends, uid: str, **claims: Any) -> dict[str, str]:
    # The emulator's tokens are unsigned; iat defaults to 10 s ago.
    return {
        "Authorization": f"Bearer {tokens.unsigned(tokens.claims(backends.project, uid, **claims), 'emu')}"
    }


def assert_401(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/v1/me", headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401_and_a_newer_one_is_not(
    client: TestClient, backends: Backends, admin: Any
) -> None:
    uid = new_user(admin)
    old = bearer(backends, uid)
    assert client.get("/v1/me", headers=old).status_code == 200
    auth.revoke_refresh_tokens(uid, app=admin)
    assert_401(client, old)
    assert client.get("/v1/me/stats", headers=old).status_code == 401
    # Revocation has second granularity: a token issued after its second is valid.
    wait_for_clock_past(auth.get_user(uid, app=admin).tokens_valid_after_timestamp / 1000 + 1)
    assert client.get("/v1/me", headers=bearer(backends, uid, iat=int(time.time()))).status_code == 200


def test_a_disabled_account_is_401_until_enabled_again(
    client: TestClient, backends: Backends, admin: Any
) -> None:
    uid = new_user(admin)
    headers = bearer(backends, uid)
    assert client.get("/v1/me", headers=headers).status_code == 200
    auth.update_user(uid, disabled=True, app=admin)
    assert_401(client, headers)
    auth.update_user(uid, disabled=False, app=admin)
    assert client.get("/v1/me", headers=headers).status_code == 200


def test_a_deleted_account_is_401(client: TestClient, backends: Backends, admin: Any) -> None:
    uid = new_user(admin)
    headers = bearer(backends, uid)
    assert client.get("/v1/me", headers=headers).status_code == 200
    auth.delete_user(uid, app=admin)
    assert_401(client, headers)


def test_a_token_for_an_account_that_never_existed_is_401(client: TestClient, backends: Backends) -> None:
    assert_401(client, bearer(backends, "never-created"))


def test_with_a_check_interval_a_revocation_lands_within_it(
    make_client: MakeClient, auth_emulator: str, backends: Backends, admin: Any
) -> None:
    """POG_AUTH_REVOCATION_CHECK_INTERVAL_S trades that delay for one Firebase Auth call per interval."""
    client = make_client(
        auth_check_revoked=True,
        auth_revocation_check_interval_s=1,
        FIREBASE_AUTH_EMULATOR_HOST=auth_emulator,
    )
    uid = new_user(admin)
    headers = bearer(backends, uid)
    assert client.get("/v1/me", headers=headers).status_code == 200
    auth.revoke_refresh_tokens(uid, app=admin)
    assert client.get("/v1/me", headers=headers).status_code == 200, "trusted within the interval"
    wait_until(
        lambda: client.get("/v1/me", headers=headers).status_code == 401, timeout=3, what="revoked after 1 s"
    )
    assert_401(client, headers)
