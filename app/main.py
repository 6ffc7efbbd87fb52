"""The game API: ``uvicorn app.main:app``."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

import sentry_sdk
from brotli_asgi import BrotliMiddleware
from fastapi import FastAPI

from app.api import errors as api_errors
from app.api.deps import Container
from app.api.routes import (
    admin_events,
    admin_review,
    events,
    games,
    health,
    leaderboards,
    me,
    metrics,
    presence,
    purchases,
    transactions,
    users,
    webhooks,
)
from app.core import errors
from app.core.auth import TokenVerifier
from app.core.config import Settings, get_settings
from app.core.middleware import BodySizeLimit
from app.core.observability import RequestContext, configure_logging
from app.ops.leaderboards_wiring import build_leaderboards
from app.repositories.breaker import RedisBreaker
from app.repositories.cache import RedisCache
from app.repositories.clients import (
    close_firestore,
    close_redis,
    firestore_client,
    ping_firestore,
    ping_redis,
    redis_client,
)
from app.repositories.events_wiring import build_live_events
from app.repositories.games import GameRepository
from app.repositories.ledger_wiring import build_economy
from app.repositories.rate_limits import RateLimiter, parse_limits
from app.repositories.redis_batch import RedisBatcher
from app.repositories.users import UserRepository
from app.services.games import GameService
from app.services.users import UserService

log = logging.getLogger("app")


def _init_sentry(settings: Settings) -> None:
    if settings.sentry_dsn is None:
        return
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        send_default_pii=False,  # no IPs, cookies, headers or user ids leave the service
        traces_sample_rate=0.0,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = firestore_client(settings)
        rds = redis_client(settings)
        verifier = TokenVerifier(settings)
        # Every Redis call of the cache and the rate limiter goes through one breaker (state in memory).
        breaker = RedisBreaker(settings.redis_breaker_threshold, settings.redis_breaker_recovery_s)
        app.state.redis_breaker = breaker
        # The rate limits and cache reads of concurrent requests share one pipeline (and one breaker
        # call) per loop iteration.
        batcher = RedisBatcher(rds, breaker)
        limiter = RateLimiter(rds, breaker, batcher=batcher)
        cache = RedisCache(rds, breaker, batcher=batcher)
        user_service = UserService(
            UserRepository(db),
            cache,
            profile_ttl_s=settings.profile_cache_ttl_s,
            inventory_ttl_s=settings.inventory_cache_ttl_s,
            stats_ttl_s=settings.stats_cache_ttl_s,
        )
        game_store = GameRepository.for_settings(settings, db)
        boards = build_leaderboards(settings, rds, breaker, db, user_service)
        games_service = GameService(
            game_store,
            user_service,
            cache,
            boards.sink,
        )
        # Tests fake RevenueCat's REST API at the HTTP boundary through app.state.revenuecat_transport.
        transport = getattr(app.state, "revenuecat_transport", None)
        economy = await build_economy(settings, db, rds, breaker, cache, transport)
        live = build_live_events(settings, db, cache, economy.grants)
        economy.payments.send_receipts_through(live.notifier)  # purchase receipts are pushes
        economy.grants.send_receipts_through(live.notifier)  # and so are those of approved held purchases
        app.state.container = Container(
            settings=settings,
            verifier=verifier,
            limiter=limiter,
            user_limits=parse_limits(settings.rate_limit_user),
            ip_limits=parse_limits(settings.rate_limit_ip),
            users=user_service,
            games=games_service,
            grants=economy.grants,
            payments=economy.payments,
            leaderboards=boards.service,
            presence=boards.presence,
            live_events=live.service,
            notifier=live.notifier,
        )

        async def probe() -> dict[str, str]:
            async def check(name: str, ping: Awaitable[None]) -> tuple[str, str]:
                try:
                    await ping
                except Exception as exc:
                    return name, f"error: {type(exc).__name__}"
                return name, "ok"

            results = await asyncio.gather(
                check("redis", ping_redis(rds)), check("firestore", ping_firestore(db))
            )
            return dict(results)

        app.state.probe = probe
        if settings.gc_freeze_after_startup:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            if settings.gc_freeze_after_startup:
                gc.unfreeze()
            await boards.close()
            await live.aclose()
            await economy.aclose()
            await limiter.aclose()
            await close_redis(rds)
            await game_store.close()
            await close_firestore(db)
            verifier.close()

    configure_logging(settings.log_json)
    _init_sentry(settings)
    app = FastAPI(
        title="Pot of Gold game API",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if settings.environment != "prod" else None,
        redoc_url=None,
    )
    errors.install(app)

    api_errors.install(app)
    app.include_router(health.router)
    # Second: the hottest public route is matched before the others are scanned.
    app.include_router(leaderboards.router)
    app.include_router(me.router)
    app.include_router(users.router)
    app.include_router(games.router)
    app.include_router(transactions.router)
    app.include_router(webhooks.router)
    app.include_router(purchases.router)
    app.include_router(admin_review.router)
    app.include_router(events.router)
    app.include_router(admin_events.router)
    app.include_router(presence.router)
    app.include_router(metrics.router)
    # Outermost first on the way in: size limit, then compression of the response.
    app.add_middleware(BrotliMiddleware, minimum_size=512, gzip_fallback=True)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost: request id, trace id, the request's log line and metrics.
    app.add_middleware(RequestContext, project=settings.firebase_project_id)
    return app


app = create_app()
