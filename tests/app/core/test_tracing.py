"""Request traces (app/core/tracing.py): a real finish-game flow on the real Redis and Firestore emulator,
its spans caught by an in-memory exporter in place of Cloud Trace."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.core.observability import SAMPLED_FIELD, SPAN_FIELD, TRACE_FIELD
from app.main import create_app
from tests.app import tokens
from tests.app.conftest import Backends, Mint, settings_for

FINISH = "POST /v1/games/{game_id}/finish"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


class Traced:
    """An app traced at ``ratio`` into ``exporter``: ``client`` while it runs, spans once it has stopped
    (stopping exports what the batch processor holds)."""

    def __init__(self, client: TestClient, exporter: InMemorySpanExporter) -> None:
        self.client = client
        self.exporter = exporter
        self._running = ExitStack()
        self._running.enter_context(client)

    def stop(self) -> None:
        self._running.close()

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()


@pytest.fixture
def traced(
    backends: Backends, signing_key: tokens.TestKey, clean: None
) -> Iterator[Callable[[float], Traced]]:
    made: list[Traced] = []

    def make(ratio: float) -> Traced:
        exporter = InMemorySpanExporter()
        app = create_app(settings_for(backends, trace_sample_ratio=ratio), span_exporter=exporter)
        made.append(Traced(TestClient(app, client=("203.0.113.7", 50000)), exporter))
        return made[-1]

    yield make
    for app in made:
        app.stop()


def _play_and_finish(client: TestClient, headers: dict[str, str], **finish_headers: str) -> None:
    r = client.post("/v1/games", headers=headers)
    assert r.status_code == 201, r.text
    game_id = r.json()["game_id"]
    events = [{"type": "coin", "t_ms": 10 * i, "points": p} for i, p in enumerate([10, 20, 30])]
    r = client.post(f"/v1/games/{game_id}/events", headers=headers, json={"events": events})
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/games/{game_id}/finish", headers={**headers, **finish_headers}, json={"score": 60})
    assert r.status_code == 200, r.text


def _finish_span(spans: Sequence[ReadableSpan]) -> ReadableSpan:
    found = [s for s in spans if s.name == FINISH and s.kind is SpanKind.SERVER]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


def _in_trace(spans: Sequence[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def _scope(span: ReadableSpan) -> str:
    return span.instrumentation_scope.name if span.instrumentation_scope else ""


def _finish_log_line(out: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    found = [e for e in lines if e.get("event") == "request" and e["route"] == "/v1/games/{game_id}/finish"]
    assert len(found) == 1, lines
    return found[0]


def test_a_finish_produces_its_server_redis_and_firestore_spans_in_one_trace(
    traced: Callable[[float], Traced], auth: Mint, backends: Backends, capsys: pytest.CaptureFixture[str]
) -> None:
    app = traced(1.0)
    _play_and_finish(app.client, auth("alice"))
    app.stop()
    spans = app.spans()
    server = _finish_span(spans)
    assert server.context is not None
    assert server.parent is None
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/v1/games/{game_id}/finish"
    trace = _in_trace(spans, server.context.trace_id)
    redis_calls = [s for s in trace if _scope(s).startswith("opentelemetry.instrumentation.redis")]
    firestore = [
        s
        for s in trace
        if _scope(s).startswith("opentelemetry.instrumentation.grpc")
        and s.name.startswith("/google.firestore.v1.Firestore/")
    ]
    assert redis_calls, [(s.name, _scope(s)) for s in trace]
    assert {s.kind for s in redis_calls} == {SpanKind.CLIENT}
    assert {s.name for s in firestore} >= {"/google.firestore.v1.Firestore/Commit"}, [s.name for s in trace]
    # Every span of the trace hangs from the finish's server span (some end after it: the leaderboard and
    # stats writes run after the response, still in the request's trace).
    by_id = {s.context.span_id: s for s in trace if s.context is not None}
    for span in [*redis_calls, *firestore]:
        parent = span
        while parent.parent is not None:
            parent = by_id[parent.parent.span_id]
        assert parent is server
        assert server.start_time is not None
        assert span.start_time is not None
        assert server.start_time <= span.start_time
    # The request's log line names the same trace and span, for Cloud Logging and Cloud Trace to join.
    line = _finish_log_line(capsys.readouterr().out)
    assert line[TRACE_FIELD] == f"projects/{backends.project}/traces/{server.context.trace_id:032x}"
    assert line[SPAN_FIELD] == f"{server.context.span_id:016x}"
    assert line[SAMPLED_FIELD] is True


def test_at_ratio_zero_nothing_is_traced_and_the_log_keeps_the_balancers_trace(
    traced: Callable[[float], Traced], auth: Mint, backends: Backends, capsys: pytest.CaptureFixture[str]
) -> None:
    app = traced(0.0)
    assert getattr(app.client.app.state, "tracing", None) is None  # type: ignore[attr-defined]
    _play_and_finish(app.client, auth("alice"), **{"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"})
    app.stop()
    assert app.spans() == ()
    line = _finish_log_line(capsys.readouterr().out)
    assert line[TRACE_FIELD] == f"projects/{backends.project}/traces/{TRACE_ID}"
    assert SPAN_FIELD not in line


def test_a_traceparent_is_continued(
    traced: Callable[[float], Traced], auth: Mint, backends: Backends, capsys: pytest.CaptureFixture[str]
) -> None:
    app = traced(1.0)
    # Both headers: traceparent wins over the load balancer's (whose trace id differs here).
    _play_and_finish(
        app.client,
        auth("alice"),
        traceparent=f"00-{TRACE_ID}-{PARENT_SPAN_ID}-00",
        **{"X-Cloud-Trace-Context": "0af7651916cd43dd8448eb211c80319c/5;o=1"},
    )
    app.stop()
    server = _finish_span(app.spans())
    assert server.context is not None
    assert server.parent is not None
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert f"{server.parent.span_id:016x}" == PARENT_SPAN_ID
    assert server.parent.is_remote
    assert server.context.trace_flags.sampled  # the ratio decides, not the caller's flag
    assert _finish_log_line(capsys.readouterr().out)[TRACE_FIELD].endswith(f"/traces/{TRACE_ID}")


def test_the_balancers_trace_header_is_continued_without_a_traceparent(
    traced: Callable[[float], Traced], auth: Mint
) -> None:
    app = traced(1.0)
    _play_and_finish(app.client, auth("alice"), **{"X-Cloud-Trace-Context": f"{TRACE_ID}/42;o=0"})
    app.stop()
    server = _finish_span(app.spans())
    assert server.context is not None
    assert server.parent is not None
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert server.parent.span_id == 42


@pytest.mark.parametrize(
    ("low_bits", "recorded"),
    [("0000000000000001", True), ("ffffffffffffffff", False)],
)
def test_the_ratio_decides_by_trace_id_whatever_the_callers_flag(
    traced: Callable[[float], Traced],
    auth: Mint,
    capsys: pytest.CaptureFixture[str],
    low_bits: str,
    recorded: bool,
) -> None:
    # TraceIdRatioBased keeps a trace whose low 64 bits are under ratio * 2**64.
    app = traced(0.5)
    trace_id = "ab" * 8 + low_bits
    _play_and_finish(app.client, auth("alice"), traceparent=f"00-{trace_id}-{PARENT_SPAN_ID}-01")
    app.stop()
    kept = _in_trace(app.spans(), int(trace_id, 16))
    assert bool(kept) is recorded
    if recorded:
        assert _finish_span(kept).parent is not None
    # Recorded or not, the log line names the trace, and says whether Cloud Trace has it.
    line = _finish_log_line(capsys.readouterr().out)
    assert line[TRACE_FIELD].endswith(f"/traces/{trace_id}")
    assert line[SAMPLED_FIELD] is recorded


def test_calls_outside_a_request_and_probes_start_no_trace(
    traced: Callable[[float], Traced], rds: redis.Redis
) -> None:
    app = traced(1.0)
    assert rds.ping()  # instrumented like the app's client, with no request around it
    assert app.client.get("/readyz").status_code == 200  # Firestore and Redis checks, not traced
    assert app.client.get("/healthz").status_code == 200
    app.stop()
    assert app.spans() == ()
