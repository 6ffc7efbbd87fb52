"""Response compression and the rate limits around every request."""

from __future__ import annotations

from fastapi.testclient import TestClient

from scripts.services import free_port
from tests.app.conftest import MakeClient, Mint


def test_brotli_when_asked(client: TestClient) -> None:
    r = client.get("/openapi.json", headers={"Accept-Encoding": "br"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "br"
    assert r.json()["info"]["title"] == "Pot of Gold game API"


def test_gzip_fallback(client: TestClient) -> None:
    r = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"


def test_small_bodies_are_not_compressed(client: TestClient) -> None:
    assert "content-encoding" not in client.get("/healthz", headers={"Accept-Encoding": "br"}).headers


def test_per_user_limit_429_with_retry_after(make_client: MakeClient, auth: Mint) -> None:
    client = make_client(rate_limit_user="3/minute")
    for _ in range(3):
        assert client.get("/v1/me/stats", headers=auth("alice")).status_code == 200
    r = client.get("/v1/me/stats", headers=auth("alice"))
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert client.get("/v1/me/stats", headers=auth("bob")).status_code == 200  # per user


def test_per_ip_limit_429_before_the_token_is_checked(make_client: MakeClient) -> None:
    client = make_client(rate_limit_ip="2/minute")
    assert [client.get("/v1/me").status_code for _ in range(2)] == [401, 401]
    r = client.get("/v1/me")
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1


def test_per_ip_limit_counts_the_cloudflare_client_ip(make_client: MakeClient, auth: Mint) -> None:
    client = make_client(
        client_addr=("10.0.0.5", 443), trusted_proxies="10.0.0.0/8", rate_limit_ip="2/minute"
    )
    for _ in range(2):
        assert (
            client.get("/v1/me", headers={**auth("a"), "CF-Connecting-IP": "198.51.100.1"}).status_code == 200
        )
    assert client.get("/v1/me", headers={**auth("a"), "CF-Connecting-IP": "198.51.100.1"}).status_code == 429
    assert client.get("/v1/me", headers={**auth("b"), "CF-Connecting-IP": "198.51.100.2"}).status_code == 200


def test_rate_limits_count_in_memory_when_redis_is_down(make_client: MakeClient, auth: Mint) -> None:
    """Failed before issue 18: every request was allowed (the limits failed open)."""
    client = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0", rate_limit_user="1/minute")
    statuses = [client.get("/v1/me/stats", headers=auth("alice")).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
