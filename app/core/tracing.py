"""Request traces: OpenTelemetry spans of a request and of the calls it makes, to Cloud Trace.

The API's lifespan imports this module and calls ``start_tracing`` when the sampling ratio is above 0;
importing or building the app loads none of it (tests/app/test_main.py), and local runs and tests (ratio
0) never do. Traced: the request (the server span, named by its route template), Redis commands and
pipelines, gRPC calls (Firestore, Pub/Sub) and HTTP calls through httpx (RevenueCat, Stripe) and requests
(firebase_admin).

Sampling (docs/operations.md#traces): ``ParentBased`` over ``TraceIdRatioBased(ratio)``. A span inside the
process follows its parent, so a request's spans are kept or dropped together. A request continues the
trace of its ``traceparent`` (or, without one, the load balancer's ``X-Cloud-Trace-Context``), but the
ratio decides whether it is recorded: Google's front end sends a trace header with every request, so
following its flag would ignore the ratio, and a client could have every one of its requests recorded.
The decision hashes the trace id, so services sampling at the same ratio keep the same traces. Only a
request starts a trace: a call with no request around it (the cache sweep, the Pub/Sub publisher's
thread, the exporter's own calls) records nothing.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware, asgi_getter

# The FastAPI instrumentation's own span naming ("POST /v1/games/{game_id}/finish", with http.route): its
# instrument_app cannot wrap this app, whose stack ends in SecurityHeaders (app/main.py), not Starlette's.
from opentelemetry.instrumentation.fastapi import _get_default_span_details
from opentelemetry.instrumentation.grpc import (
    GrpcAioInstrumentorClient,
    GrpcInstrumentorClient,
    client_interceptor,
)
from opentelemetry.instrumentation.grpc.grpcext import intercept_channel
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.propagate import extract, get_global_textmap, set_global_textmap
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core import observability
from app.core.config import Settings

#: Probes and the metrics scrape: a trace each would say nothing and, in dev, outnumber the requests.
UNTRACED_PATHS = ("/healthz", "/readyz", "/metrics")
#: ``TRACE_ID/SPAN_ID;o=1``: the span id in decimal (64 bits), ``o=1`` when Google's front end sampled.
_CLOUD_TRACE = re.compile(r"^([0-9a-fA-F]{32})/(\d{1,20})(?:;o=([01]))?$")


class TracingError(RuntimeError):
    """Tracing cannot start as asked."""


class Tracing:
    """The process's tracer: its provider, the instrumented libraries and the propagator it replaced."""

    def __init__(
        self,
        provider: TracerProvider,
        instrumentors: Sequence[BaseInstrumentor],
        previous_propagator: TextMapPropagator,
        ratio: float = 1.0,
    ) -> None:
        self.provider = provider
        self.ratio = ratio
        self._instrumentors = instrumentors
        self._previous_propagator = previous_propagator

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """The server span around ``app``: the outermost layer, so that it covers what the request costs
        and the request's log line (app/core/observability.py) names its trace. Only the requests the
        ratio samples go through OpenTelemetry's middleware (``SampledOnly``)."""
        # The probes and /metrics never reach ``traced``: SampledOnly sends them to ``app`` itself.
        # No "receive" and "send" spans: three more per request that only repeat the server span's timing.
        traced = OpenTelemetryMiddleware(
            app,
            default_span_details=_get_default_span_details,
            tracer_provider=self.provider,
            exclude_spans=["receive", "send"],
        )
        return SampledOnly(traced, app, self.ratio)

    def shutdown(self) -> None:
        """Export what is buffered (a stopping instance loses nothing) and undo the instrumentation."""
        global _active
        try:
            self.provider.shutdown()
        finally:
            for instrumentor in reversed(self._instrumentors):
                instrumentor.uninstrument()
            set_global_textmap(self._previous_propagator)
            observability.read_span_ids_with(None)
            _active = None


_active: Tracing | None = None


def start_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing | None:
    """Tracing for this process at ``settings.trace_sampling``, or None when it is 0.

    ``exporter`` replaces Cloud Trace (tests: an in-memory exporter). Without one, spans go to Cloud Trace
    in dev and prod; elsewhere they are not exported, and the log lines still carry their trace ids.
    Call before the clients are built: a gRPC channel gets the tracing interceptors when it is created.
    """
    global _active
    ratio = settings.trace_sampling
    if ratio == 0:
        return None
    if _active is not None:
        # The instrumentations patch the libraries for the whole process: one tracer per process.
        raise TracingError("tracing is already on in this process: shut the other app's tracing down first")
    resource = Resource.create(
        {
            # Cloud Run names the service and the revision in these variables.
            "service.name": os.environ.get("K_SERVICE", "pog-api"),
            "service.version": os.environ.get("K_REVISION", "local"),
            "deployment.environment": settings.environment,
        }
    )
    provider = TracerProvider(sampler=sampler(ratio), resource=resource)
    if exporter is None and settings.deployed:
        # Built before gRPC is instrumented: the exporter's own channel stays untraced.
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

        exporter = CloudTraceSpanExporter(project_id=settings.firebase_project_id)  # type: ignore[no-untyped-call]
    if exporter is not None:
        # Exported from a thread in batches, never on a request's path.
        provider.add_span_processor(BatchSpanProcessor(exporter))
    previous = get_global_textmap()
    # The last propagator that finds its header wins: traceparent over the load balancer's header.
    set_global_textmap(CompositePropagator([CloudTraceContext(), TraceContextTextMapPropagator()]))
    instrumentors: list[BaseInstrumentor] = [
        RedisInstrumentor(),
        GrpcAioInstrumentorClient(),  # type: ignore[no-untyped-call]  # Firestore's AsyncClient
        _GrpcClientOnProvider(),  # type: ignore[no-untyped-call]  # Pub/Sub's publisher (synchronous gRPC)
        HTTPXClientInstrumentor(),
        RequestsInstrumentor(),
    ]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    observability.read_span_ids_with(current_span_ids)
    _active = Tracing(provider, instrumentors, previous, ratio)
    return _active


