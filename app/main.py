"""The game API: ``uvicorn app.main:app``.

Importing this module loads only what declaring the routes needs. The clients (Firestore, Redis, Firebase
Auth, Stripe, KMS...) are built from ``app/composition.py`` in the lifespan's start-up, before the first
request, so a new instance answers its first request no slower and starts faster.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from brotli_asgi import BrotliMiddleware
from fastapi import FastAPI
from starlette.types import ASGIApp

from app.api import errors
from app.api.routes import (
    admin_events,
    admin_review,
    analytics,
    events,
    friends,
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
from app.core.config import Settings, get_settings
from app.core.middleware import BodySizeLimit
from app.core.observability import RequestContext, configure_logging
from app.core.security_headers import SecurityHeaders

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from app.composition import Overrides
    from app.core.tracing import Tracing


def _init_sentry(settings: Settings) -> None:
    if settings.sentry_dsn is None:
        return
    import sentry_sdk  # only when configured: it is a large import

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.environment,
        send_default_pii=False,  # no IPs, cookies, headers or user ids leave the service
        # Transactions for Sentry's performance view, sampled by Sentry apart from the OpenTelemetry traces
        # (app/core/tracing.py): docs/operations.md#traces.
        traces_sample_rate=settings.sentry_traces_sampling,
    )


def _start_tracing(app: FastAPI, settings: Settings, exporter: SpanExporter | None) -> Tracing | None:
    """Tracing before the clients are built (their channels get its interceptors), its server span
    outermost in the middleware stack, which is rebuilt: Starlette built it to run this lifespan."""
    if settings.trace_sampling == 0:
        return None  # and OpenTelemetry is never imported
    from app.core.tracing import start_tracing

    tracing = start_tracing(settings, exporter)
    app.state.tracing = tracing
    app.middleware_stack = app.build_middleware_stack()
    return tracing


def _lifespan(
    settings: Settings, overrides: Overrides | None, span_exporter: SpanExporter | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Imported at start-up, not with this module: see the module's docstring.
        from app.composition import Parts

        tracing = _start_tracing(app, settings, span_exporter)
        try:
            async with Parts(settings, overrides) as parts:
                app.state.container = await parts.container()
                app.state.probe = parts.probe
                app.state.redis_breaker = parts.breaker
                parts.start_cache_sweep()  # cache invalidations other instances could not apply
                parts.start_analytics()  # the events' publisher and the outbox's drain
                if settings.gc_freeze_after_startup:
                    gc.collect()
                    gc.freeze()
                try:
                    yield
                finally:
                    if settings.gc_freeze_after_startup:
                        gc.unfreeze()
        finally:
            if tracing is not None:
                tracing.shutdown()  # exports what is buffered

    return lifespan


class _Api(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # Outside even Starlette's error middleware, which writes the 500 of an unexpected exception.
        docs = (self.docs_url, self.swagger_ui_oauth2_redirect_url) if self.docs_url else ()
        stack = SecurityHeaders(super().build_middleware_stack(), docs_paths=[p for p in docs if p])
        tracing: Tracing | None = getattr(self.state, "tracing", None)
        return stack if tracing is None else tracing.wrap(stack)


def create_app(
    settings: Settings | None = None,
    overrides: Overrides | None = None,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """The API; ``overrides`` (tests, benchmarks) replace the clock and the payment providers' HTTP;
    ``span_exporter`` replaces Cloud Trace when tracing is on (tests)."""
    settings = settings or get_settings()
    configure_logging(settings.log_json)
    _init_sentry(settings)
    # Prod serves no schema and no docs: clients are ours, and the schema would map the attack surface.
    docs = settings.environment != "prod"
    app = _Api(
        title="Pot of Gold game API",
        version="0.1.0",
        lifespan=_lifespan(settings, overrides, span_exporter),
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url=None,
    )
    errors.install(app)
    app.include_router(health.router)
    # Second: the hottest public route is matched before the others are scanned.
    app.include_router(leaderboards.router)
    app.include_router(me.router)
    app.include_router(friends.router)
    app.include_router(users.router)
    app.include_router(games.router)
    app.include_router(transactions.router)
    app.include_router(webhooks.router)
    app.include_router(purchases.router)
    app.include_router(admin_review.router)
    app.include_router(events.router)
    app.include_router(admin_events.router)
    app.include_router(presence.router)
    app.include_router(analytics.router)
    app.include_router(metrics.router)
    # Outermost first on the way in: size limit, then compression of the response.
    app.add_middleware(BrotliMiddleware, minimum_size=512, gzip_fallback=True)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost: request id, trace id, the request's log line and metrics.
    app.add_middleware(RequestContext, project=settings.firebase_project_id)
    return app


def __getattr__(name: str) -> FastAPI:
    """``app``, the ASGI app ``uvicorn app.main:app`` serves, built on first access (once): importing this
    module (``create_app`` in tests and tools) builds nothing."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    app = globals()["app"] = create_app()
    return app
