"""Builds the economy (grant service, payment webhooks) for the app's lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from google.cloud import firestore

from app.core.config import Settings
from app.core.crypto import FieldCipher, load_data_key
from app.repositories.breaker import RedisBreaker
from app.repositories.cache import RedisCache
from app.repositories.clients import RedisClient
from app.repositories.ledger import LedgerRepository
from app.repositories.ledger_velocity import RedisVelocity
from app.services.catalog import load_catalog
from app.services.fraud import Thresholds
from app.services.grants import GrantService
from app.services.payments import PaymentService
from app.services.payments_revenuecat import RevenueCatClient


@dataclass(frozen=True, slots=True)
class Economy:
    grants: GrantService
    payments: PaymentService
    revenuecat: RevenueCatClient
    velocity: RedisVelocity

    async def aclose(self) -> None:
        await self.revenuecat.aclose()
        await self.velocity.aclose()


async def build_economy(
    settings: Settings,
    db: firestore.AsyncClient,
    rds: RedisClient,
    breaker: RedisBreaker,
    cache: RedisCache,
    revenuecat_transport: httpx.AsyncBaseTransport | None = None,
) -> Economy:
    """Fails start-up on a bad catalog or an audit key that cannot be loaded (KMS unwrap in prod)."""
    catalog = load_catalog()
    cipher = FieldCipher(await asyncio.to_thread(load_data_key, settings))
    velocity = RedisVelocity(rds, breaker, settings)
    grants = GrantService(LedgerRepository(db), cache, cipher, velocity, Thresholds.from_settings(settings))
    api_key = settings.revenuecat_api_key
    revenuecat = RevenueCatClient(
        settings.revenuecat_api_url,
        api_key.get_secret_value() if api_key else None,
        transport=revenuecat_transport,
    )
    payments = PaymentService(grants, catalog, revenuecat, prod=settings.environment == "prod")
    return Economy(grants, payments, revenuecat, velocity)
