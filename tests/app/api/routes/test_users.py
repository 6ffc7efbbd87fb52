"""Other players' data: public fields only, and object-level authorization (BOLA) on every route."""

from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from tests.app.conftest import MakeClient, Mint

PUBLIC = {"uid", "display_name", "country", "avatar_id", "best_score"}


@pytest.fixture
def bob(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    """bob: a player with private data (inventory, friends, stats)."""
    client.get("/v1/me", headers=auth("carol"))
    assert client.patch(
        "/v1/me", headers=auth("bob"), json={"display_name": "Bob", "country": "DE"}
    ).is_success
    assert client.post("/v1/me/friends", headers=auth("bob"), json={"uid": "carol"}).is_success
    assert client.post("/v1/me/friends", headers=auth("carol"), json={"uid": "bob"}).is_success
    db.collection("users").document("bob").update(
        {"inventory": {"coins": 999, "items": {"crown": 1}}, "stats.best_score": 77, "stats.total_score": 500}
    )


def test_public_profile_shows_public_fields_only(client: TestClient, auth: Mint, bob: None) -> None:
    r = client.get("/v1/users/bob", headers=auth("alice"))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == PUBLIC
    assert body["display_name"] == "Bob"
    assert body["country"] == "DE"
    for private in (b"crown", b"999", b"carol", b"total_score", b"created_at", b"friends"):
        assert private not in r.content


def test_public_profile_unknown_is_404(client: TestClient, auth: Mint) -> None:
    r = client.get("/v1/users/ghost", headers=auth("alice"))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "user_not_found"


def test_public_profile_invalid_uid_is_422(client: TestClient, auth: Mint) -> None:
    assert client.get("/v1/users/bad$uid", headers=auth("alice")).status_code == 422


def test_bola_me_routes_only_ever_show_the_callers_data(
    client: TestClient, auth: Mint, bob: None, rds: redis.Redis
) -> None:
    client.get("/v1/users/bob", headers=auth("alice"))  # bob's profile is now in the cache too
    for path in ("/v1/me", "/v1/me/stats", "/v1/me/inventory"):
        r = client.get(path, headers=auth("alice"))
        assert r.status_code == 200
        assert b"crown" not in r.content
        assert b"999" not in r.content
        assert b"carol" not in r.content
    assert client.get("/v1/me", headers=auth("alice")).json()["uid"] == "alice"


def test_bola_alice_cannot_change_bobs_friends(
    client: TestClient, auth: Mint, bob: None, db: firestore.Client
) -> None:
    r = client.delete("/v1/me/friends/carol", headers=auth("alice"))
    assert r.status_code == 404
    assert db.collection("users").document("bob").get().to_dict()["friends"] == ["carol"]  # type: ignore[index]


def test_bola_patch_with_bobs_uid_changes_nothing_of_bob(
    client: TestClient, auth: Mint, bob: None, db: firestore.Client
) -> None:
    r = client.patch("/v1/me", headers=auth("alice"), json={"uid": "bob", "display_name": "Pwned"})
    assert r.status_code == 422
    assert db.collection("users").document("bob").get().to_dict()["display_name"] == "Bob"  # type: ignore[index]


def test_bola_admin_view_is_403_for_players(client: TestClient, auth: Mint, bob: None) -> None:
    r = client.get("/v1/admin/users/bob", headers=auth("alice"))
    assert r.status_code == 403
    assert b"crown" not in r.content


# --- the admin gate: role, second factor, client IP ----------------------------------------------------

ADMIN = {"role": "admin", "firebase": {"sign_in_provider": "password", "sign_in_second_factor": "totp"}}
PROXY = ("10.1.2.3", 443)
ALLOWED = "198.51.100.10"


@pytest.fixture
def admin_client(make_client: MakeClient) -> TestClient:
    return make_client(
        client_addr=PROXY, admin_ip_allowlist=f'["{ALLOWED}/32"]', trusted_proxies="10.0.0.0/8"
    )


def test_admin_sees_the_full_profile(admin_client: TestClient, auth: Mint, bob: None) -> None:
    r = admin_client.get(
        "/v1/admin/users/bob", headers={**auth("root", **ADMIN), "CF-Connecting-IP": ALLOWED}
    )
    assert r.status_code == 200
    assert r.json()["friends"] == ["carol"]
    assert r.headers["cache-control"] == "no-store"


def test_admin_unknown_user_is_404(admin_client: TestClient, auth: Mint) -> None:
    r = admin_client.get(
        "/v1/admin/users/ghost", headers={**auth("root", **ADMIN), "CF-Connecting-IP": ALLOWED}
    )
    assert r.status_code == 404


def test_admin_without_second_factor_is_403(admin_client: TestClient, auth: Mint, bob: None) -> None:
    headers = {**auth("root", role="admin"), "CF-Connecting-IP": ALLOWED}
    r = admin_client.get("/v1/admin/users/bob", headers=headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "second_factor_required"


def test_admin_from_an_address_off_the_allowlist_is_403(
    admin_client: TestClient, auth: Mint, bob: None
) -> None:
    r = admin_client.get(
        "/v1/admin/users/bob", headers={**auth("root", **ADMIN), "CF-Connecting-IP": "192.0.2.1"}
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "ip_not_allowed"


def test_admin_cf_header_from_an_untrusted_peer_is_ignored(
    make_client: MakeClient, auth: Mint, bob: None
) -> None:
    client = make_client(
        client_addr=("192.0.2.50", 443), admin_ip_allowlist=f"{ALLOWED}/32", trusted_proxies="10.0.0.0/8"
    )
    r = client.get("/v1/admin/users/bob", headers={**auth("root", **ADMIN), "CF-Connecting-IP": ALLOWED})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "ip_not_allowed"


def test_admin_role_claim_must_be_admin(admin_client: TestClient, auth: Mint, bob: None) -> None:
    claims = {**ADMIN, "role": "moderator"}
    r = admin_client.get(
        "/v1/admin/users/bob", headers={**auth("root", **claims), "CF-Connecting-IP": ALLOWED}
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
