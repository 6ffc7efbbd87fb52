"""Smoke tests of the API benchmark's pure parts and its Python load generator: structure, never timings."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from bench import api_bench
from bench.api_bench import LoadResult, Results, StepStats

WRK_OUTPUT = """\
Running 8s test @ http://127.0.0.1:41234/v1/me
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    70.12ms   12.34ms 145.34ms   80.00%
    Req/Sec   400.00     50.00   500.00     70.00%
  Latency Distribution
     50%   70.20ms
     75%   75.00ms
     90%   90.00ms
     99%  145.34ms
  6400 requests in 8.01s, 3.20MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:    799.00
Transfer/sec:    400.00KB
"""


def _load(path: str, rps: float) -> LoadResult:
    return LoadResult(path, "wrk", 64, 8.0, int(rps * 8), 0, rps, 10.0, 50.0)


def test_defaults_and_options() -> None:
    args = api_bench.parse_args([])
    assert (args.duration, args.connections, args.games, args.load, args.json) == (8.0, 64, 50, "auto", None)
    args = api_bench.parse_args(["--duration", "1", "--connections", "2", "--games", "3", "--json", "x.json"])
    assert (args.duration, args.connections, args.games, str(args.json)) == (1.0, 2, 3, "x.json")
    with pytest.raises(SystemExit):
        api_bench.parse_args(["--connections", "0"])


def test_wrk_output_is_read() -> None:
    result = api_bench.parse_wrk(WRK_OUTPUT, "/v1/me", 64)
    assert result == LoadResult("/v1/me", "wrk", 64, 8.01, 6400, 6, 799.0, 70.2, 145.34)
    with pytest.raises(api_bench.BenchError):
        api_bench.parse_wrk("wrk: nothing here", "/v1/me", 64)


def test_report_and_json_carry_every_figure() -> None:
    flow = {step: StepStats(50, 10.0, 20.0) for step in api_bench.FLOW_STEPS}
    counters = {"cache_hits": 10, "cache_misses": 0, "firestore_calls": 0}
    results = Results("wrk", _load("/healthz", 1000.0), _load("/v1/me", 700.0), flow, "2 CPUs", counters)
    assert results.ratio == pytest.approx(0.7)
    report = api_bench.format_report(results)
    for text in ("/healthz", "/v1/me", "me / bare", "0.70", "met", "whole flow", "p95", "10 cache hits"):
        assert text in report
    slow = Results("wrk", _load("/healthz", 1000.0), _load("/v1/me", 100.0), flow, "2 CPUs", counters)
    assert "MISSED" in api_bench.format_report(slow)
    data = json.loads(json.dumps(results.to_json()))
    assert set(data) >= {"tool", "bare", "me", "ratio_me_bare", "ratio_target", "flow", "me_backend"}
    assert set(data["flow"]) == set(api_bench.FLOW_STEPS)


def test_backend_counters_are_read_from_the_metrics_text() -> None:
    text = "\n".join(
        [
            "# HELP pog_cache_requests_total Redis cache lookups",
            'pog_cache_requests_total{cache="profile",result="hit"} 12.0',
            'pog_cache_requests_total{cache="profile",result="miss"} 2.0',
            'pog_firestore_latency_ms_count{database="(default)",operation="get"} 3.0',
            'pog_firestore_latency_ms_sum{database="(default)",operation="get"} 30.0',
        ]
    )
    assert api_bench.backend_counters(text) == {"cache_hits": 12, "cache_misses": 2, "firestore_calls": 3}


def test_percentiles_and_step_stats() -> None:
    assert api_bench.percentile([], 99) == 0.0
    assert api_bench.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert api_bench.percentile(list(range(1, 101)), 99) == 99
    stats = api_bench.step_stats([0.001, 0.002, 0.003])
    assert stats.runs == 3
    assert stats.median_ms == pytest.approx(2.0)


def test_the_python_load_generator_against_a_tiny_server() -> None:
    """One second, two keep-alive connections, against an asyncio server answering 200 (or 500)."""

    heads: list[bytes] = []  # recorded, asserted after: a failed assert in the server only drops a connection

    async def scenario() -> tuple[LoadResult, LoadResult]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    heads.append(head)
                    if head.startswith(b"GET /fail"):
                        writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
                    else:
                        chunked = b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
                        writer.write(b"HTTP/1.1 200 OK\r\n" + chunked)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        headers = {"Authorization": "Bearer t"}
        async with server:
            ok = await api_bench.python_load(f"http://127.0.0.1:{port}/healthz", headers, 2, 0.6)
            failing = await api_bench.python_load(f"http://127.0.0.1:{port}/fail", headers, 2, 0.3)
        return ok, failing

    ok, failing = asyncio.run(scenario())
    assert (ok.path, ok.tool, ok.connections, ok.errors) == ("/healthz", "python", 2, 0)
    assert ok.requests > 0
    assert math.isfinite(ok.rps)
    assert ok.p50_ms <= ok.p99_ms
    assert failing.requests > 0
    assert failing.errors == failing.requests
    assert len(heads) >= ok.requests + failing.requests  # the last ones may be cut off by the deadline
    assert all(b"Authorization: Bearer t" in head for head in heads)


def test_the_dev_token_names_the_player_and_project() -> None:
    token = api_bench.dev_token("bench-player", "demo-x")
    _header, payload, signature = token.split(".")
    assert signature == ""
    claims = json.loads(api_bench.base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert (claims["sub"], claims["aud"], claims["iss"]) == (
        "bench-player",
        "demo-x",
        "https://securetoken.google.com/demo-x",
    )
