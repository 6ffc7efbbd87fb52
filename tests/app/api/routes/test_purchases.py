"""POST /v1/purchases/stripe/checkout: the Checkout Session request the stripe library sends, and that the
session it creates is exactly what the Stripe webhook grants.

Stripe is faked at the stripe library's HTTP boundary (a ``stripe.HTTPClient`` of our own, handed to the
app through ``Overrides.stripe_http_client``): the library builds every request itself. The fake only
records requests and answers like Stripe's API (a session echoing what was sent, the same session for a
repeated Idempotency-Key); the assertions run afterwards, in the test.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
import stripe
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.domain.catalog import load_catalog
from app.services.payments_checkout import CHECKOUT_WINDOW_S, idempotency_key, web_price_id
from tests.app.conftest import Mint
from tests.app.fixtures.payments import (
    EconClient,
    coins,
    entries,
    player,
    post_stripe,
    stripe_event,
    user_doc,
)

API_KEY = "sk_test_checkout_51Hx"
SUCCESS_URL = "https://potofgold.games/shop/done?session={CHECKOUT_SESSION_ID}"
CANCEL_URL = "https://potofgold.games/shop"
CATALOG = load_catalog()
WEB_PRODUCTS = [p for p in CATALOG.products if web_price_id(p) is not None]
#: What each Stripe Price charges, as configured in the Stripe account (the catalog's stripe_amounts).
PRICES = {web_price_id(p): (p.stripe_amounts["usd"], "usd") for p in WEB_PRODUCTS}


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: Mapping[str, str]
    body: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def form(self) -> dict[str, str]:
        pairs = parse_qsl(self.body, keep_blank_values=True, strict_parsing=True)
        form = dict(pairs)
        assert len(form) == len(pairs), pairs
        return form


@dataclass
class FakeStripe(stripe.HTTPClient):
    """Stripe's API for ``POST /v1/checkout/sessions``; ``status`` forces an error answer."""

    name = "fake-stripe"
    sent: list[Sent] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    status: int = 200
    error: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__init__()

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        self.sent.append(Sent(method, url, dict(headers), post_data or ""))
        answer_headers = {"request-id": f"req_{uuid.uuid4().hex[:14]}"}
        if self.status != 200:
            return orjson.dumps({"error": self.error}), self.status, answer_headers
        key = headers.get("Idempotency-Key", "")
        if key in self.by_key:  # Stripe replays the first answer for a key it has seen (24 h)
            return orjson.dumps(self.sessions[self.by_key[key]]), 200, answer_headers
        session = _session(dict(parse_qsl(post_data or "")))
        self.sessions[session["id"]] = session
        self.by_key[key] = session["id"]
        return orjson.dumps(session), 200, answer_headers

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the API calls Stripe asynchronously only")

    def close(self) -> None:
        return None

    async def close_async(self) -> None:
        return None

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(0)  # retries without waiting


