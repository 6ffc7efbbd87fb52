from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from app.core.net import client_ip

pytestmark = pytest.mark.unit

TRUSTED = [ip_network("10.0.0.0/8")]


def test_cf_header_is_used_behind_a_trusted_proxy() -> None:
    assert client_ip("10.1.1.1", "198.51.100.7", TRUSTED) == ip_address("198.51.100.7")


def test_cf_header_is_ignored_from_an_untrusted_peer() -> None:
    assert client_ip("192.0.2.9", "198.51.100.7", TRUSTED) == ip_address("192.0.2.9")


def test_garbage_cf_header_falls_back_to_the_peer() -> None:
    assert client_ip("10.1.1.1", "nonsense", TRUSTED) == ip_address("10.1.1.1")


def test_unparseable_peer_is_none() -> None:
    assert client_ip("testclient", "198.51.100.7", TRUSTED) is None
    assert client_ip(None, None, TRUSTED) is None


# --- behind Google's external Application Load Balancer (Cloud Run): forwarded_for_hops=1 -------------

CLOUDFLARE = [ip_network("162.158.0.0/15"), ip_network("2400:cb00::/32")]
LB = "34.117.1.2"  # the forwarding rule's address, appended last by the load balancer
RUN_PEER = "169.254.1.1"  # what the container sees as the socket's peer on Cloud Run: meaningless


def behind_lb(forwarded_for: str | None, cf: str | None = "198.51.100.7") -> object:
    return client_ip(RUN_PEER, cf, CLOUDFLARE, forwarded_for, forwarded_for_hops=1)


def test_lb_entry_from_cloudflare_trusts_the_cf_header() -> None:
    # Cloudflare appended the client, the load balancer appended Cloudflare's edge and itself.
    assert behind_lb(f"198.51.100.7, 162.158.4.5, {LB}") == ip_address("198.51.100.7")
    assert behind_lb(f"2400:cb00::9, {LB}") == ip_address("198.51.100.7")


def test_forged_entries_left_of_the_lb_entry_are_not_believed() -> None:
    # A client that sends X-Forwarded-For naming a Cloudflare address and a CF header of its choice,
    # straight to the load balancer: the load balancer's own entry is the client's real address.
    forged = f"162.158.4.5, 162.158.4.6, 192.0.2.50, {LB}"
    assert behind_lb(forged, cf="203.0.113.99") == ip_address("192.0.2.50")


def test_socket_peer_is_ignored_behind_the_lb() -> None:
    # Even a trusted-looking socket peer does not count when the load balancer's entry is used.
    assert client_ip("162.158.0.1", "198.51.100.7", CLOUDFLARE, f"192.0.2.50, {LB}", 1) == ip_address(
        "192.0.2.50"
    )


def test_missing_or_short_forwarded_for_is_no_address() -> None:
    assert behind_lb(None) is None
    assert behind_lb(LB) is None  # one entry: not what the load balancer writes
    assert behind_lb(f"garbage, {LB}") is None


def test_repeated_headers_are_read_joined_in_order() -> None:
    joined = ",".join(["203.0.113.1", f"162.158.4.5, {LB}"])
    assert behind_lb(joined) == ip_address("198.51.100.7")


def test_hops_zero_keeps_the_socket_peer() -> None:
    assert client_ip("10.1.1.1", "198.51.100.7", TRUSTED, f"192.0.2.50, {LB}", 0) == ip_address(
        "198.51.100.7"
    )
