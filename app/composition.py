"""The composition root: every client, repository and service of the app, built from ``Settings``.

``Parts(settings)`` builds each part on first use and ``aclose`` (or ``async with``) closes, newest first,
everything it opened. The API (``app/main.py``), the ops commands and the jobs (``app/ops``) all take
their parts from here, each only the ones it needs. Tests replace the clock and the payment providers'
HTTP boundaries through ``Overrides``, and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, partial
from types import TracebackType
from typing import Any

import httpx
import stripe
from google.cloud import firestore

from app.api.deps import Container
from app.core.app_check import AppCheckVerifier
from app.core.background import OneRunAtATime
from app.core.config import Settings
from app.core.crypto import FieldCipher, load_cipher
from app.core.firebase_auth import TokenVerifier
from app.core.signing import HeadSigner, load_signer
from app.domain.analytics import avro_json
from app.domain.catalog import Catalog, load_catalog
from app.domain.fraud import Thresholds
from app.domain.leaderboards import BoardRules
from app.domain.realtime import Shards
from app.repositories.analytics import PubSubSink, SessionMarks, Tuning, pubsub_publisher
from app.repositories.audit import AuditReader
from app.repositories.breaker import RedisBreaker
from app.repositories.cache import RedisCache
from app.repositories.cache_invalidations import DurableInvalidations
from app.repositories.clients import (
    RedisClient,
    close_firestore,
    close_redis,
    firestore_client,
    ping_firestore,
    ping_redis,
    redis_client,
)
from app.repositories.events import EventRepository
from app.repositories.events_progress import GameProgressRepository
from app.repositories.friends import FriendRepository
from app.repositories.games import GameRepository
from app.repositories.games_pending import PendingBoardSubmits
from app.repositories.leaderboard_archive import LeaderboardArchive
from app.repositories.leaderboard_live import LiveChains
from app.repositories.leaderboard_names import DisplayNames
from app.repositories.leaderboard_sets import RedisLeaderboardSink
from app.repositories.ledger import LedgerRepository
from app.repositories.ledger_counts import LedgerCounts
from app.repositories.ledger_velocity import RedisVelocity
from app.repositories.push import FcmGateway
from app.repositories.push_devices import DeviceRepository
from app.repositories.rate_limits import RateLimiter, parse_limits
from app.repositories.realtime import RealtimeDatabase
from app.repositories.realtime_outbox import RealtimeOutbox
from app.repositories.redis_batch import RedisBatcher
from app.repositories.users import UserRepository
from app.services.analytics import Analytics
from app.services.economy.grants import GrantService
from app.services.friends import FriendService
from app.services.games import GameService
from app.services.leaderboards_jobs import LeaderboardJobs
from app.services.leaderboards_live import LiveBoards
from app.services.leaderboards_reconcile import LeaderboardReconciler
from app.services.leaderboards_service import LeaderboardService
from app.services.live_events import LiveEventService
from app.services.live_events_announce import Announcer
from app.services.notifications import Notifier
from app.services.payments import PaymentService
from app.services.payments_checkout import StripeCheckout, build_checkout
from app.services.payments_revenuecat import RevenueCatClient
from app.services.presence import PresenceService
from app.services.realtime import RealtimeMessages, RealtimeMirror, RulesDeployment
from app.services.users import UserService

log = logging.getLogger("app.leaderboard")

#: How long the API's shutdown waits for a cache sweep in flight before cancelling it.
SWEEP_STOP_S = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Overrides:
    """What tests and benchmarks replace: the clock and the payment providers' HTTP boundaries."""

    clock: Callable[[], datetime] = utc_now
    #: RevenueCat's REST API (e.g. an ``httpx.MockTransport``).
    revenuecat_transport: httpx.AsyncBaseTransport | None = None
    #: The stripe library's HTTP client (default: its httpx one, async).
    stripe_http_client: stripe.HTTPClient | None = None


def _breaker_opened(analytics: Analytics) -> None:
    analytics.emit("breaker_opened", None, {"dependency": "redis"})


async def _rebuild_lost(jobs: LeaderboardJobs) -> object:
    log.warning("leaderboards lost: rebuilding from firestore", extra={"event": "leaderboard_lost"})
    return await jobs.rebuild()


@dataclass(frozen=True, slots=True)
class Leaderboards:
    sink: RedisLeaderboardSink
    service: LeaderboardService
    jobs: LeaderboardJobs
    archive: LeaderboardArchive
    rebuild: OneRunAtATime


def reward_items(catalog: Catalog) -> frozenset[str]:
    """The item ids an event may give: those the product catalog knows."""
    return frozenset(item for product in catalog.products for item in product.items)


