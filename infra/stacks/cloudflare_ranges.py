"""Cloudflare's edge IP ranges: the only sources the load balancer accepts requests from.

Source: https://www.cloudflare.com/ips/ (plain lists: https://www.cloudflare.com/ips-v4 and
https://www.cloudflare.com/ips-v6; the same data as JSON: https://api.cloudflare.com/client/v4/ips).
These match the lists as published in 2026; Cloudflare announces changes ahead of time, and rarely.

To refresh: `curl -s https://www.cloudflare.com/ips-v4; curl -s https://www.cloudflare.com/ips-v6`, paste
the lines below in the published order, then run `pog diff` to review the Cloud Armor rules that change.
A range missing here makes Cloud Armor answer 403 to the visitors Cloudflare serves from it.
"""

from __future__ import annotations

CLOUDFLARE_IPV4: tuple[str, ...] = (
    "173.245.48.0/20",
    "103.21.244.0/22",
    "103.22.200.0/22",
    "103.31.4.0/22",
    "141.101.64.0/18",
    "108.162.192.0/18",
    "190.93.240.0/20",
    "188.114.96.0/20",
    "197.234.240.0/22",
    "198.41.128.0/17",
    "162.158.0.0/15",
    "104.16.0.0/13",
    "104.24.0.0/14",
    "172.64.0.0/13",
    "131.0.72.0/22",
)

CLOUDFLARE_IPV6: tuple[str, ...] = (
    "2400:cb00::/32",
    "2606:4700::/32",
    "2803:f800::/32",
    "2405:b500::/32",
    "2405:8100::/32",
    "2a06:98c0::/29",
    "2c0f:f248::/32",
)
