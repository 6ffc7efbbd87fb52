"""Presence lives on the Realtime Database (docs/realtime.md): each client writes its own node, friends
read it there. The API only says where: the caller's shard, and where each mutual friend's node is.

``POST /v1/presence/heartbeat`` is gone (410): ``HEARTBEAT_GONE`` is what it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.realtime import Location

HEARTBEAT_GONE = (
    "presence moved to the Realtime Database: write your own /presence/{uid} node on your shard (with "
    "onDisconnect) and read your friends' there; GET /v1/me/realtime says where"
)


@dataclass(frozen=True, slots=True)
class RealtimeSetup:
    """``GET /v1/me/realtime``: the caller's shard and nodes, and every shard's URL (shard order)."""

    presence: Location
    messages: Location
    database_urls: tuple[str, ...]
