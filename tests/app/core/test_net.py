from __future__ import annotations

from ipaddress import ip_address, ip_network

from app.core.net import client_ip

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
