"""The client's IP: Cloudflare's ``CF-Connecting-IP`` only when the request came from a trusted proxy.

"Came from" is the address that opened the connection to our own front door. Without a load balancer of
ours in front (``forwarded_for_hops`` 0) that is the socket's peer. On Cloud Run the socket's peer is
Google's serving infrastructure, the same for every request, so it says nothing; Google's external
Application Load Balancer instead appends ``<address it was connected from>, <its own address>`` to
``X-Forwarded-For``. Entries to the left of those two are whatever the client (or Cloudflare) sent and
are never believed; the entry ``forwarded_for_hops`` places from the right end was written by the load
balancer itself, from the TCP connection, and cannot be forged while the service takes traffic only from
the load balancer (the Cloud Run ingress setting). When that address is one of Cloudflare's (the trusted
proxies), Cloudflare's ``CF-Connecting-IP`` names the client; otherwise that address is the client.
"""

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


def connecting_address(peer: str | None, forwarded_for: str | None, hops: int) -> Address | None:
    """The address that connected to our front door: the socket's peer, or the load balancer's entry.

    ``forwarded_for`` is every ``X-Forwarded-For`` header joined with commas, in order. None when the
    header is shorter than the load balancer makes it (the request did not come through it).
    """
    if hops == 0:
        return _parse(peer)
    entries = (forwarded_for or "").split(",")
    if len(entries) < hops + 1:
        return None
    return _parse(entries[-(hops + 1)])


def from_trusted_proxy(direct: Address | None, trusted: Sequence[IPv4Network | IPv6Network]) -> bool:
    """Whether the front door's caller is a trusted proxy (Cloudflare): only then are the headers it sets
    (``CF-Connecting-IP``, ``CF-IPCountry``) believed."""
    return direct is not None and any(direct in net for net in trusted)


def client_ip(
    peer: str | None,
    cf_connecting_ip: str | None,
    trusted: Sequence[IPv4Network | IPv6Network],
    forwarded_for: str | None = None,
    forwarded_for_hops: int = 0,
) -> Address | None:
    direct = connecting_address(peer, forwarded_for, forwarded_for_hops)
    if direct is None:
        return None
    if from_trusted_proxy(direct, trusted):
        forwarded = _parse(cf_connecting_ip)
        if forwarded is not None:
            return forwarded
    return direct
