"""The economy under test: the app on real redis-server and the Firestore emulator; RevenueCat's REST API
faked at the HTTP boundary (httpx.MockTransport) with payloads shaped like its documentation; Stripe
webhooks signed with the stripe library's own signing code."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import stripe
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.composition import Overrides
from app.main import create_app
from tests.app.conftest import Backends, Mint, settings_for
from tests.app.tokens import TestKey

STRIPE_SECRET = "whsec_test_current"
STRIPE_OLD_SECRET = "whsec_test_previous"
RC_AUTH = "Bearer rc-webhook-test-secret"
RC_API_KEY = "sk_test_revenuecat"
AUDIT_KEY = base64.b64encode(b"k" * 32).decode()
ADMIN_CLAIMS = {
    "role": "admin",
    "firebase": {"sign_in_provider": "password", "sign_in_second_factor": "totp"},
}
PROXY = ("10.1.2.3", 443)
ADMIN_IP = "198.51.100.10"


@dataclass
class FakeRevenueCat:
    """``GET /v1/subscribers/{id}`` as RevenueCat answers it; ``status`` forces an error answer."""

    subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: int = 200
    calls: list[str] = field(default_factory=list)
    #: The Authorization header of every call, in order. Recorded, not asserted here: an AssertionError
    #: inside a transport becomes a transport error the code under test may swallow.
    authorizations: list[str | None] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("authorization"))
        self.calls.append(request.url.path)
        if self.status != 200:
            return httpx.Response(self.status, json={"code": 7110, "message": "Internal error"})
        uid = request.url.path.rsplit("/", 1)[-1]
        subscriber = self.subscribers.get(uid)
        if subscriber is None:
            return httpx.Response(404, json={"code": 7259, "message": "Subscriber not found."})
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return httpx.Response(
            200,
            json={"request_date": now, "request_date_ms": int(time.time() * 1000), "subscriber": subscriber},
        )

    def bought(self, uid: str, store_product: str, transaction_id: str, sandbox: bool = False) -> None:
        sub = self.subscribers.setdefault(uid, _subscriber(uid))
        sub["non_subscriptions"].setdefault(store_product, []).append(
            {
                "id": uuid.uuid4().hex[:10],
                "is_sandbox": sandbox,
                "purchase_date": "2026-11-26T10:00:00Z",
                "store": "app_store",
                "store_transaction_id": transaction_id,
            }
        )

    def subscribed(self, uid: str, store_product: str, transaction_id: str, sandbox: bool = False) -> None:
        sub = self.subscribers.setdefault(uid, _subscriber(uid))
        sub["subscriptions"][store_product] = {
            "auto_resume_date": None,
            "billing_issues_detected_at": None,
            "expires_date": "2026-12-26T10:00:00Z",
            "grace_period_expires_date": None,
            "is_sandbox": sandbox,
            "original_purchase_date": "2026-11-26T10:00:00Z",
            "ownership_type": "PURCHASED",
            "period_type": "normal",
            "purchase_date": "2026-11-26T10:00:00Z",
            "refunded_at": None,
            "store": "app_store",
            "store_transaction_id": transaction_id,
            "unsubscribe_detected_at": None,
        }


def _subscriber(uid: str) -> dict[str, Any]:
    return {
        "entitlements": {},
        "first_seen": "2026-11-20T10:00:00Z",
        "last_seen": "2026-11-26T10:00:00Z",
        "management_url": None,
        "non_subscriptions": {},
        "original_app_user_id": uid,
        "original_application_version": "1.0",
        "original_purchase_date": "2026-11-20T10:00:00Z",
        "other_purchases": {},
        "subscriptions": {},
    }


@pytest.fixture
def revenuecat() -> Iterator[FakeRevenueCat]:
    fake = FakeRevenueCat()
    yield fake
    # After the test: every call the app made carried the API key.
    assert set(fake.authorizations) <= {f"Bearer {RC_API_KEY}"}, fake.authorizations


EconClient = Callable[..., TestClient]


@pytest.fixture
def make_econ(
    backends: Backends, signing_key: TestKey, clean: None, revenuecat: FakeRevenueCat
) -> Iterator[EconClient]:
    with ExitStack() as stack:

        def make(
            client_addr: tuple[str, int] = PROXY, stripe_http_client: Any = None, **overrides: Any
        ) -> TestClient:
            values: dict[str, Any] = {
                "stripe_webhook_secret": STRIPE_SECRET,
                "revenuecat_webhook_auth": RC_AUTH,
                "revenuecat_api_key": RC_API_KEY,
                "audit_local_key": AUDIT_KEY,
                "admin_ip_allowlist": f'["{ADMIN_IP}/32"]',
                "trusted_proxies": "10.0.0.0/8",
                "rate_limit_user": "100000/minute",
                "rate_limit_ip": "100000/minute",
                "fraud_country_check": True,
            }
            values.update(overrides)
            transport = httpx.MockTransport(revenuecat.handle)
            fakes = Overrides(revenuecat_transport=transport, stripe_http_client=stripe_http_client)
            app = create_app(settings_for(backends, **values), fakes)
            return stack.enter_context(TestClient(app, client=client_addr))

        yield make


@pytest.fixture
def econ(make_econ: EconClient) -> TestClient:
    return make_econ()


# --- players -------------------------------------------------------------------------------------------


def player(client: TestClient, auth: Mint, uid: str, country: str | None = None) -> dict[str, str]:
    """Create the player's profile through the API (as the app does on first sight); their headers."""
    headers = auth(uid)
    assert client.get("/v1/me", headers=headers).status_code == 200
    if country is not None:
        assert client.patch("/v1/me", headers=headers, json={"country": country}).status_code == 200
    return headers


