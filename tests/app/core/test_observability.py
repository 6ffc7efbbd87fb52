"""JSON request logs (request id, trace id, no personal data) and the metrics the alerts read."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from app.core.metrics import REGISTRY, cache_name
from app.core.observability import TRACE_FIELD, JsonFormatter, trace_resource
from tests.app.conftest import MakeClient, Mint

TRACE_ID = "105445aa7843bc8bf206b12000100000"


def json_lines(out: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.splitlines() if line.startswith("{")]


def request_lines(out: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(out) if line.get("event") == "request"]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_one_json_line_per_request_with_route_template_and_no_personal_data(
    client: TestClient, auth: Mint, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = auth("alice")
    client.get("/v1/me", headers=headers)
    capsys.readouterr()
    r = client.get("/v1/users/alice", headers={**headers, "X-Request-ID": "req-12345678"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "req-12345678"
    out = capsys.readouterr().out
    [line] = request_lines(out)
    assert line["method"] == "GET"
    assert line["route"] == "/v1/users/{uid}"
    assert line["status"] == 200
    assert isinstance(line["latency_ms"], float)
    assert line["request_id"] == "req-12345678"
    assert line["severity"] == "INFO"
    assert TRACE_FIELD not in line
    token = headers["Authorization"].split()[1]
    assert token not in out
    assert "203.0.113.7" not in out  # the test client's address


@pytest.mark.parametrize(
    "supplied", [None, "", "short", "has space in it", "x" * 200, "<script>alert(1)</script>"]
)
def test_request_id_generated_when_missing_or_invalid(client: TestClient, supplied: str | None) -> None:
    headers = {} if supplied is None else {"X-Request-ID": supplied}
    r = client.get("/healthz", headers=headers)
    rid = r.headers["x-request-id"]
    assert rid != supplied
    assert len(rid) == 32
    int(rid, 16)


def test_trace_id_from_cloud_trace_header(
    client: TestClient, capsys: pytest.CaptureFixture[str], backends: Any
) -> None:
    client.get("/healthz", headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/1;o=1"})
    [line] = request_lines(capsys.readouterr().out)
    assert line[TRACE_FIELD] == f"projects/{backends.project}/traces/{TRACE_ID}"


def test_trace_header_parsing() -> None:
    assert trace_resource(f"{TRACE_ID}/123;o=1", "p") == f"projects/p/traces/{TRACE_ID}"
    assert trace_resource(TRACE_ID, "p") == f"projects/p/traces/{TRACE_ID}"
    assert trace_resource("not-a-trace", "p") is None
    assert trace_resource(None, "p") is None


def test_unmatched_routes_share_one_label(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    client.get("/v1/no/such/path/12345")
    [line] = request_lines(capsys.readouterr().out)
    assert line["route"] == "unmatched"
    assert line["status"] == 404


def test_event_fields_become_top_level_for_log_based_metrics() -> None:
    """monitoring/metrics/payment-failed.yaml filters on jsonPayload.event and extracts provider, reason."""
    record = logging.LogRecord("app.payments", logging.ERROR, __file__, 1, "grant failed", None, None)
    record.__dict__.update({"event": "payment_failed", "provider": "stripe", "reason": "grant_txn_failed"})
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["event"] == "payment_failed"
    assert entry["provider"] == "stripe"
    assert entry["reason"] == "grant_txn_failed"
    assert entry["severity"] == "ERROR"
    assert entry["message"] == "grant failed"


def test_cache_firestore_and_request_metrics_move(client: TestClient, auth: Mint) -> None:
    headers = auth("dora")
    miss = sample("pog_cache_requests_total", cache="profile", result="miss")
    hit = sample("pog_cache_requests_total", cache="profile", result="hit")
    gets = sample("pog_firestore_latency_ms_count", database="(default)", operation="get")
    writes = sample("pog_firestore_latency_ms_count", database="(default)", operation="write")
    ok = sample("pog_http_requests_total", method="GET", route="/v1/me", status_class="2xx")
    denied = sample("pog_http_requests_total", method="GET", route="/v1/me", status_class="4xx")
    latency = sample("pog_http_request_latency_ms_count", method="GET", route="/v1/me")

    assert client.get("/v1/me", headers=headers).status_code == 200  # miss, Firestore get + create
    assert client.get("/v1/me", headers=headers).status_code == 200  # hit
    assert client.get("/v1/me").status_code == 401

    assert sample("pog_cache_requests_total", cache="profile", result="miss") == miss + 1
    assert sample("pog_cache_requests_total", cache="profile", result="hit") == hit + 1
    assert sample("pog_firestore_latency_ms_count", database="(default)", operation="get") == gets + 1
    assert sample("pog_firestore_latency_ms_count", database="(default)", operation="write") == writes + 1
    assert sample("pog_http_requests_total", method="GET", route="/v1/me", status_class="2xx") == ok + 2
    assert sample("pog_http_requests_total", method="GET", route="/v1/me", status_class="4xx") == denied + 1
    assert sample("pog_http_request_latency_ms_count", method="GET", route="/v1/me") == latency + 3


def test_cache_names_match_the_metric_definition() -> None:
    assert cache_name("user:u1:profile") == "profile"
    assert cache_name("user:u1:inventory") == "inventory"
    assert cache_name("leaderboard:global:daily") == "leaderboard"
    assert cache_name("activeEvents") == "events"
    assert cache_name("hotItems") == "hot_items"


def test_metrics_endpoint_only_for_loopback_peers(make_client: MakeClient, auth: Mint) -> None:
    local = make_client(client_addr=("127.0.0.1", 40000))
    local.get("/v1/me", headers=auth("erin"))
    r = local.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    for name in ("pog_cache_requests_total", "pog_firestore_latency_ms_bucket", "pog_http_requests_total"):
        assert name in r.text

    public = make_client()  # 203.0.113.7, even when it claims to be local through Cloudflare's header
    r = public.get("/metrics", headers={"CF-Connecting-IP": "127.0.0.1"})
    assert r.status_code == 404
    assert "/metrics" not in public.get("/openapi.json").json()["paths"]
