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
from app.services.grants import GrantService
from app.services.live_events import LiveEventService
from app.services.live_events_announce import Announcer
from app.services.notifications import Notifier
from app.services.ports import Cache


def reward_items(catalog: Catalog) -> frozenset[str]:
    """The item ids an event may give: those the product catalog knows."""
    return frozenset(item for product in catalog.products for item in product.items)


def push_gateway(settings: Settings) -> FcmGateway | None:
    # Push is on in prod, and wherever a (fake) FCM endpoint is configured; elsewhere tokens are kept only.
    return FcmGateway(settings) if settings.environment == "prod" or settings.fcm_endpoint else None


@dataclass
class AnnounceJob:
    """The announcement job's parts (``pog events announce``): no economy, no game progress."""

    announcer: Announcer
    _gateway: FcmGateway | None

    async def aclose(self) -> None:
        if self._gateway is not None:
            await self._gateway.close()


def build_announce_job(settings: Settings, db: firestore.AsyncClient, cache: Cache) -> AnnounceJob:
    gateway = push_gateway(settings)
    notifier = Notifier(gateway, DeviceRepository(db))
    return AnnounceJob(Announcer(EventRepository(db), notifier, cache), gateway)


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
    settings: Settings, db: firestore.AsyncClient, cache: Cache, grants: GrantService
) -> LiveEvents:
    """``grants`` grants the rewards and audits the admins' changes to events (in the ledger's
    transactions, so ``db`` must be the ledger's database)."""
    gateway = push_gateway(settings)
    notifier = Notifier(gateway, DeviceRepository(db))
    progress = GameProgressRepository.for_settings(settings, db)
    service = LiveEventService(
        EventRepository(db),
        progress,
        grants,
        notifier,
        cache,
        reward_items(load_catalog()),
        audit=grants,
    )
    return LiveEvents(service, notifier, progress, gateway)