def admin_headers(auth: Mint, uid: str = "root", **claims: Any) -> dict[str, str]:
    return {**auth(uid, **{**ADMIN_CLAIMS, **claims}), "CF-Connecting-IP": ADMIN_IP}


# --- reading the database directly -----------------------------------------------------------------------


def user_doc(db: firestore.Client, uid: str) -> dict[str, Any]:
    data = db.collection("users").document(uid).get().to_dict()
    assert data is not None
    return data


def coins(db: firestore.Client, uid: str) -> int:
    return int(user_doc(db, uid)["inventory"]["coins"])


def entries(db: firestore.Client, uid: str, kind: str | None = None) -> list[dict[str, Any]]:
    docs = [
        d.to_dict() or {}
        for d in db.collection("transactions").where(filter=firestore.FieldFilter("uid", "==", uid)).stream()
    ]
    docs = [d for d in docs if kind is None or d["kind"] == kind]
    return sorted(docs, key=lambda d: d["seq"])


def review_items(db: firestore.Client) -> list[dict[str, Any]]:
    return [d.to_dict() or {} for d in db.collection("review_queue").stream()]


# --- Stripe --------------------------------------------------------------------------------------------


def stripe_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    return orjson.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2025-10-29.clover",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": obj},
        }
    )


def checkout_session(
    uid: str,
    payment_intent: str,
    product: str = "coins_100",
    amount: int = 99,
    currency: str = "usd",
    status: str = "paid",
    country: str | None = "IE",
) -> dict[str, Any]:
    return {
        "id": f"cs_test_{uuid.uuid4().hex[:24]}",
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "client_reference_id": uid,
        "currency": currency,
        "customer": "cus_test123",
        "customer_details": {
            "address": {"country": country, "postal_code": None},
            "email": f"{uid}@example.com",
            "name": "Test Player",
        },
        "livemode": False,
        "metadata": {"product_id": product},
        "mode": "payment",
        "payment_intent": payment_intent,
        "payment_status": status,
        "status": "complete",
    }


def charge_refunded(
    payment_intent: str, amount: int = 99, full: bool = True, refunded: int | None = None
) -> dict[str, Any]:
    """A Charge after a refund: ``amount_refunded`` is the charge's running total (``refunded`` sets it
    for a partial refund; the default partial refund is half the amount)."""
    if refunded is None:
        refunded = amount if full else amount // 2
    return {
        "id": f"ch_{payment_intent.removeprefix('pi_')}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "usd",
        "payment_intent": payment_intent,
        "refunded": refunded >= amount,
        "status": "succeeded",
    }


def dispute(payment_intent: str, amount: int = 99) -> dict[str, Any]:
    return {
        "id": f"dp_{uuid.uuid4().hex[:24]}",
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_{uuid.uuid4().hex[:24]}",
        "currency": "usd",
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": "needs_response",
    }


def sign(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    header: str = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)
    return header


def post_stripe(client: TestClient, body: bytes, header: str | None = None, **kw: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    signature = sign(body) if header is None else header
    if signature:
        headers["Stripe-Signature"] = signature
    response: httpx.Response = client.post("/v1/webhooks/stripe", content=body, headers=headers, **kw)
    return response


# --- RevenueCat ----------------------------------------------------------------------------------------


def rc_event(event_type: str, uid: str | None = "alice", **fields: Any) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    transaction = fields.pop("transaction_id", str(int(time.time() * 1e6)))
    event: dict[str, Any] = {
        "aliases": [uid] if uid else [],
        "app_id": "app1234567890",
        "app_user_id": uid,
        "commission_percentage": 0.3,
        "country_code": "IE",
        "currency": "USD",
        "entitlement_id": None,
        "entitlement_ids": None,
        "environment": "PRODUCTION",
        "event_timestamp_ms": now_ms,
        "expiration_at_ms": None,
        "id": str(uuid.uuid4()).upper(),
        "is_family_share": False,
        "offer_code": None,
        "original_app_user_id": uid,
        "original_transaction_id": transaction,
        "period_type": "NORMAL",
        "presented_offering_id": "default",
        "price": 0.99,
        "price_in_purchased_currency": 0.99,
        "product_id": "com.potofgold.coins100",
        "purchased_at_ms": now_ms,
        "store": "APP_STORE",
        "subscriber_attributes": {},
        "takehome_percentage": 0.7,
        "tax_percentage": 0.0,
        "transaction_id": transaction,
        "type": event_type,
    }
    event.update(fields)
    return event


def post_rc(client: TestClient, event: dict[str, Any], auth_header: str | None = RC_AUTH) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if auth_header is not None:
        headers["Authorization"] = auth_header
    body = orjson.dumps({"api_version": "1.0", "event": event})
    response: httpx.Response = client.post("/v1/webhooks/revenuecat", content=body, headers=headers)
    return response
