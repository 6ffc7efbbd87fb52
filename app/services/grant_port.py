"""The one way anything gives a player currency or items: purchases, event rewards, leaderboard rewards and
admin grants all go through a ``Granter``.

The economy's grant service implements it: the inventory change, the audit entry and the marker that
``source_id`` was processed are written in one Firestore transaction, so a second request with the same
``source_id`` grants nothing, whoever sends it and however often.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class GrantSource(StrEnum):
    PURCHASE = "purchase"
    EVENT_REWARD = "event_reward"
    LEADERBOARD_REWARD = "leaderboard_reward"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class GrantRequest:
    uid: str
    source: GrantSource
    #: Unique per grant (a webhook event id, ``lb:daily:2026-11-26:global:alice``, ...).
    source_id: str
    coins: int = 0
    items: Mapping[str, int] = field(default_factory=dict)
    reason: str = ""


class GrantOutcome(StrEnum):
    GRANTED = "granted"
    #: ``source_id`` was processed before: nothing changed.
    DUPLICATE = "duplicate"
    #: A fraud check held the grant for manual review; approving it applies it once.
    HELD = "held"


class Granter(Protocol):
    async def grant(self, request: GrantRequest) -> GrantOutcome: ...