def _session(form: dict[str, str]) -> dict[str, Any]:
    """A created Checkout Session as Stripe returns it, from the form the library sent."""
    ident = f"cs_test_{uuid.uuid4().hex}"
    amount, currency = PRICES[form["line_items[0][price]"]]
    return {
        "id": ident,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "cancel_url": form["cancel_url"],
        "client_reference_id": form.get("client_reference_id"),
        "currency": currency,
        "customer": None,
        "customer_details": None,
        "expires_at": 1_900_000_000,
        "livemode": False,
        "metadata": {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
        "mode": form["mode"],
        "payment_intent": None,
        "payment_status": "unpaid",
        "status": "open",
        "success_url": form["success_url"],
        "url": f"https://checkout.stripe.com/c/pay/{ident}",
    }


@pytest.fixture
def fake() -> FakeStripe:
    return FakeStripe()


def shop(make_econ: EconClient, fake: FakeStripe, **overrides: Any) -> TestClient:
    values: dict[str, Any] = {
        "stripe_api_key": API_KEY,
        "stripe_checkout_success_url": SUCCESS_URL,
        "stripe_checkout_cancel_url": CANCEL_URL,
    }
    values.update(overrides)
    return make_econ(stripe_http_client=fake, **values)


def checkout(client: TestClient, headers: dict[str, str], product: str, **extra: Any) -> Any:
    return client.post(
        "/v1/purchases/stripe/checkout", headers=headers, json={"product_id": product, **extra}
    )


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    assert response.json()["error"]["message"]


def assert_nothing_written(db: firestore.Client) -> None:
    for collection in ("transactions", "payments", "processed_sources", "review_queue", "audit_chains"):
        assert list(db.collection(collection).stream()) == [], collection


# --- the request Stripe gets -----------------------------------------------------------------------------


def test_the_session_request_is_exactly_what_stripe_needs(
    make_econ: EconClient, fake: FakeStripe, auth: Mint, db: firestore.Client
) -> None:
    client = shop(make_econ, fake)
    headers = player(client, auth, "alice", "IE")
    r = checkout(client, headers, "coins_100", request_id="tap-0001-abcd")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    [sent] = fake.sent
    assert (sent.method.lower(), sent.path) == ("post", "/v1/checkout/sessions")
    assert urlsplit(sent.url).netloc == "api.stripe.com"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.headers["Idempotency-Key"] == idempotency_key("alice", "coins_100", "tap-0001-abcd", 0)
    assert sent.form == {
        "mode": "payment",
        "line_items[0][price]": "price_coins_100",
        "line_items[0][quantity]": "1",
        "client_reference_id": "alice",
        "metadata[uid]": "alice",
        "metadata[product_id]": "coins_100",
        "payment_intent_data[metadata][uid]": "alice",
        "payment_intent_data[metadata][product_id]": "coins_100",
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
    }
    [session] = fake.sessions.values()
    assert r.json() == {"id": session["id"], "url": session["url"]}
    assert_nothing_written(db)  # a session is not a purchase: nothing until the webhook says paid


@pytest.mark.parametrize("product", [p.id for p in WEB_PRODUCTS])
def test_the_created_session_once_paid_is_granted_by_the_webhook(
    make_econ: EconClient, fake: FakeStripe, auth: Mint, db: firestore.Client, product: str
) -> None:
    """End to end: the completed event is the created session (as Stripe returned it) after payment."""
    client = shop(make_econ, fake)
    headers = player(client, auth, "alice", "IE")
    r = checkout(client, headers, product)
    assert r.status_code == 200, r.text
    created = fake.sessions[r.json()["id"]]
    paid = {
        **created,
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": f"pi_{uuid.uuid4().hex[:24]}",
        "customer": "cus_test_alice",
        "customer_details": {"address": {"country": "IE"}, "email": "alice@example.com", "name": "Alice"},
    }
    done = post_stripe(client, stripe_event("checkout.session.completed", paid))
    assert done.status_code == 200, done.text
    assert done.json() == {"received": True, "outcome": "granted"}
    bought = CATALOG.get(product)
    assert bought is not None
    assert coins(db, "alice") == bought.coins
    assert user_doc(db, "alice")["inventory"].get("items", {}) == dict(bought.items)
    [grant] = entries(db, "alice", "grant")
    assert (grant["source"], grant["reason"]) == ("purchase", f"stripe {product}")


# --- idempotency ------------------------------------------------------------------------------------------


def test_a_double_tap_gets_one_session(make_econ: EconClient, fake: FakeStripe, auth: Mint) -> None:
    client = shop(make_econ, fake)
    headers = player(client, auth, "alice", "IE")
    first = checkout(client, headers, "coins_550")
    second = checkout(client, headers, "coins_550")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(fake.sessions) == 1
    keys = {s.headers["Idempotency-Key"] for s in fake.sent}
    assert len(fake.sent) == 2
    assert len(keys) == 1


def test_each_purchase_attempt_with_its_request_id_gets_its_own_session(
    make_econ: EconClient, fake: FakeStripe, auth: Mint
) -> None:
    client = shop(make_econ, fake)
    headers = player(client, auth, "alice", "IE")
    a = checkout(client, headers, "coins_100", request_id="attempt-aaaa-1")
    a_again = checkout(client, headers, "coins_100", request_id="attempt-aaaa-1")
    b = checkout(client, headers, "coins_100", request_id="attempt-bbbb-2")
    assert a.json() == a_again.json()
    assert b.json()["id"] != a.json()["id"]
    assert len(fake.sessions) == 2


def test_the_idempotency_key_covers_uid_product_and_attempt() -> None:
    window = CHECKOUT_WINDOW_S
    key = idempotency_key("alice", "coins_100", None, 10 * window)
    assert key == idempotency_key("alice", "coins_100", None, 10 * window + window - 0.001)
    assert key != idempotency_key("alice", "coins_100", None, 11 * window)
    assert key != idempotency_key("bob", "coins_100", None, 10 * window)
    assert key != idempotency_key("alice", "coins_550", None, 10 * window)
    with_id = idempotency_key("alice", "coins_100", "tap-1234", 0)
    assert with_id == idempotency_key("alice", "coins_100", "tap-1234", 10**9)  # whatever the time
    assert with_id != idempotency_key("alice", "coins_100", "tap-5678", 0)
    assert len(key) <= 255
    assert key.startswith("pog-checkout-")


# --- errors ---------------------------------------------------------------------------------------------


def test_without_a_token_it_is_401(make_econ: EconClient, fake: FakeStripe, db: firestore.Client) -> None:
    client = shop(make_econ, fake)
    r = client.post("/v1/purchases/stripe/checkout", json={"product_id": "coins_100"})
    assert_error(r, 401, "unauthorized")
    assert fake.sent == []


def test_an_unknown_product_is_404(
    make_econ: EconClient, fake: FakeStripe, auth: Mint, db: firestore.Client
) -> None:
    client = shop(make_econ, fake)
    r = checkout(client, player(client, auth, "alice"), "coins_999")
    assert_error(r, 404, "product_not_found")
    assert "coins_999" in r.json()["error"]["message"]
    assert fake.sent == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product_id": "Coins 100"}, "product_id"),
        ({}, "product_id"),
        ({"product_id": "coins_100", "request_id": "x"}, "request_id"),
        ({"product_id": "coins_100", "price": 1}, "price"),
    ],
)
def test_a_malformed_body_is_422_naming_the_field(
    make_econ: EconClient, fake: FakeStripe, auth: Mint, body: dict[str, Any], field: str
) -> None:
    client = shop(make_econ, fake)
    r = client.post("/v1/purchases/stripe/checkout", headers=player(client, auth, "alice"), json=body)
    assert_error(r, 422, "validation_error")
    assert field in r.json()["error"]["message"]
    assert fake.sent == []


