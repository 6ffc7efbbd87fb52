from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from scripts.services import free_port
from tests.app.conftest import MakeClient, Mint


def _doc(db: firestore.Client, uid: str) -> dict[str, object]:
    snap = db.collection("users").document(uid).get()
    assert snap.exists
    data = snap.to_dict()
    assert data is not None
    return data


# --- GET /v1/me --------------------------------------------------------------------------------------


def test_get_me_creates_the_profile_on_first_sight(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    r = client.get("/v1/me", headers=auth("alice", name="Alice"))
    assert r.status_code == 200
    body = r.json()
    assert body["uid"] == "alice"
    assert body["display_name"] == "Alice"
    assert body["stats"] == {"games_played": 0, "best_score": 0, "total_score": 0}
    assert "inventory" not in body
    assert _doc(db, "alice")["inventory"] == {"coins": 0, "items": {}}


def test_get_me_is_cached_in_redis_for_24_h(client: TestClient, auth: Mint, rds: redis.Redis) -> None:
    r = client.get("/v1/me", headers=auth("alice"))
    assert r.status_code == 200
    assert rds.get("user:alice:profile") == r.content
    assert 86_000 < rds.ttl("user:alice:profile") <= 86_400


def test_get_me_serves_the_cache(
    client: TestClient, auth: Mint, rds: redis.Redis, db: firestore.Client
) -> None:
    client.get("/v1/me", headers=auth("alice"))
    db.collection("users").document("alice").update({"display_name": "Changed behind the cache"})
    assert client.get("/v1/me", headers=auth("alice")).json()["display_name"] != "Changed behind the cache"
    rds.delete("user:alice:profile")
    assert client.get("/v1/me", headers=auth("alice")).json()["display_name"] == "Changed behind the cache"


def test_get_me_etag_and_304(client: TestClient, auth: Mint) -> None:
    first = client.get("/v1/me", headers=auth("alice"))
    assert first.headers["cache-control"] == "private, max-age=60"
    tag = first.headers["etag"]
    again = client.get("/v1/me", headers={**auth("alice"), "If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    stale = client.get("/v1/me", headers={**auth("alice"), "If-None-Match": '"other"'})
    assert stale.status_code == 200


def test_a_known_token_takes_the_fast_path_with_the_same_answers(make_client: MakeClient, auth: Mint) -> None:
    """The first request verifies the token (full path); later ones are answered before FastAPI solves
    dependencies (app/api/fast_path.py): same body and headers, 304, and the limits still apply."""
    client = make_client(rate_limit_user="3/minute")
    headers = auth("alice", name="Alice")
    first = client.get("/v1/me", headers=headers)
    second = client.get("/v1/me", headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == first.content
    for name in ("etag", "cache-control", "content-type"):
        assert second.headers[name] == first.headers[name], name
    unchanged = client.get("/v1/me", headers={**headers, "If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304
    limited = client.get("/v1/me", headers=headers)
    assert limited.status_code == 429, limited.text
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    # A bad token never reaches the fast path's answer: 401, not the cached profile.
    assert client.get("/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_a_refused_fast_path_request_writes_nothing(
    make_client: MakeClient, auth: Mint, db: firestore.Client, rds: redis.Redis
) -> None:
    """The fast path reads the cache beside the limits; a miss may create the profile only once admitted."""
    client = make_client(rate_limit_user="1/minute")
    headers = auth("alice")
    assert client.get("/v1/me", headers=headers).status_code == 200
    db.collection("users").document("alice").delete()
    rds.delete("user:alice:profile")
    assert client.get("/v1/me", headers=headers).status_code == 429
    assert not db.collection("users").document("alice").get().exists


def test_etag_changes_after_a_patch(client: TestClient, auth: Mint) -> None:
    tag = client.get("/v1/me", headers=auth("alice")).headers["etag"]
    client.patch("/v1/me", headers=auth("alice"), json={"display_name": "Alice"})
    r = client.get("/v1/me", headers={**auth("alice"), "If-None-Match": tag})
    assert r.status_code == 200
    assert r.headers["etag"] != tag


def test_get_me_works_while_redis_is_down(make_client: MakeClient, auth: Mint, db: firestore.Client) -> None:
    client = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    r = client.get("/v1/me", headers=auth("alice"))
    assert r.status_code == 200
    assert _doc(db, "alice")["uid"] == "alice"
    assert client.patch("/v1/me", headers=auth("alice"), json={"country": "IE"}).status_code == 200
    assert _doc(db, "alice")["country"] == "IE"


# --- PATCH /v1/me ------------------------------------------------------------------------------------


def test_patch_me_updates_firestore_and_invalidates_the_cache(
    client: TestClient, auth: Mint, db: firestore.Client, rds: redis.Redis
) -> None:
    client.get("/v1/me", headers=auth("alice"))
    r = client.patch(
        "/v1/me", headers=auth("alice"), json={"display_name": "Alice", "country": "IE", "avatar_id": "fox_2"}
    )
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.json()["display_name"] == "Alice"
    data = _doc(db, "alice")
    assert (data["display_name"], data["country"], data["avatar_id"]) == ("Alice", "IE", "fox_2")
    cached = rds.get("user:alice:profile")
    assert cached is not None
    assert b'"Alice"' in cached
    assert client.get("/v1/me", headers=auth("alice")).json()["country"] == "IE"


def test_patch_me_can_clear_the_country(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    client.patch("/v1/me", headers=auth("alice"), json={"country": "FR"})
    assert client.patch("/v1/me", headers=auth("alice"), json={"country": None}).status_code == 200
    assert _doc(db, "alice")["country"] is None


@pytest.mark.parametrize(
    "extra",
    [{"role": "admin"}, {"coins": 1_000_000}, {"uid": "bob"}, {"inventory": {"coins": 5}},
     {"stats": {"best_score": 10**9}}, {"friends": ["x"]}, {"created_at": "2000-01-01T00:00:00Z"}],
    ids=["role", "coins", "uid", "inventory", "stats", "friends", "created_at"],
)  # fmt: skip
def test_mass_assignment_is_rejected_and_nothing_is_persisted(
    client: TestClient, auth: Mint, db: firestore.Client, extra: dict[str, object]
) -> None:
    before = client.get("/v1/me", headers=auth("alice")).json()
    r = client.patch("/v1/me", headers=auth("alice"), json={"display_name": "Mallory", **extra})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    data = _doc(db, "alice")
    assert data["display_name"] == before["display_name"]
    assert data["inventory"] == {"coins": 0, "items": {}}
    assert "role" not in data
    assert client.get("/v1/me", headers=auth("alice")).json() == before


@pytest.mark.parametrize(
    "body",
    [{"country": "ie"}, {"country": "XX"}, {"country": "IRL"}, {"country": 1}, {"display_name": "a"},
     {"display_name": "x" * 33}, {"display_name": "tab\there"}, {"display_name": 5},
     {"avatar_id": "Not Valid!"}, {"avatar_id": "a" * 33}],
    ids=["country-lower", "country-unknown", "country-alpha3", "country-int", "name-short", "name-long",
         "name-control-char", "name-int", "avatar-chars", "avatar-long"],
)  # fmt: skip
def test_patch_me_rejects_invalid_values(
    client: TestClient, auth: Mint, db: firestore.Client, body: dict[str, object]
) -> None:
    r = client.patch("/v1/me", headers=auth("alice"), json=body)
    assert r.status_code == 422, r.text
    assert not db.collection("users").document("alice").get().exists or _doc(db, "alice")["country"] is None


def test_patch_me_null_display_name_leaves_it_as_is(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    """Found by schemathesis: a null name used to be stored, and every later read of the profile failed."""
    client.patch("/v1/me", headers=auth("alice"), json={"display_name": "Alice", "country": "IE"})
    r = client.patch("/v1/me", headers=auth("alice"), json={"display_name": None, "country": None})
    assert r.status_code == 200, r.text
    assert (r.json()["display_name"], r.json()["country"]) == ("Alice", None)
    assert _doc(db, "alice")["display_name"] == "Alice"
    assert client.get("/v1/me", headers=auth("alice")).status_code == 200


def test_patch_me_rejects_a_non_object_body(client: TestClient, auth: Mint) -> None:
    assert client.patch("/v1/me", headers=auth("alice"), json=["display_name"]).status_code == 422


def test_patch_me_rejects_malformed_json(client: TestClient, auth: Mint) -> None:
    r = client.patch(
        "/v1/me", headers={**auth("alice"), "Content-Type": "application/json"}, content=b'{"display_name": '
    )
    assert r.status_code == 422


def test_patch_me_413_on_an_oversized_body(make_client: MakeClient, auth: Mint, db: firestore.Client) -> None:
    client = make_client(max_body_bytes=1024)
    r = client.patch("/v1/me", headers=auth("alice"), json={"display_name": "x" * 2000})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert not db.collection("users").document("alice").get().exists


def test_patch_me_413_on_an_oversized_streamed_body(make_client: MakeClient, auth: Mint) -> None:
    client = make_client(max_body_bytes=1024)

    def chunks() -> object:
        yield b'{"display_name": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'"}'

    headers = {**auth("alice"), "Content-Type": "application/json"}
    r = client.patch("/v1/me", headers=headers, content=chunks())  # type: ignore[arg-type]
    assert r.status_code == 413


# --- GET /v1/me/stats, /v1/me/inventory ---------------------------------------------------------------


def test_stats(client: TestClient, auth: Mint, db: firestore.Client, rds: redis.Redis) -> None:
    client.get("/v1/me", headers=auth("alice"))
    db.collection("users").document("alice").update({"stats.best_score": 420, "stats.games_played": 3})
    rds.delete("user:alice:profile")
    r = client.get("/v1/me/stats", headers=auth("alice"))
    assert r.status_code == 200
    assert r.json() == {"games_played": 3, "best_score": 420, "total_score": 0}


def test_inventory_is_read_from_firestore_and_cached_5_min(
    client: TestClient, auth: Mint, db: firestore.Client, rds: redis.Redis
) -> None:
    client.get("/v1/me", headers=auth("alice"))
    db.collection("users").document("alice").update({"inventory": {"coins": 100, "items": {"shovel": 2}}})
    r = client.get("/v1/me/inventory", headers=auth("alice"))
    assert r.status_code == 200
    assert r.json() == {"coins": 100, "items": {"shovel": 2}}
    assert 290 < rds.ttl("user:alice:inventory") <= 300


def test_inventory_of_a_new_player_is_empty(client: TestClient, auth: Mint) -> None:
    r = client.get("/v1/me/inventory", headers=auth("newbie"))
    assert r.status_code == 200
    assert r.json() == {"coins": 0, "items": {}}


@pytest.mark.parametrize("method", ["PATCH", "PUT", "POST", "DELETE"])
def test_inventory_is_not_writable_by_clients(client: TestClient, auth: Mint, method: str) -> None:
    r = client.request(method, "/v1/me/inventory", headers=auth("alice"), json={"coins": 10**6})
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
