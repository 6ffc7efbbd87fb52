"""Builds the live events service, its Firestore repositories and the push notifier for the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from google.cloud import firestore

from app.core.config import Settings
from app.repositories.events import EventRepository
from app.repositories.events_progress import GameProgressRepository
from app.repositories.push import FcmGateway
from app.repositories.push_devices import DeviceRepository
from app.services.catalog import Catalog, load_catalog
from app.services.grant_port import Granter
from app.services.live_events import LiveEventService
from app.services.notifications import Notifier
from app.services.users import Cache


def reward_items(catalog: Catalog) -> frozenset[str]:
    """The item ids an event may give: those the product catalog knows."""
    return frozenset(item for product in catalog.products for item in product.items)


@dataclass
class LiveEvents:
    service: LiveEventService
    notifier: Notifier
    _progress: GameProgressRepository
    _gateway: FcmGateway | None

    async def aclose(self) -> None:
        await self._progress.close()
        if self._gateway is not None:
            await self._gateway.close()


def build_live_events(
    settings: Settings, db: firestore.AsyncClient, cache: Cache, granter: Granter
) -> LiveEvents:
    # Push is on in prod, and wherever a (fake) FCM endpoint is configured; elsewhere tokens are kept only.
    gateway = FcmGateway(settings) if settings.environment == "prod" or settings.fcm_endpoint else None
    notifier = Notifier(gateway, DeviceRepository(db))
    progress = GameProgressRepository.for_settings(settings, db)
    service = LiveEventService(
        EventRepository(db),
        progress,
        granter,
        notifier,
        cache,
        reward_items(load_catalog()),
    )
    return LiveEvents(service, notifier, progress, gateway)
