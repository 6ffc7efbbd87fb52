"""The client's IP: Cloudflare's ``CF-Connecting-IP`` only when the direct peer is a trusted proxy."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Address = IPv4Address | IPv6Address


def _parse(value: str | None) -> Address | None:
    if not value:
        return None
    try:
        return ip_address(value.strip())
    except ValueError:
        return None


def client_ip(
    peer: str | None, cf_connecting_ip: str | None, trusted: Sequence[IPv4Network | IPv6Network]
) -> Address | None:
    direct = _parse(peer)
    if direct is None:
        return None
    if any(direct in net for net in trusted):
        forwarded = _parse(cf_connecting_ip)
        if forwarded is not None:
            return forwarded
    return direct
