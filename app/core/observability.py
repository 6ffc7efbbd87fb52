"""Structured JSON logs (Cloud Logging's format) and the per-request log line and metrics.

One JSON object per line on stdout: ``severity``, ``message``, ``logger``, the request id and, when the
load balancer sent ``X-Cloud-Trace-Context``, ``logging.googleapis.com/trace`` so Cloud Logging groups the
lines of a request. While tracing is on (app/core/tracing.py) the trace is the request's span's, which
continues the caller's, with ``spanId`` and ``trace_sampled``: Cloud Trace then shows a trace's log lines.
Fields passed with ``extra=`` (``event``, ``provider``, ...) become top-level keys, which
the log-based metrics of monitoring/metrics/ filter on (``jsonPayload.event="payment_failed"``).
No personal data: no IPs, tokens, headers, query strings or bodies are logged.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.metrics import observe_request

REQUEST_ID_HEADER = "X-Request-ID"
TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_TRACE = re.compile(r"^([0-9a-fA-F]{32})(?:/\d+)?(?:;o=\d)?$")

request_id_var: ContextVar[str | None] = ContextVar("pog_request_id", default=None)
trace_var: ContextVar[str | None] = ContextVar("pog_trace", default=None)
#: The request's span id and whether its trace is recorded, while tracing is on.
span_var: ContextVar[tuple[str, bool] | None] = ContextVar("pog_span", default=None)


@dataclass(frozen=True)
class SpanIds:
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    sampled: bool


#: The current span's ids, set by app/core/tracing.py while tracing is on (None: no tracer in the process).
_span_ids: Callable[[], SpanIds | None] | None = None


def read_span_ids_with(reader: Callable[[], SpanIds | None] | None) -> None:
    """Where the request's log lines take their trace from: the tracer's current span, or (None) the
    ``X-Cloud-Trace-Context`` header alone."""
    global _span_ids
    _span_ids = reader


#: LogRecord attributes that are not "extra" fields.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """A Cloud Logging structured entry per record (``severity`` and ``message`` are its special keys)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        trace = trace_var.get()
        if trace is not None:
            entry[TRACE_FIELD] = trace
            span = span_var.get()
            if span is not None:
                entry[SPAN_FIELD], entry[SAMPLED_FIELD] = span
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stdout`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure_logging(json_logs: bool, level: int = logging.INFO) -> None:
    """Idempotent: replaces the handler this function installed before, leaves others alone."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StdoutHandler):
            root.removeHandler(handler)
    if not json_logs:
        return
    handler = _StdoutHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    logging.getLogger("app").setLevel(level)


def trace_resource(header: str | None, project: str) -> str | None:
    """``X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1`` -> ``projects/P/traces/TRACE_ID``."""
    if not header:
        return None
    match = _TRACE.match(header.strip())
    return f"projects/{project}/traces/{match.group(1).lower()}" if match else None


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


access_log = logging.getLogger("app.request")


class RequestContext:
    """Pure ASGI: request id (``X-Request-ID`` when valid, else generated; echoed), trace id, one log line
    and the request metrics per request. Outermost, so its latency includes compression and size checks."""

    def __init__(self, app: ASGIApp, project: str) -> None:
        self.app = app
        self.project = project

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        supplied: str | None = None
        trace_header: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                supplied = value.decode("latin-1")
            elif name == b"x-cloud-trace-context":
                trace_header = value.decode("latin-1")
        request_id = supplied if supplied and _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        rid_token = request_id_var.set(request_id)
        ids = _span_ids() if _span_ids is not None else None
        if ids is None:
            trace_token = trace_var.set(trace_resource(trace_header, self.project))
            span_token = span_var.set(None)
        else:  # inside the server span (app/core/tracing.py wraps the whole stack)
            trace_token = trace_var.set(f"projects/{self.project}/traces/{ids.trace_id}")
            span_token = span_var.set((ids.span_id, ids.sampled))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            latency_ms = (time.perf_counter() - start) * 1000
            method = str(scope.get("method", ""))
            route = route_template(scope)
            observe_request(method, route, status, latency_ms)
            level = logging.ERROR if status >= 500 else logging.INFO
            access_log.log(
                level,
                "%s %s %d",
                method,
                route,
                status,
                extra={
                    "event": "request",
                    "method": method,
                    "route": route,
                    "status": status,
                    "latency_ms": round(latency_ms, 2),
                },
            )
            request_id_var.reset(rid_token)
            trace_var.reset(trace_token)
            span_var.reset(span_token)
