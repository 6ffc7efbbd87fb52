"""Presence: a player is online while their heartbeats keep arriving within the TTL.

Clients send ``POST /v1/presence/heartbeat`` every ``ttl_s / 2`` seconds or so; a player whose last heartbeat
is older than the TTL is offline (the key expired).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STATUSES = ("online", "in_game", "away")
DEFAULT_TTL_S = 60


@dataclass(frozen=True, slots=True)
class Heartbeat:
    status: str
    at: datetime