def test_a_product_not_sold_on_the_web_is_422(make_econ: EconClient, fake: FakeStripe, auth: Mint) -> None:
    """vip_monthly is a subscription with no Stripe price: not a one-off web purchase."""
    client = shop(make_econ, fake)
    assert_error(checkout(client, player(client, auth, "alice"), "vip_monthly"), 422, "not_sold_on_web")
    assert fake.sent == []


@pytest.mark.parametrize(
    "missing", ["stripe_api_key", "stripe_checkout_success_url", "stripe_checkout_cancel_url"]
)
def test_stripe_not_configured_is_503(
    make_econ: EconClient, fake: FakeStripe, auth: Mint, db: firestore.Client, missing: str
) -> None:
    client = shop(make_econ, fake, **{missing: None})
    r = checkout(client, player(client, auth, "alice"), "coins_100")
    assert_error(r, 503, "stripe_not_configured")
    assert fake.sent == []
    assert_nothing_written(db)


def test_stripe_refusing_the_session_is_502_and_nothing_is_written(
    make_econ: EconClient, fake: FakeStripe, auth: Mint, db: firestore.Client
) -> None:
    fake.status = 400
    fake.error = {
        "type": "invalid_request_error",
        "code": "resource_missing",
        "param": "line_items[0][price]",
        "message": "No such price: 'price_coins_100'",
    }
    client = shop(make_econ, fake)
    r = checkout(client, player(client, auth, "alice", "IE"), "coins_100")
    assert_error(r, 502, "stripe_error")
    assert "price_coins_100" not in r.text  # Stripe's message is logged, not shown to players
    assert len(fake.sent) == 1  # a refusal is not retried
    assert_nothing_written(db)
    assert coins(db, "alice") == 0


def test_stripe_failing_is_503_after_one_retry_with_the_same_key(
    make_econ: EconClient, fake: FakeStripe, auth: Mint, db: firestore.Client
) -> None:
    fake.status = 500
    fake.error = {"type": "api_error", "message": "Something went wrong on Stripe's end."}
    client = shop(make_econ, fake)
    r = checkout(client, player(client, auth, "alice", "IE"), "coins_100")
    assert_error(r, 503, "stripe_unavailable")
    assert len(fake.sent) == 2
    assert len({s.headers["Idempotency-Key"] for s in fake.sent}) == 1
    assert_nothing_written(db)


def test_checkout_is_rate_limited_like_other_player_routes(
    make_econ: EconClient, fake: FakeStripe, auth: Mint
) -> None:
    client = shop(make_econ, fake, rate_limit_user="2/minute")
    headers = player(client, auth, "alice")  # the first request of the minute
    assert checkout(client, headers, "coins_100").status_code == 200
    r = checkout(client, headers, "coins_550")
    assert_error(r, 429, "rate_limited")
    assert len(fake.sent) == 1


def test_the_route_documents_its_errors(make_econ: EconClient, fake: FakeStripe) -> None:
    operation = shop(make_econ, fake).app.openapi()["paths"]["/v1/purchases/stripe/checkout"]["post"]  # type: ignore[attr-defined]
    assert {"200", "401", "404", "422", "429", "502", "503"} <= set(operation["responses"])
    error = operation["responses"]["503"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorResponse"}
