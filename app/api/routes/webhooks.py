"""Payment webhooks: RevenueCat and Stripe. HTTP only: verification and handling are in the services.

A delivery is answered 200 only after its effect (or its record) has committed; any other status makes
the provider retry, and the retry is deduplicated on the event id.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Header, Request
from pydantic import BaseModel

from app.api.deps import ContainerDep
from app.api.errors import service_errors
from app.api.routing import Router
from app.services.errors import Failure
from app.services.payments_verify import (
    WebhookRejectedError,
    verify_revenuecat,
    verify_stripe,
    webhook_secrets,
)

router = Router(prefix="/v1/webhooks", tags=["webhooks"])

_JSON_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}


class WebhookAck(BaseModel):
    received: bool = True
    #: granted, duplicate, held, revoked, pending, recorded or entitlements
    outcome: str


@router.post("/revenuecat", responses=service_errors(400, 401, 503), openapi_extra=_JSON_BODY)
async def revenuecat_webhook(
    request: Request,
    c: ContainerDep,
    authorization: Annotated[str | None, Header()] = None,
) -> WebhookAck:
    """RevenueCat's webhook (the Authorization header configured there must match exactly)."""
    expected = c.settings.revenuecat_webhook_auth
    verify_revenuecat(authorization, expected.get_secret_value() if expected else None)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise WebhookRejectedError(Failure.MALFORMED, "bad_payload", "the body is not JSON") from exc
    if not isinstance(body, dict):
        raise WebhookRejectedError(Failure.MALFORMED, "bad_payload", "the body is not a RevenueCat webhook")
    result = await c.payments.revenuecat(body)
    return WebhookAck(outcome=result.outcome.value)


@router.post("/stripe", responses=service_errors(400, 401, 503), openapi_extra=_JSON_BODY)
async def stripe_webhook(
    request: Request,
    c: ContainerDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookAck:
    """Stripe's webhook endpoint (signature checked on the raw body)."""
    secret = c.settings.stripe_webhook_secret
    secrets = webhook_secrets(secret.get_secret_value() if secret else None)
    event = verify_stripe(await request.body(), stripe_signature, secrets)
    result = await c.payments.stripe(event)
    return WebhookAck(outcome=result.outcome.value)
