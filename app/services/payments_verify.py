"""Webhook authenticity: Stripe signatures (the stripe library) and RevenueCat's shared header.

Stripe: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of ``"{t}.{raw body}"`` with the
endpoint secret, checked by ``stripe.WebhookSignature.verify_header`` on the raw bytes (constant time,
300 s tolerance for old timestamps). The library accepts any timestamp in the future; a replayed or
forged header dated ahead is refused here. During a secret rotation Stripe signs with both secrets (two
``v1`` values) and ``POG_STRIPE_WEBHOOK_SECRET`` may list both: any configured secret matching passes.

RevenueCat has no signature: the Authorization header configured on its webhook is compared in constant
time with ``POG_REVENUECAT_WEBHOOK_AUTH``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from app.services.errors import Failure, ServiceError

log = logging.getLogger("app.payments")

TOLERANCE_S = 300
MAX_HEADER = 2048


class WebhookRejectedError(ServiceError):
    """Not an authentic, current delivery: nothing is processed."""


def webhook_secrets(configured: str | None) -> list[str]:
    return [s.strip() for s in (configured or "").split(",") if s.strip()]


def _timestamp(header: str) -> int:
    for part in header.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "t":
            return int(value)
    raise ValueError("no timestamp")


def verify_stripe(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The verified event as a dict; ``WebhookRejectedError`` otherwise (401: not authentic or not current,
    400: authentic but not an event). With no secret configured nothing verifies (logged as an error)."""
    # Imported here, not at module import, to keep it off the API's cold start; the composition root builds
    # the Stripe checkout (which imports stripe) at start-up, so no webhook waits for this import.
    import stripe

    if not secrets:
        log.error("POG_STRIPE_WEBHOOK_SECRET is not set", extra={"event": "webhook_not_configured"})
    if not header:
        raise WebhookRejectedError(
            Failure.UNAUTHENTICATED, "missing_signature", "the Stripe-Signature header is missing"
        )
    if len(header) > MAX_HEADER:
        raise WebhookRejectedError(
            Failure.UNAUTHENTICATED, "bad_signature", "the Stripe-Signature header is too long"
        )
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(body, header, secret, TOLERANCE_S)
        except stripe.SignatureVerificationError as exc:
            if "tolerance" in str(exc):
                message = "the signature's timestamp is too old"
                raise WebhookRejectedError(Failure.UNAUTHENTICATED, "stale_signature", message) from exc
            continue
        except (UnicodeDecodeError, ValueError) as exc:
            message = "the body or the signature is malformed"
            raise WebhookRejectedError(Failure.UNAUTHENTICATED, "bad_signature", message) from exc
        break
    else:
        raise WebhookRejectedError(Failure.UNAUTHENTICATED, "bad_signature", "no signature matches the body")
    if _timestamp(header) > clock() + TOLERANCE_S:
        raise WebhookRejectedError(
            Failure.UNAUTHENTICATED, "future_signature", "the signature's timestamp is in the future"
        )
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookRejectedError(Failure.MALFORMED, "bad_payload", "the body is not JSON") from exc
    if not isinstance(event, dict):
        raise WebhookRejectedError(Failure.MALFORMED, "bad_payload", "the body is not a Stripe event")
    return event


def verify_revenuecat(header: str | None, expected: str | None) -> None:
    if not header:
        raise WebhookRejectedError(
            Failure.UNAUTHENTICATED, "missing_authorization", "the Authorization header is missing"
        )
    if not expected:
        log.error("POG_REVENUECAT_WEBHOOK_AUTH is not set", extra={"event": "webhook_not_configured"})
    if not expected or not hmac.compare_digest(header.encode(), expected.encode()):
        raise WebhookRejectedError(
            Failure.UNAUTHENTICATED, "bad_authorization", "the Authorization header does not match"
        )