class _GrpcClientOnProvider(GrpcInstrumentorClient):
    """The synchronous gRPC client instrumentation on the given provider: the library's reads the provider
    from each channel call's arguments (there is none), so it would use the global one."""

    def _instrument(self, **kwargs: Any) -> None:
        self._provider = kwargs.get("tracer_provider")
        super()._instrument(**kwargs)  # type: ignore[no-untyped-call]

    def wrapper_fn(self, original: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        channel = original(*args, **kwargs)
        interceptor = client_interceptor(tracer_provider=self._provider)  # type: ignore[no-untyped-call]
        return intercept_channel(channel, interceptor)  # type: ignore[no-untyped-call]


class RequestsOnly(Sampler):
    """A trace starts at a request (a server span), recorded: ``SampledOnly`` drew the request at the
    ratio before it reached the middleware. A root span of any other kind records nothing."""

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Any] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind is not SpanKind.SERVER:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "RequestsOnly"


def sampler(ratio: float) -> Sampler:
    """In-process parents are followed; a caller's span is decided by ``ratio`` on its trace id (the
    module's docstring says why a caller's flag is not followed). A request without a caller's trace
    reaches the server span only when ``SampledOnly`` drew it at ``ratio``: its root is recorded."""
    by_trace_id = TraceIdRatioBased(ratio)
    result: Sampler = ParentBased(
        root=RequestsOnly(),
        remote_parent_sampled=by_trace_id,
        remote_parent_not_sampled=by_trace_id,
    )
    return result


def current_span_ids() -> observability.SpanIds | None:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return observability.SpanIds(
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        sampled=context.trace_flags.sampled,
    )


class CloudTraceContext(TextMapPropagator):
    """Reads Google's ``X-Cloud-Trace-Context``. Writes nothing: outbound calls carry ``traceparent``,
    which Google's services read as well."""

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        values = getter.get(carrier, "x-cloud-trace-context")
        match = _CLOUD_TRACE.match(values[0].strip()) if values else None
        span_id = int(match.group(2)) if match else 0
        if match is None or not 0 < span_id < 2**64:
            return context if context is not None else Context()
        span_context = trace.SpanContext(
            trace_id=int(match.group(1), 16),
            span_id=span_id,
            is_remote=True,
            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED if match.group(3) == "1" else 0),
        )
        if not span_context.is_valid:  # an all-zero trace id
            return context if context is not None else Context()
        return trace.set_span_in_context(trace.NonRecordingSpan(span_context), context)

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        return None

    @property
    def fields(self) -> set[str]:
        return set()


class SampledOnly:
    """Sends a request through OpenTelemetry's middleware (``traced``) only when it will be recorded, and
    straight to the app (``plain``) otherwise: naming the server span (matching the route) and collecting
    its attributes cost about 270 µs of CPU per request, recorded or not (bench/README.md, tracing), which
    at prod's 0.05 would be paid 20 times per recorded trace.

    The decision is the sampler's own: a request carrying a caller's trace is decided on its trace id at
    ``ratio`` (``TraceIdRatioBased``, as ``sampler`` does); one without is drawn at ``ratio`` here, and its
    root span is then always recorded. An unsampled request still runs in the caller's context, so its
    log line names the caller's trace and the clients' spans under it are dropped by ``ParentBased``.
    """

    def __init__(self, traced: ASGIApp, plain: ASGIApp, ratio: float) -> None:
        self._traced = traced
        self._plain = plain
        self._ratio = ratio
        self._by_trace_id = TraceIdRatioBased(ratio)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self._plain(scope, receive, send)
            return
        caller: Context = extract(scope, getter=asgi_getter)  # type: ignore[misc]
        remote = trace.get_current_span(caller).get_span_context()
        if remote.is_valid:
            decision = self._by_trace_id.should_sample(None, remote.trace_id, "").decision
            sampled = decision is Decision.RECORD_AND_SAMPLE
        else:
            sampled = random.random() < self._ratio
        if sampled:
            await self._traced(scope, receive, send)
            return
        if remote.is_valid:
            # The caller's trace, marked as not sampled here: the log line says Cloud Trace lacks it.
            unsampled = trace.SpanContext(remote.trace_id, remote.span_id, is_remote=True)
            caller = trace.set_span_in_context(trace.NonRecordingSpan(unsampled), caller)
        token = otel_context.attach(caller)
        try:
            await self._plain(scope, receive, send)
        finally:
            otel_context.detach(token)
