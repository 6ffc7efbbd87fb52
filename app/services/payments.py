"""Payment webhooks -> grant service calls (RevenueCat and Stripe), after the router verified them.

Every delivery is deduplicated on the provider's event id (``revenuecat:{id}``, ``stripe:{id}`` as the
``source_id``) and every accepted event is recorded (its marker), whether it changes anything or not.
A payment is keyed across its events (``revenuecat:{transaction_id}``, ``stripe:{payment_intent}``) so a
refund or dispute finds its purchase, whichever arrives first.

Refunds carry amounts: Stripe's ``charge.refunded`` the charge's ``amount`` and its running
``amount_refunded``; RevenueCat's refund (a ``CANCELLATION`` with ``cancel_reason`` ``CUSTOMER_SUPPORT``)
the refunded ``price`` (negative, USD), taken against the purchase's ``price``. What a partial refund
takes back is the grant service's rule (``revocation_share``); ``REFUND_REVERSED`` removes the refund.

Stripe Checkout Sessions name the player in ``client_reference_id`` (or ``metadata.uid``) and the
product in ``metadata.product_id`` (ours) or ``metadata.price_id`` (the Stripe Price id in the catalog);
the app that creates the session sets them.

A purchase this delivery granted sends the player a receipt (a push through ``ReceiptSender``) once its
transaction has committed; a replayed delivery finds the grant done and sends none. A purchase held for
review gets its receipt when an admin approves it (``GrantService.approve``, through the same sender).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.domain.catalog import REVENUECAT_STORES, Catalog, Product, Store
from app.domain.fraud import PurchaseFacts
from app.domain.notifications import Receipt
from app.services import payments_entitlements as entitlements
from app.services.economy.grants import GrantService
from app.services.economy.purchases import Purchase, ReceiptSender
from app.services.economy.requests import Outcome, Result
from app.services.economy.revocation_share import Revocation, RevocationKind
from app.services.errors import Failure
from app.services.payments_fields import cents, ids, minor, product_grant, receipt_of, text
from app.services.payments_revenuecat import PurchaseClaim, RevenueCatClient, receipt_mismatches
from app.services.payments_verify import WebhookRejectedError

log = logging.getLogger("app.payments")

#: Every event type of RevenueCat's webhook reference: all answered 200 and recorded.
REVENUECAT_TYPES = frozenset(
    {
        "TEST",
        "INITIAL_PURCHASE",
        "RENEWAL",
        "CANCELLATION",
        "UNCANCELLATION",
        "NON_RENEWING_PURCHASE",
        "SUBSCRIPTION_PAUSED",
        "EXPIRATION",
        "BILLING_ISSUE",
        "PRODUCT_CHANGE",
        "TRANSFER",
        "SUBSCRIPTION_EXTENDED",
        "TEMPORARY_ENTITLEMENT_GRANT",
        "INVOICE_ISSUANCE",
        "VIRTUAL_CURRENCY_TRANSACTION",
        "EXPERIMENT_ENROLLMENT",
        "SUBSCRIBER_ALIAS",
        "REFUND_REVERSED",
    }
)
RC_PURCHASES = frozenset({"INITIAL_PURCHASE", "NON_RENEWING_PURCHASE", "RENEWAL"})
STRIPE_GRANTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})


class PaymentService:
    def __init__(
        self, grants: GrantService, catalog: Catalog, revenuecat: RevenueCatClient, *, prod: bool
    ) -> None:
        self._grants = grants
        self._catalog = catalog
        self._revenuecat = revenuecat
        self._prod = prod
        self._receipts: ReceiptSender | None = None

    def send_receipts_through(self, sender: ReceiptSender) -> None:
        """Wired by the app once the live events' notifier exists (it is built after the economy)."""
        self._receipts = sender

    async def _send_receipt(self, result: Result, uid: str, receipt: Receipt) -> None:
        # Only the delivery whose transaction applied the grant gets ``granted``: a replay, or another event
        # of the same payment, gets ``duplicate``. Called after that transaction committed.
        if result.outcome is Outcome.granted and self._receipts is not None:
            await self._receipts.purchase_granted(uid, receipt)

    # --- RevenueCat -----------------------------------------------------------------------------------

    async def revenuecat(self, body: Mapping[str, Any]) -> Result:
        event = body.get("event")
        if not isinstance(event, dict):
            raise WebhookRejectedError(Failure.MALFORMED, "bad_payload", "the body has no event object")
        event_id = text(event.get("id"))
        event_type = text(event.get("type"), 64)
        if event_id is None or event_type is None:
            raise WebhookRejectedError(Failure.MALFORMED, "bad_payload", "the event has no id or type")
        source_id = f"revenuecat:{event_id}"
        uid = text(event.get("app_user_id"), 128)
        sandbox = event.get("environment") == "SANDBOX"
        if event_type not in REVENUECAT_TYPES:
            log.info(
                "unknown RevenueCat event type %s recorded", event_type, extra={"event": "revenuecat_unknown"}
            )
            return await self._grants.record(source_id, f"rc:{event_type}", uid)
        if sandbox and self._prod:
            return await self._grants.record(source_id, f"rc:{event_type}:sandbox_ignored", uid)
        if event_type in RC_PURCHASES:
            return await self._rc_purchase(source_id, event, event_type, sandbox)
        if event_type == "CANCELLATION" and event.get("cancel_reason") == "CUSTOMER_SUPPORT":
            transaction = text(event.get("transaction_id"))
            if transaction is None:
                raise WebhookRejectedError(
                    Failure.MALFORMED, "bad_payload", "a refund event needs transaction_id"
                )
            sensitive = {
                "transaction_id": transaction,
                "price": event.get("price"),
                "store": event.get("store"),
            }
            refund = Revocation(RevocationKind.refund, refunded_minor=cents(event.get("price")))
            return await self._grants.revoke(source_id, f"revenuecat:{transaction}", refund, sensitive)
        if event_type == "REFUND_REVERSED":
            transaction = text(event.get("transaction_id"))
            if transaction is None:
                raise WebhookRejectedError(
                    Failure.MALFORMED, "bad_payload", "a refund reversal needs transaction_id"
                )
            reversal = Revocation(RevocationKind.refund_reversed)
            sensitive = {"transaction_id": transaction, "store": event.get("store")}
            return await self._grants.revoke(source_id, f"revenuecat:{transaction}", reversal, sensitive)
        if event_type == "EXPIRATION" and uid is not None:
            return await self._end_entitlements(source_id, uid, ids(event.get("entitlement_ids")))
        if event_type == "PRODUCT_CHANGE" and uid is not None:
            new_product = text(event.get("new_product_id"))
            if new_product is not None:
                return await self._change_product(
                    source_id, uid, ids(event.get("entitlement_ids")), new_product
                )
        if event_type == "TRANSFER":
            return await self._transfer(
                source_id, ids(event.get("transferred_from")), ids(event.get("transferred_to"))
            )
        return await self._grants.record(source_id, f"rc:{event_type}", uid)

    def _rc_product(self, event: Mapping[str, Any]) -> Product | None:
        store = REVENUECAT_STORES.get(str(event.get("store")))
        product_id = text(event.get("product_id"))
        if store is None or product_id is None:
            return None
        return self._catalog.by_store_id(store, product_id)

    async def _rc_purchase(
        self, source_id: str, event: Mapping[str, Any], kind: str, sandbox: bool
    ) -> Result:
        uid = text(event.get("app_user_id"), 128)
        transaction = text(event.get("transaction_id"))
        product = self._rc_product(event)
        if uid is None or transaction is None or product is None:
            log.error(
                "RevenueCat purchase without a known player, transaction or product",
                extra={"event": "payment_failed", "provider": "revenuecat", "reason": "unmatched"},
            )
            return await self._grants.record(source_id, f"rc:{kind}:unmatched", uid)
        claim = PurchaseClaim(
            app_user_id=uid,
            product_id=str(event["product_id"]),
            transaction_id=transaction,
            original_transaction_id=text(event.get("original_transaction_id")),
            sandbox=sandbox,
            subscription=product.entitlement is not None,
        )
        known = await self._grants.seen(source_id)  # a redelivery does not ask RevenueCat again
        if known is not None:
            return known
        mismatches = receipt_mismatches(await self._revenuecat.subscriber(uid), claim)
        entitlement = None
        if product.entitlement is not None:
            entitlement = {
                "id": product.entitlement,
                "product_id": product.id,
                "expires_at_ms": event.get("expiration_at_ms"),
                "store": event.get("store"),
            }
        country = text(event.get("country_code"), 2)
        purchase = Purchase(
            payment_key=f"revenuecat:{transaction}",
            product_id=product.id,
            facts=PurchaseFacts(product.price_usd_cents, country),
            sensitive={
                "transaction_id": transaction,
                "original_transaction_id": claim.original_transaction_id,
                "store": event.get("store"),
                "price": event.get("price"),
                "currency": event.get("currency"),
                "price_in_purchased_currency": event.get("price_in_purchased_currency"),
                "country_code": country,
            },
            entitlement=entitlement,
            review_reasons=tuple(mismatches),
            amount_minor=cents(event.get("price")),
        )
        if product.coins == 0 and not product.items:
            # An entitlement-only product: the grant service needs something to grant; use the entitlement.
            return await self._grants.record(source_id, f"rc:{kind}:entitlement_only", uid)
        request = product_grant(uid, source_id, product, f"{kind.lower()} {product.id}")
        result = await self._grants.purchase(request, purchase)
        await self._send_receipt(result, uid, receipt_of(product, transaction))
        return result

    async def _end_entitlements(self, source_id: str, uid: str, ended: list[str]) -> Result:
        edit = entitlements.expiry(uid, ended)
        return await self._grants.change_entitlements(source_id, "entitlement_expired", [uid], edit)

    async def _change_product(self, source_id: str, uid: str, moved: list[str], new_product: str) -> Result:
        edit = entitlements.product_change(uid, moved, new_product)
        return await self._grants.change_entitlements(source_id, "entitlement_changed", [uid], edit)

    async def _transfer(self, source_id: str, from_uids: list[str], to_uids: list[str]) -> Result:
        if not to_uids:
            return await self._grants.record(source_id, "rc:TRANSFER:no_target")
        target = to_uids[0]
        edit = entitlements.transfer(from_uids, target)
        return await self._grants.change_entitlements(
            source_id, "entitlement_transfer", [*from_uids, target], edit
        )

    # --- Stripe ---------------------------------------------------------------------------------------

    async def stripe(self, event: Mapping[str, Any]) -> Result:
        event_id = text(event.get("id"))
        event_type = text(event.get("type"), 128)
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if event_id is None or event_type is None or not isinstance(obj, dict):
            raise WebhookRejectedError(
                Failure.MALFORMED, "bad_payload", "the event has no id, type or data.object"
            )
        source_id = f"stripe:{event_id}"
        if event.get("livemode") is False and self._prod:
            return await self._grants.record(source_id, f"stripe:{event_type}:test_mode_ignored")
        if event_type in STRIPE_GRANTS:
            if event_type == "checkout.session.completed" and obj.get("payment_status") != "paid":
                return await self._grants.record(
                    source_id, f"stripe:{event_type}:{obj.get('payment_status')}"
                )
            return await self._stripe_purchase(source_id, obj, event_type)
        if event_type == "charge.refunded":
            key = self._stripe_key(obj.get("payment_intent"), obj.get("id"))
            if key is None:
                raise WebhookRejectedError(
                    Failure.MALFORMED, "bad_payload", "the charge has no payment_intent or id"
                )
            amount, refunded = minor(obj.get("amount")), minor(obj.get("amount_refunded"))
            if obj.get("refunded") is True:  # refunded in full, whatever the amounts say
                refunded = max(refunded, amount)
            elif refunded == 0:
                return await self._grants.record(source_id, "stripe:charge.refunded:nothing_refunded")
            refund = Revocation(
                RevocationKind.refund, refunded_minor=refunded, amount_minor=amount, cumulative=True
            )
            sensitive = {"charge": obj.get("id"), "amount_refunded": obj.get("amount_refunded")}
            return await self._grants.revoke(source_id, key, refund, sensitive)
        if event_type == "charge.dispute.created":
            key = self._stripe_key(obj.get("payment_intent"), obj.get("charge"))
            if key is None:
                raise WebhookRejectedError(
                    Failure.MALFORMED, "bad_payload", "the dispute has no payment_intent or charge"
                )
            sensitive = {"dispute": obj.get("id"), "charge": obj.get("charge"), "reason": obj.get("reason")}
            return await self._grants.revoke(source_id, key, Revocation(RevocationKind.chargeback), sensitive)
        return await self._grants.record(source_id, f"stripe:{event_type}")

    @staticmethod
    def _stripe_key(payment_intent: Any, fallback: Any) -> str | None:
        if text(payment_intent):
            return f"stripe:{payment_intent}"
        return f"stripe:charge:{fallback}" if text(fallback) else None

    def _stripe_product(self, session: Mapping[str, Any]) -> Product | None:
        metadata = session.get("metadata") if isinstance(session.get("metadata"), dict) else {}
        assert isinstance(metadata, dict)
        product_id = text(metadata.get("product_id"), 64)
        if product_id is not None:
            return self._catalog.get(product_id)
        price_id = text(metadata.get("price_id"))
        return self._catalog.by_store_id(Store.stripe, price_id) if price_id else None

    async def _stripe_purchase(self, source_id: str, session: Mapping[str, Any], kind: str) -> Result:
        metadata = session.get("metadata") if isinstance(session.get("metadata"), dict) else {}
        assert isinstance(metadata, dict)
        uid = text(session.get("client_reference_id"), 128) or text(metadata.get("uid"), 128)
        product = self._stripe_product(session)
        key = self._stripe_key(session.get("payment_intent"), session.get("id"))
        if uid is None or product is None or key is None:
            log.error(
                "Stripe checkout without a known player or product",
                extra={"event": "payment_failed", "provider": "stripe", "reason": "unmatched"},
            )
            return await self._grants.record(source_id, f"stripe:{kind}:unmatched", uid)
        reasons: list[str] = []
        currency = str(session.get("currency") or "").lower()
        expected = product.stripe_amounts.get(currency)
        if expected is None or session.get("amount_total") != expected:
            reasons.append(f"amount_mismatch:{session.get('amount_total')} {currency}")
        details = session.get("customer_details") if isinstance(session.get("customer_details"), dict) else {}
        assert isinstance(details, dict)
        address = details.get("address") if isinstance(details.get("address"), dict) else {}
        assert isinstance(address, dict)
        country = text(address.get("country"), 2)
        purchase = Purchase(
            payment_key=key,
            product_id=product.id,
            facts=PurchaseFacts(product.price_usd_cents, country),
            sensitive={
                "checkout_session": session.get("id"),
                "payment_intent": session.get("payment_intent"),
                "customer": session.get("customer"),
                "email": details.get("email"),
                "amount_total": session.get("amount_total"),
                "currency": currency,
                "country": country,
            },
            review_reasons=tuple(reasons),
            amount_minor=minor(session.get("amount_total")),
        )
        request = product_grant(uid, source_id, product, f"stripe {product.id}")
        result = await self._grants.purchase(request, purchase)
        transaction = text(session.get("payment_intent")) or str(session.get("id"))
        await self._send_receipt(result, uid, receipt_of(product, transaction))
        return result
