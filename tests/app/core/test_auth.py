"""Verified tokens are remembered until their exp (never with check_revoked); the SDK runs for others."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from firebase_admin import auth as firebase_auth

from app.core.auth import Principal, VerifiedTokens
from app.core.firebase_auth import TokenVerifier
from tests.app import tokens
from tests.app.conftest import Backends, settings_for

ALICE = Principal(uid="alice", role="player", second_factor=None, name=None)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_is_used_only_before_exp() -> None:
    clock = Clock()
    verified = VerifiedTokens(clock=clock)
    verified.put("tok", ALICE, expires_at=clock.now + 60)
    assert verified.get("tok") == ALICE
    assert verified.get("other") is None
    clock.now += 60
    assert verified.get("tok") is None
    assert len(verified) == 0  # dropped, not kept around


def test_an_already_expired_token_is_not_remembered() -> None:
    clock = Clock()
    verified = VerifiedTokens(clock=clock)
    verified.put("tok", ALICE, expires_at=clock.now)
    assert len(verified) == 0


def test_bounded_least_recently_used_first() -> None:
    clock = Clock()
    verified = VerifiedTokens(max_entries=2, clock=clock)
    verified.put("a", ALICE, clock.now + 60)
    verified.put("b", ALICE, clock.now + 60)
    assert verified.get("a") == ALICE  # a is now the most recently used
    verified.put("c", ALICE, clock.now + 60)
    assert (verified.get("a"), verified.get("b"), verified.get("c")) == (ALICE, None, ALICE)


def test_the_map_holds_digests_not_tokens() -> None:
    verified = VerifiedTokens()
    verified.put("secret-token", ALICE, time.time() + 60)
    assert len(verified._entries) == 1
    assert all(isinstance(k, bytes) and len(k) == 32 for k in verified._entries)


@pytest.fixture
def sdk_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call the app makes to firebase_admin's verify_id_token (which still runs unchanged)."""
    calls: list[str] = []
    real = firebase_auth.verify_id_token

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(firebase_auth, "verify_id_token", counting)
    return calls


def bearer(backends: Backends, key: tokens.TestKey, uid: str, **extra: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.sign(key, tokens.claims(backends.project, uid, **extra))}"}


def test_a_verified_token_is_not_verified_again(
    client: TestClient, backends: Backends, signing_key: tokens.TestKey, sdk_calls: list[str]
) -> None:
    alice = bearer(backends, signing_key, "alice")
    assert [client.get("/v1/me", headers=alice).status_code for _ in range(3)] == [200] * 3
    assert len(sdk_calls) == 1
    assert client.get("/v1/me", headers=bearer(backends, signing_key, "bob")).status_code == 200
    assert len(sdk_calls) == 2


def test_a_bad_token_is_verified_every_time(
    client: TestClient, backends: Backends, signing_key: tokens.TestKey, sdk_calls: list[str]
) -> None:
    other = tokens.TestKey(signing_key.kid)
    forged = {"Authorization": f"Bearer {tokens.sign(other, tokens.claims(backends.project, 'alice'))}"}
    assert [client.get("/v1/me", headers=forged).status_code for _ in range(2)] == [401, 401]
    assert len(sdk_calls) == 2


def test_a_remembered_token_keeps_its_claims(
    client: TestClient, backends: Backends, signing_key: tokens.TestKey
) -> None:
    admin = bearer(backends, signing_key, "root", role="admin")
    # The admin route needs more than the role; a player token must still be told 403 the second time.
    player = bearer(backends, signing_key, "carol")
    for _ in range(2):
        assert client.get("/v1/admin/users/root", headers=player).json()["error"]["code"] == "forbidden"
        r = client.get("/v1/admin/users/root", headers=admin)
        assert r.json()["error"]["code"] == "second_factor_required"


def test_nothing_is_remembered_when_revocation_is_checked(backends: Backends) -> None:
    """With check_revoked and no check interval the SDK asks Firebase Auth on every request
    (tests/app/core/auth_revocation runs that against the Auth emulator); a remembered entry is never used,
    even one put there. With an interval, an entry is used (the verifier keeps it only that long)."""
    verified = VerifiedTokens()
    verified.put("tok", ALICE, time.time() + 60)
    for check_revoked, interval_s, expected in ((True, 0, None), (True, 30, ALICE), (False, 0, ALICE)):
        settings = settings_for(
            backends, auth_check_revoked=check_revoked, auth_revocation_check_interval_s=interval_s
        )
        verifier = TokenVerifier(settings, verified)
        try:
            assert verifier.remembered("tok") == expected, (check_revoked, interval_s)
        finally:
            verifier.close()