class Parts:
    """The app's parts, each built on first use; ``aclose`` closes what was opened, newest first."""

    def __init__(self, settings: Settings, overrides: Overrides | None = None) -> None:
        self.settings = settings
        self.overrides = overrides or Overrides()
        self._opened = AsyncExitStack()

    async def __aenter__(self) -> Parts:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._opened.aclose()

    def _closes(self, close: Callable[[], Coroutine[Any, Any, object]]) -> None:
        self._opened.push_async_callback(close)

    # --- clients ----------------------------------------------------------------------------------

    @cached_property
    def db(self) -> firestore.AsyncClient:
        """The default database's client (users, ledger, events); the repositories open the games' ones."""
        db = firestore_client(self.settings)
        self._closes(lambda: close_firestore(db))
        return db

    @cached_property
    def redis(self) -> RedisClient:
        rds = redis_client(self.settings)
        self._closes(lambda: close_redis(rds))
        return rds

    @cached_property
    def breaker(self) -> RedisBreaker:
        """Every Redis call of the cache, the rate limiter and the boards goes through it (in memory)."""
        return RedisBreaker(self.settings.redis_breaker_threshold, self.settings.redis_breaker_recovery_s)

    @cached_property
    def batcher(self) -> RedisBatcher:
        """The rate limits and cache reads of concurrent requests share one pipeline per loop iteration."""
        return RedisBatcher(self.redis, self.breaker)

    @cached_property
    def cache(self) -> RedisCache:
        """Invalidations Redis refuses are recorded in Firestore for every instance (issue 18)."""
        durable = DurableInvalidations(self.db)
        return RedisCache(self.redis, self.breaker, batcher=self.batcher, durable=durable)

    def start_cache_sweep(self) -> None:
        """The periodic sweep of recorded cache invalidations (the API's lifespan), stopped on close."""
        stopping = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            self.cache.sweep_forever(self.settings.cache_invalidation_sweep_s, stopping)
        )

        async def stop() -> None:
            stopping.set()
            try:  # a sweep in flight finishes (it is bounded by the clients' timeouts)
                await asyncio.wait_for(asyncio.shield(task), SWEEP_STOP_S)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

        self._closes(stop)

    @cached_property
    def limiter(self) -> RateLimiter:
        limiter = RateLimiter(self.redis, self.breaker, batcher=self.batcher)
        self._closes(limiter.aclose)
        return limiter

    @cached_property
    def verifier(self) -> TokenVerifier:
        verifier = TokenVerifier(self.settings)
        self._opened.callback(verifier.close)
        return verifier

    @cached_property
    def cipher(self) -> FieldCipher:
        """The audit log's cipher: a KMS call in prod, so async callers use ``load_keys`` first."""
        return load_cipher(self.settings)

    @cached_property
    def signer(self) -> HeadSigner:
        """Signs the audit chains' heads: Cloud KMS in dev and prod, a local key otherwise."""
        return load_signer(self.settings)

    async def load_keys(self) -> None:
        """Loads the audit data key off the event loop; fails start-up when it cannot be loaded."""
        await asyncio.to_thread(lambda: (self.cipher, self.signer))

    # --- players and games ------------------------------------------------------------------------

    @cached_property
    def users(self) -> UserService:
        s = self.settings
        return UserService(
            UserRepository(self.db, self.realtime_outbox),
            self.cache,
            profile_ttl_s=s.profile_cache_ttl_s,
            inventory_ttl_s=s.inventory_cache_ttl_s,
            stats_ttl_s=s.stats_cache_ttl_s,
            mirror=self.mirror,
        )

    @cached_property
    def friends(self) -> FriendService:
        return FriendService(
            FriendRepository(self.db, self.realtime_outbox),
            self.users,
            self.cache,
            clock=self.overrides.clock,
            mirror=self.mirror,
        )

    # --- the Realtime Database (docs/realtime.md): None while POG_REALTIME_DATABASE_URLS is empty --------

    @cached_property
    def shards(self) -> Shards | None:
        urls = self.settings.realtime_database_urls
        return Shards(tuple(urls)) if urls else None

    @cached_property
    def realtime_db(self) -> RealtimeDatabase | None:
        if self.shards is None:
            return None
        rtdb = RealtimeDatabase(self.settings)
        self._closes(rtdb.close)
        return rtdb

    @cached_property
    def realtime_outbox(self) -> RealtimeOutbox | None:
        return RealtimeOutbox(self.db) if self.shards is not None else None

    @cached_property
    def mirror(self) -> RealtimeMirror | None:
        """``/friends`` and ``/hidden`` on the shards, through the Firestore outbox."""
        if self.shards is None or self.realtime_db is None or self.realtime_outbox is None:
            return None
        return RealtimeMirror(self.shards, self.realtime_db, self.realtime_outbox)

    @cached_property
    def realtime_messages(self) -> RealtimeMessages | None:
        if self.shards is None or self.realtime_db is None:
            return None
        return RealtimeMessages(self.shards, self.realtime_db, clock=self.overrides.clock)

    @cached_property
    def realtime_rules(self) -> RulesDeployment | None:
        if self.shards is None or self.realtime_db is None:
            return None
        return RulesDeployment(self.shards, self.realtime_db)

    @cached_property
    def presence(self) -> PresenceService:
        return PresenceService(self.users, self.shards)

    @cached_property
    def games(self) -> GameService:
        store = GameRepository.for_settings(self.settings, self.db)
        self._closes(store.close)
        return GameService(
            store,
            self.users,
            self.cache,
            self.leaderboards.sink,
            clock=self.overrides.clock,
            analytics=self.analytics,
        )

    @cached_property
    def leaderboards(self) -> Leaderboards:
        clock = self.overrides.clock
        rules = BoardRules.parse(self.settings.leaderboard_rules)
        sink = RedisLeaderboardSink(self.redis, self.breaker, rules, clock=clock)
        archive = LeaderboardArchive.for_settings(self.settings, self.db)
        self._closes(archive.close)
        jobs = LeaderboardJobs(sink.boards, archive, rules, clock)
        jobs.send_events_through(self.analytics)
        rebuild = OneRunAtATime(partial(_rebuild_lost, jobs), "leaderboard rebuild")
        self._closes(rebuild.cancel)
        sink.on_lost = rebuild
        names = DisplayNames(self.redis, self.breaker, self.db)
        service = LeaderboardService(sink.boards, archive, names, self.users, clock=clock, on_lost=rebuild)
        service.live = LiveBoards(
            LiveChains(sink.boards),
            service.render_now,
            interval_s=self.settings.leaderboard_stream_interval_s,
            keep=self.settings.leaderboard_live_keep,
        )
        return Leaderboards(sink, service, jobs, archive, rebuild)

    @cached_property
    def reconciler(self) -> LeaderboardReconciler:
        """Submits the finished games whose submit failed (``board_pending``), from every games database."""
        pending = PendingBoardSubmits.for_settings(self.settings, self.db)
        self._closes(pending.close)
        sink = self.leaderboards.sink
        return LeaderboardReconciler(pending, sink, sink.boards)

    @cached_property
    def reconcile_trigger(self) -> OneRunAtATime:
        """The API's run of the reconciler when its Redis breaker closes again (stopped before the clients
        close: it is registered after them)."""
        trigger = OneRunAtATime(self.reconciler.run, "leaderboard reconcile")
        self._closes(trigger.cancel)
        return trigger

    # --- economy ----------------------------------------------------------------------------------

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog()

    @cached_property
    def velocity(self) -> RedisVelocity:
        # Without Redis, purchases are counted in the ledger (LedgerCounts) or held, never granted blind.
        ledger = LedgerCounts(self.db)
        velocity = RedisVelocity(self.redis, self.breaker, self.settings, ledger, self.overrides.clock)
        self._closes(velocity.aclose)
        return velocity

    @cached_property
    def grants(self) -> GrantService:
        """The one writer of the ledger and the audit log (purchases, rewards, admin changes)."""
        grants = GrantService(
            LedgerRepository(self.db, self.cipher, self.signer),
            self.cache,
            self.cipher,
            self.velocity,
            Thresholds.from_settings(self.settings),
            clock=self.overrides.clock,
        )
        # grant, refund, purchase_held, review_decided: from the API and the jobs (leaderboard rewards).
        grants.send_events_through(self.analytics)
        return grants

    @cached_property
    def admin_audit(self) -> GrantService:
        """The grant service for ``admin_action`` alone, which uses neither the cache nor the velocity
        counters: the admin commands need no Redis."""
        return GrantService(
            LedgerRepository(self.db, self.cipher, self.signer),
            _NoCache(),
            self.cipher,
            _NoVelocity(),
            Thresholds.from_settings(self.settings),
        )

    @cached_property
    def audit_reader(self) -> AuditReader:
        return AuditReader(self.db)

    @cached_property
    def revenuecat(self) -> RevenueCatClient:
        api_key = self.settings.revenuecat_api_key
        client = RevenueCatClient(
            self.settings.revenuecat_api_url,
            api_key.get_secret_value() if api_key else None,
            transport=self.overrides.revenuecat_transport,
        )
        self._closes(client.aclose)
        return client

    @cached_property
    def payments(self) -> PaymentService:
        prod = self.settings.environment == "prod"
        return PaymentService(self.grants, self.catalog, self.revenuecat, prod=prod)

    @cached_property
    def checkout(self) -> StripeCheckout:
        return build_checkout(self.settings, self.catalog, self.overrides.stripe_http_client)

    # --- live events and push ---------------------------------------------------------------------

    @cached_property
    def notifier(self) -> Notifier:
        # Push is on in prod and wherever a (fake) FCM endpoint is configured; elsewhere tokens are kept.
        settings = self.settings
        gateway = FcmGateway(settings) if settings.environment == "prod" or settings.fcm_endpoint else None
        if gateway is not None:
            self._closes(gateway.close)
        return Notifier(gateway, DeviceRepository(self.db), self.realtime_messages)

    @cached_property
    def live_events(self) -> LiveEventService:
        """``grants`` grants the rewards and audits the admins' changes to events, in the ledger's
        transactions (so on the ledger's database)."""
        progress = GameProgressRepository.for_settings(self.settings, self.db)
        self._closes(progress.close)
        service = LiveEventService(
            EventRepository(self.db),
            progress,
            self.grants,
            self.notifier,
            self.cache,
            reward_items(self.catalog),
            audit=self.grants,
            clock=self.overrides.clock,
        )
        service.send_events_through(self.analytics)  # live_event_joined, live_event_reward_claimed
        return service

    @cached_property
    def announcer(self) -> Announcer:
        """The announcement job's part (``pog events announce``): no economy, no game progress."""
        return Announcer(EventRepository(self.db), self.notifier, self.cache, clock=self.overrides.clock)

    # --- analytics (docs/analytics-events.md) -------------------------------------------------------

    @cached_property
    def analytics_sink(self) -> PubSubSink | None:
        """Pub/Sub off the request path, the Redis outbox behind it (app/repositories/analytics.py); None
        while POG_ANALYTICS_TOPIC is empty (analytics off). PUBSUB_EMULATOR_HOST points it at an emulator."""
        topic = self.settings.analytics_topic
        if not topic:
            return None
        publisher = pubsub_publisher(Tuning().batch_max)
        outbox_max = self.settings.analytics_outbox_max
        sink = PubSubSink(publisher, topic, self.redis, self.breaker, avro_json, outbox_max)
        self._closes(sink.aclose)  # registered after Redis: the queue's last events may go to the outbox
        return sink

    @cached_property
    def analytics(self) -> Analytics:
        """Events checked against the catalogue, stamped and offered to the sink (None: dropped)."""
        sink = self.analytics_sink
        sessions = SessionMarks(self.redis, self.breaker) if sink is not None else None
        analytics = Analytics(
            sink, self.settings.analytics_key, clock=self.overrides.clock, sessions=sessions
        )
        if self.analytics_sink is not None:
            self.breaker.on_opened(partial(_breaker_opened, analytics))
        return analytics

    def start_analytics(self) -> None:
        """The API's lifespan: the publisher and the outbox's drain start with the app (a job's sink starts
        at its first event) and stop, flushing, when the parts close."""
        if self.analytics_sink is not None:
            self.analytics_sink.start()

    # --- the API ----------------------------------------------------------------------------------

    async def container(self) -> Container:
        """Everything the routes use; fails start-up on a bad catalog or an audit key that cannot load."""
        await self.load_keys()
        settings = self.settings
        container = Container(
            settings=settings,
            verifier=self.verifier,
            limiter=self.limiter,
            user_limits=parse_limits(settings.rate_limit_user),
            ip_limits=parse_limits(settings.rate_limit_ip),
            users=self.users,
            friends=self.friends,
            games=self.games,
            grants=self.grants,
            payments=self.payments,
            leaderboards=self.leaderboards.service,
            presence=self.presence,
            live_events=self.live_events,
            notifier=self.notifier,
            checkout=self.checkout,
            app_check=AppCheckVerifier(self.verifier.app),
            analytics=self.analytics,
        )
        self.payments.send_receipts_through(self.notifier)  # purchase receipts are pushes
        self.grants.send_receipts_through(self.notifier)  # and so are those of approved held purchases
        self.grants.send_decisions_through(self.notifier)  # other review decisions are messages
        self.breaker.on_recovered(self.reconcile_trigger)  # scores a Redis outage left pending
        return container

    async def probe(self) -> dict[str, str]:
        """``/readyz``: whether Redis and Firestore answer."""

        async def check(name: str, ping: Coroutine[Any, Any, None]) -> tuple[str, str]:
            try:
                await ping
            except Exception as exc:
                return name, f"error: {type(exc).__name__}"
            return name, "ok"

        results = await asyncio.gather(
            check("redis", ping_redis(self.redis)), check("firestore", ping_firestore(self.db))
        )
        return dict(results)


class _NoCache:
    async def get(self, key: str) -> bytes | None:
        return None

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        return None

    async def delete(self, *keys: str) -> None:
        return None


class _NoVelocity:
    async def exceeded(self, kind: str, uid: str, ip: str | None, source_id: str) -> list[str]:
        return []
