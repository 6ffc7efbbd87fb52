"""Tokens through the production verification path (FIREBASE_AUTH_EMULATOR_HOST unset)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.app import tokens
from tests.app.conftest import Backends

ROUTES = [
    ("GET", "/v1/me"),
    ("PATCH", "/v1/me"),
    ("GET", "/v1/me/stats"),
    ("GET", "/v1/me/inventory"),
    ("GET", "/v1/users/bob"),
    ("POST", "/v1/me/friends"),
    ("DELETE", "/v1/me/friends/bob"),
    ("GET", "/v1/admin/users/bob"),
]


def _bad_headers(project: str, key: tokens.TestKey) -> dict[str, Callable[[], dict[str, str]]]:
    other = tokens.TestKey(key.kid)  # same kid, another key: the signature does not match

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    now = int(time.time())
    return {
        "missing": dict,
        "not-bearer": lambda: {"Authorization": "Basic YWxpY2U6cHc="},
        "empty-bearer": lambda: {"Authorization": "Bearer "},
        "malformed": lambda: bearer("not.a.jwt"),
        "alg-none": lambda: bearer(tokens.unsigned(tokens.claims(project, "alice"), key.kid)),
        "bad-signature": lambda: bearer(tokens.sign(other, tokens.claims(project, "alice"))),
        "unknown-kid": lambda: bearer(tokens.sign(key, tokens.claims(project, "alice"), kid="nope")),
        "expired": lambda: bearer(
            tokens.sign(key, tokens.claims(project, "alice", iat=now - 7200, exp=now - 3600))
        ),
        "wrong-aud": lambda: bearer(tokens.sign(key, tokens.claims(project, "alice", aud="other-project"))),
        "wrong-iss": lambda: bearer(
            tokens.sign(key, tokens.claims(project, "alice", iss="https://securetoken.google.com/other"))
        ),
        "empty-sub": lambda: bearer(tokens.sign(key, tokens.claims(project, "alice", sub=""))),
    }


CASES = ["missing", "not-bearer", "empty-bearer", "malformed", "alg-none", "bad-signature", "unknown-kid",
         "expired", "wrong-aud", "wrong-iss", "empty-sub"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_tokens_are_401(
    client: TestClient, backends: Backends, signing_key: tokens.TestKey, case: str
) -> None:
    headers = _bad_headers(backends.project, signing_key)[case]()
    r = client.get("/v1/me", headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_v1_route_needs_a_token(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path, json={})
    assert r.status_code == 401, r.text


def test_a_good_token_is_accepted(
    client: TestClient, backends: Backends, signing_key: tokens.TestKey
) -> None:
    token = tokens.sign(signing_key, tokens.claims(backends.project, "alice"))
    r = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.json()["uid"] == "alice"
