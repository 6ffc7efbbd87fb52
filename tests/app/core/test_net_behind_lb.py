"""The client IP on Cloud Run behind Google's load balancer (POG_FORWARDED_FOR_HOPS=1): the per-IP limit
and the admin allowlist go by Cloudflare's header only when the load balancer's own X-Forwarded-For entry
is a Cloudflare address; forged entries to its left count for nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.app.conftest import MakeClient, Mint

RUN_PEER = ("169.254.1.1", 443)  # the socket's peer on Cloud Run: Google's infrastructure
CLOUDFLARE = '["162.158.0.0/15", "2400:cb00::/32"]'
LB = "34.117.1.2"
EDGE = "162.158.4.5"
ADMIN = {"role": "admin", "firebase": {"sign_in_provider": "password", "sign_in_second_factor": "totp"}}


def via_cloudflare(client_ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": f"{client_ip}, {EDGE}, {LB}", "CF-Connecting-IP": client_ip}


def lb_client(make_client: MakeClient, **overrides: str) -> TestClient:
    return make_client(client_addr=RUN_PEER, trusted_proxies=CLOUDFLARE, forwarded_for_hops=1, **overrides)


def test_per_ip_limit_counts_cloudflares_client(make_client: MakeClient, auth: Mint) -> None:
    client = lb_client(make_client, rate_limit_ip="2/minute")
    first = via_cloudflare("198.51.100.1")
    assert [client.get("/v1/me", headers={**auth("a"), **first}).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    # Another visitor behind the same Cloudflare edge and the same socket peer has a budget of their own.
    assert client.get("/v1/me", headers={**auth("b"), **via_cloudflare("198.51.100.2")}).status_code == 200


def test_forged_forwarding_headers_count_against_the_real_address(
    make_client: MakeClient, auth: Mint
) -> None:
    client = lb_client(make_client, rate_limit_ip="2/minute")

    def forged(claimed: str) -> dict[str, str]:
        # Straight to the load balancer from 192.0.2.50, claiming to be Cloudflare relaying `claimed`.
        return {"X-Forwarded-For": f"{claimed}, {EDGE}, 192.0.2.50, {LB}", "CF-Connecting-IP": claimed}

    statuses = [client.get("/v1/me", headers={**auth(f"u{i}"), **forged(f"203.0.113.{i}")}) for i in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]  # one budget: 192.0.2.50's


def test_admin_allowlist_uses_cloudflares_client(make_client: MakeClient, auth: Mint) -> None:
    client = lb_client(make_client, admin_ip_allowlist='["198.51.100.9/32"]')
    r = client.get(
        "/v1/admin/users/root", headers={**auth("root", **ADMIN), **via_cloudflare("198.51.100.9")}
    )
    assert r.status_code == 404, r.text  # past the gate: root has no profile
    assert r.json()["error"]["code"] == "user_not_found"
    elsewhere = client.get(
        "/v1/admin/users/root", headers={**auth("root", **ADMIN), **via_cloudflare("192.0.2.1")}
    )
    assert elsewhere.status_code == 403
    assert elsewhere.json()["error"]["code"] == "ip_not_allowed"


def test_admin_allowlist_is_not_fooled_by_a_forged_chain(make_client: MakeClient, auth: Mint) -> None:
    client = lb_client(make_client, admin_ip_allowlist='["198.51.100.9/32"]')
    forged = {
        "X-Forwarded-For": f"198.51.100.9, {EDGE}, 192.0.2.50, {LB}",
        "CF-Connecting-IP": "198.51.100.9",
    }
    r = client.get("/v1/admin/users/root", headers={**auth("root", **ADMIN), **forged})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "ip_not_allowed"


def test_no_forwarded_for_is_no_admin(make_client: MakeClient, auth: Mint) -> None:
    client = lb_client(make_client, admin_ip_allowlist='["198.51.100.9/32"]')
    r = client.get(
        "/v1/admin/users/root", headers={**auth("root", **ADMIN), "CF-Connecting-IP": "198.51.100.9"}
    )
    assert r.status_code == 403
