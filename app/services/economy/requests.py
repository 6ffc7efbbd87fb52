"""What a grant is asked and what it answers: the request's checks, the outcomes, the review item's id."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from app.services.errors import Failure, ServiceError
from app.services.grant_port import GrantOutcome, GrantRequest, GrantSource

_UID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
#: Where entries about a payment for no recognisable player go (their review item names the raw id).
UNMATCHED_CHAIN = "system:unmatched"
MAX_SOURCE_ID = 512
MAX_ITEM_COUNT = 1_000_000


class Outcome(StrEnum):
    granted = "granted"
    duplicate = "duplicate"
    held = "held"
    revoked = "revoked"
    #: A revocation for a payment not seen yet: applied when the purchase arrives.
    pending = "pending"
    #: Accepted and recorded; nothing to change (informational events, sandbox in prod, ...).
    recorded = "recorded"
    #: Entitlements ended, moved or changed.
    entitlements = "entitlements"
    #: A refund reversal gave back what the refund had taken.
    restored = "restored"


#: What the ``Granter`` port answers for each outcome (anything else: DUPLICATE).
PORT_OUTCOME = {Outcome.granted: GrantOutcome.GRANTED, Outcome.held: GrantOutcome.HELD}


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    review_id: str | None = None
    #: Why a grant was held (``held`` only).
    reasons: tuple[str, ...] = ()
    #: What a revocation took back (``revoked`` only): coins, items, and the product of the payment.
    taken_coins: int = 0
    taken_items: int = 0
    product_id: str | None = None


def valid_uid(uid: str) -> bool:
    return bool(_UID.match(uid))


def review_id_for(source_id: str) -> str:
    return hashlib.sha256(source_id.encode()).hexdigest()[:24]


def check_request(request: GrantRequest) -> None:
    if not request.source_id or len(request.source_id) > MAX_SOURCE_ID:
        raise ServiceError(
            Failure.INVALID, "invalid_grant", f"source_id must have 1..{MAX_SOURCE_ID} characters"
        )
    if request.coins < 0:
        raise ServiceError(
            Failure.INVALID, "invalid_grant", "a grant cannot take coins away; revocations do that"
        )
    if any(n < 1 or n > MAX_ITEM_COUNT for n in request.items.values()):
        raise ServiceError(Failure.INVALID, "invalid_grant", f"item counts must be 1..{MAX_ITEM_COUNT}")
    if request.coins == 0 and not request.items:
        raise ServiceError(Failure.INVALID, "invalid_grant", "the grant grants nothing")


def velocity_kind(source: GrantSource) -> str | None:
    if source is GrantSource.PURCHASE:
        return "purchase"
    if source in (GrantSource.EVENT_REWARD, GrantSource.LEADERBOARD_REWARD):
        return "claim"
    return None


def velocity_key(request: GrantRequest, payment_key: str | None) -> str:
    """What the velocity counters count once: the store payment (``revenuecat:{transaction_id}``,
    ``stripe:{payment_intent}``), not the webhook event, so one payment delivered under several event ids
    is one purchase; a reward's ``source_id`` otherwise."""
    return payment_key if request.source is GrantSource.PURCHASE and payment_key else request.source_id
