"""Throughput of the game API: cached ``GET /v1/me`` against a bare endpoint of the same app, and the
finish-game flow end to end against the Firestore emulator.

One run starts everything it measures: a redis-server and the Firestore emulator on free ports, one seeded
player, and the app under uvicorn (one worker, access log off, 127.0.0.1) in a subprocess. The load comes
from another process on 127.0.0.1: ``wrk`` when it is installed, otherwise a Python load generator
(N keep-alive connections on asyncio for D seconds); the report says which. Both endpoints get the same
duration and concurrency in the same run, so their ratio compares like with like. Figures are printed,
never asserted. Everything started is stopped by PID at the end, on errors and Ctrl-C too.

    .venv/bin/python -m bench.api_bench [--duration S] [--connections N] [--games N] [--load auto|wrk|python]
                                        [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from scripts import services

REPO_ROOT = Path(__file__).resolve().parent.parent
ResultT = TypeVar("ResultT")
PROJECT = "demo-pog-bench"
PLAYER = ("bench-player", "Bench Player")
#: Nothing listens here: the variable only makes firebase_admin accept unsigned (alg none) dev tokens.
AUTH_EMULATOR_HOST = "127.0.0.1:9099"
#: The issue's target: cached GET /v1/me serves at least 0.6 of the bare endpoint's requests/s.
RATIO_TARGET = 0.6
BARE_PATH = "/healthz"
ME_PATH = "/v1/me"
EVENTS_PER_BATCH = 20
STARTUP_TIMEOUT_S = 60
FLOW_STEPS = ("start", "events", "finish", "flow")


class BenchError(Exception):
    """A measurement could not be taken: one line, no traceback."""


@dataclass(frozen=True)
class LoadResult:
    """One endpoint under load for a fixed time."""

    path: str
    tool: str  # "wrk" or "python"
    connections: int
    duration_s: float
    requests: int
    errors: int  # non-2xx answers and socket errors
    rps: float
    p50_ms: float
    p99_ms: float
    #: CPU seconds the uvicorn worker used during the run (Linux /proc; 0 when unknown).
    worker_cpu_s: float = 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.worker_cpu_s / self.requests * 1e6 if self.requests and self.worker_cpu_s else 0.0


@dataclass(frozen=True)
class StepStats:
    runs: int
    median_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Results:
    tool: str
    bare: LoadResult
    me: LoadResult
    flow: dict[str, StepStats]  # FLOW_STEPS -> latency of each step and of the whole flow
    machine: str
    #: The app's own counters over the /v1/me run: cache hits, misses, Firestore calls.
    me_backend: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.me.rps / self.bare.rps if self.bare.rps else 0.0

    @property
    def cpu_ratio(self) -> float:
        """Worker CPU per bare request / per /v1/me request: the ratio on a core of its own."""
        me = self.me.cpu_us_per_request
        return self.bare.cpu_us_per_request / me if me else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "machine": self.machine,
            "bare": asdict(self.bare),
            "me": asdict(self.me),
            "ratio_me_bare": self.ratio,
            "cpu_ratio_me_bare": self.cpu_ratio,
            "ratio_target": RATIO_TARGET,
            "flow": {step: asdict(stats) for step, stats in self.flow.items()},
            "me_backend": self.me_backend,
        }


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of unsorted values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return float(ordered[int(rank) - 1])


def step_stats(seconds: Sequence[float]) -> StepStats:
    ms = [s * 1000 for s in seconds]
    return StepStats(len(ms), statistics.median(ms) if ms else 0.0, percentile(ms, 95))


# --- load generators ---------------------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One HTTP/1.1 response: status, body (Content-Length or chunked), whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        await reader.readuntil(b"\r\n")
        body = b"".join(parts)
    else:
        body = b""
    return int(status_line.split(" ", 2)[1]), body, headers.get("connection", "").lower() != "close"


async def python_load(url: str, headers: dict[str, str], connections: int, duration_s: float) -> LoadResult:
    """``connections`` keep-alive connections, each sending plain GETs back to back for ``duration_s`` s.

    A minimal HTTP/1.1 client on asyncio streams: httpx's connection pool serves only a few hundred
    requests/s at 64 concurrent requests on 2 CPUs, so it would measure itself, not the app.
    """
    target = httpx.URL(url)
    host, port = target.host, target.port or 80
    request = "".join(
        [f"GET {target.raw_path.decode()} HTTP/1.1\r\nHost: {host}:{port}\r\n"]
        + [f"{name}: {value}\r\n" for name, value in headers.items()]
        + ["\r\n"]
    ).encode("latin-1")
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal errors
        writer: asyncio.StreamWriter | None = None
        try:
            while (began := time.perf_counter()) < deadline:
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    writer.write(request)
                    ok = 200 <= (await read_response(reader))[0] < 300
                except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                    ok = False
                    if writer is not None:
                        writer.close()
                    writer = None
                latencies.append(time.perf_counter() - began)
                errors += not ok
        finally:
            if writer is not None:
                writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ms = [s * 1000 for s in latencies]
    return LoadResult(
        path=target.path,
        tool="python",
        connections=connections,
        duration_s=elapsed,
        requests=len(ms),
        errors=errors,
        rps=len(ms) / elapsed if elapsed else 0.0,
        p50_ms=percentile(ms, 50),
        p99_ms=percentile(ms, 99),
    )


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise BenchError(f"cannot read wrk latency {text!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk(output: str, path: str, connections: int) -> LoadResult:
    """The figures of ``wrk --latency`` output."""

    def find(pattern: str) -> re.Match[str] | None:
        return re.search(pattern, output, re.MULTILINE)

    total = find(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)")
    rps = find(r"^Requests/sec:\s*([\d.]+)")
    p50 = find(r"^\s*50(?:\.000)?%\s+(\S+)")
    p99 = find(r"^\s*99(?:\.000)?%\s+(\S+)")
    if not (total and rps and p50 and p99):
        raise BenchError(f"cannot read wrk's output:\n{output}")
    errors = 0
    if non_2xx := find(r"^\s*Non-2xx or 3xx responses:\s*(\d+)"):
        errors += int(non_2xx[1])
    if sockets := find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        errors += sum(int(n) for n in sockets.groups())
    return LoadResult(
        path=path,
        tool="wrk",
        connections=connections,
        duration_s=_ms(total[2] + total[3]) / 1000,
        requests=int(total[1]),
        errors=errors,
        rps=float(rps[1]),
        p50_ms=_ms(p50[1]),
        p99_ms=_ms(p99[1]),
    )


def wrk_load(wrk: str, url: str, headers: dict[str, str], connections: int, duration_s: float) -> LoadResult:
    threads = max(1, min(connections, os.cpu_count() or 1))
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*cmd, url], capture_output=True, text=True, timeout=duration_s + 60, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise BenchError(f"wrk exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    return parse_wrk(done.stdout, httpx.URL(url).path, connections)


def pick_tool(choice: str) -> tuple[str, str | None]:
    wrk = shutil.which("wrk")
    if choice == "wrk" and wrk is None:
        raise BenchError("--load wrk: wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    if choice == "python" or wrk is None:
        return "python", None
    return "wrk", wrk


def measure(
    tool: str, wrk: str | None, url: str, headers: dict[str, str], connections: int, duration_s: float
) -> LoadResult:
    if tool == "wrk":
        assert wrk is not None
        return wrk_load(wrk, url, headers, connections, duration_s)
    return run_async(python_load(url, headers, connections, duration_s))


def run_async(coroutine: Coroutine[Any, Any, ResultT]) -> ResultT:
    """``coroutine`` on uvloop when installed (uvicorn[standard] brings it: the load generators then cost
    less CPU), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coroutine)
    result: ResultT = uvloop.run(coroutine)
    return result


# --- the service under test --------------------------------------------------------------------------


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def dev_token(uid: str, project: str, ttl_s: int = 3600) -> str:
    """An unsigned Firebase ID token (``alg: none``), accepted only with FIREBASE_AUTH_EMULATOR_HOST set."""
    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "iat": now,
        "exp": now + ttl_s,
        "auth_time": now,
        "firebase": {"sign_in_provider": "custom", "identities": {}},
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def app_environment(redis_port: int, firestore_port: int, project: str = PROJECT) -> dict[str, str]:
    return {
        "POG_ENVIRONMENT": "local",
        "POG_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "POG_FIREBASE_PROJECT_ID": project,
        "POG_AUTH_CHECK_REVOKED": "false",  # no Auth emulator runs to ask
        # One player sends every request of the load: limits far above what one worker can serve.
        "POG_RATE_LIMIT_USER": "10000000/minute",
        "POG_RATE_LIMIT_IP": "10000000/minute",
        "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore_port}",
        "FIREBASE_AUTH_EMULATOR_HOST": AUTH_EMULATOR_HOST,
    }


def seed_player(env: dict[str, str]) -> None:
    """Create the player's profile through the app's own repository, in a subprocess with the app's env."""
    code = (
        "import asyncio\n"
        "from app.core.config import Settings\n"
        "from app.repositories.clients import close_firestore, firestore_client\n"
        "from app.repositories.users import UserRepository\n"
        "async def main():\n"
        "    db = firestore_client(Settings())\n"
        "    try:\n"
        f"        await UserRepository(db).create({PLAYER[0]!r}, {PLAYER[1]!r})\n"
        "    finally:\n"
        "        await close_firestore(db)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise BenchError(f"seeding the player failed: {done.stderr.strip()[-1000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def start_api(stack: ExitStack, env: dict[str, str], workdir: Path) -> tuple[str, int]:
    """uvicorn, one worker, access log off, on a free port of 127.0.0.1; its base URL once it answers,
    and its PID."""
    port = services.free_port()
    log = workdir / "uvicorn.log"
    cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1", "--no-access-log"]  # fmt: skip
    with log.open("wb") as out:  # the app's own JSON request log lines go here, as they would in prod
        process = subprocess.Popen(
            cmd, env={**os.environ, **env}, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    stack.callback(_stop, process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"uvicorn exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return base, process.pid
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise BenchError(f"uvicorn not ready after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """A SIGTERM unwinds like Ctrl-C, so every process started is stopped."""

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def sample_counts(metrics_text: str, sample: str, label: str | None = None) -> dict[str, int]:
    """The samples named ``sample`` in a Prometheus exposition, summed per value of ``label`` (all of them
    under ``""`` without one)."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_text):
        for found in family.samples:
            if found.name == sample:
                key = found.labels.get(label, "") if label else ""
                counts[key] = counts.get(key, 0) + int(found.value)
    return counts


def backend_counters(metrics_text: str) -> dict[str, int]:
    """Cache hits and misses and Firestore calls so far, from the app's Prometheus exposition."""
    cache = sample_counts(metrics_text, "pog_cache_requests_total", "result")
    firestore = sample_counts(metrics_text, "pog_firestore_latency_ms_count")
    return {
        "cache_hits": cache.get("hit", 0),
        "cache_misses": cache.get("miss", 0),
        "firestore_calls": firestore.get("", 0),
    }


def _counters(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        return backend_counters(resp.read().decode())


# --- the measurements --------------------------------------------------------------------------------


def _expect(response: httpx.Response, status: int, what: str) -> Any:
    if response.status_code != status:
        raise BenchError(f"{what}: expected {status}, got {response.status_code}: {response.text[:300]}")
    return response.json()


def finish_game_flow(base: str, headers: dict[str, str], games: int) -> dict[str, StepStats]:
    """Start a game, post one batch of events, finish it: ``games`` times in a row, each step timed."""
    times: dict[str, list[float]] = {step: [] for step in FLOW_STEPS}
    events: list[dict[str, Any]] = [
        {"type": "coin", "t_ms": i * 10, "points": 5} for i in range(EVENTS_PER_BATCH)
    ]
    score = sum(e["points"] for e in events)
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for _ in range(games):
            began = time.perf_counter()
            game_id = _expect(client.post("/v1/games", json={"mode": "classic"}), 201, "start")["game_id"]
            started = time.perf_counter()
            _expect(client.post(f"/v1/games/{game_id}/events", json={"events": events}), 200, "events")
            posted = time.perf_counter()
            _expect(client.post(f"/v1/games/{game_id}/finish", json={"score": score}), 200, "finish")
            finished = time.perf_counter()
            times["start"].append(started - began)
            times["events"].append(posted - started)
            times["finish"].append(finished - posted)
            times["flow"].append(finished - began)
    return {step: step_stats(seconds) for step, seconds in times.items()}


def run_benchmark(duration_s: float, connections: int, games: int, load: str, quiet: bool = False) -> Results:
    def say(message: str) -> None:
        if not quiet:
            print(f"bench: {message}", file=sys.stderr, flush=True)

    tool, wrk = pick_tool(load)
    with _interrupt_on_sigterm(), ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pog-api-bench-")))
        rds = services.start_redis(workdir)
        stack.callback(rds.stop)
        fs = services.start_firestore(workdir)
        stack.callback(fs.stop)
        say(f"redis-server pid {rds.process.pid}, Firestore emulator pid {fs.process.pid}")
        env = app_environment(rds.port, fs.port)
        seed_player(env)
        base, api_pid = start_api(stack, env, workdir)
        say(f"uvicorn at {base}; load from {tool}, {connections} connections, {duration_s:g} s per endpoint")
        headers = {"Authorization": f"Bearer {dev_token(PLAYER[0], PROJECT)}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            _expect(client.get(BARE_PATH), 200, BARE_PATH)
            for _ in range(20):  # fills the profile cache, and warms the worker's code paths
                _expect(client.get(ME_PATH), 200, ME_PATH)
        # A short run of each first: connection set-up and first-request costs stay out of the figures.
        for path in (BARE_PATH, ME_PATH):
            measure(tool, wrk, base + path, headers, connections, min(1.0, duration_s))

        def measured(path: str) -> LoadResult:
            cpu_before = process_cpu_s(api_pid)
            result = measure(tool, wrk, base + path, headers, connections, duration_s)
            return replace(result, worker_cpu_s=process_cpu_s(api_pid) - cpu_before)

        say(f"measuring {BARE_PATH}")
        bare = measured(BARE_PATH)
        say(f"measuring {ME_PATH} (cached)")
        before = _counters(base)
        me = measured(ME_PATH)
        after = _counters(base)
        me_backend = {name: after[name] - before[name] for name in after}
        say(f"finish-game flow, {games} games in a row")
        flow = finish_game_flow(base, headers, games)
        say("stopping uvicorn, the emulator and redis-server")
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    return Results(tool=tool, bare=bare, me=me, flow=flow, machine=machine, me_backend=me_backend)


# --- the report --------------------------------------------------------------------------------------


def format_report(results: Results) -> str:
    def load_row(label: str, r: LoadResult) -> str:
        errors = f"  {r.errors} errors" if r.errors else ""
        return (
            f"  {label:<22} {r.rps:>9,.0f} req/s   p50 {r.p50_ms:>7.2f} ms   p99 {r.p99_ms:>7.2f} ms"
            f"   ({r.requests:,} requests in {r.duration_s:.1f} s){errors}"
        )

    bare, me = results.bare, results.me
    verdict = "met" if results.ratio >= RATIO_TARGET else "MISSED"
    lines = [
        f"Game API benchmark ({results.machine})",
        f"load: {results.tool}, {bare.connections} connections, {bare.duration_s:.0f} s per endpoint, "
        "uvicorn 1 worker, access log off, 127.0.0.1",
        "",
        load_row(f"bare {bare.path}", bare),
        load_row(f"cached GET {me.path}", me),
        f"  {'me / bare':<22} {results.ratio:>9.2f}         (target >= {RATIO_TARGET}: {verdict})",
    ]
    if results.cpu_ratio:
        cpu_verdict = "met" if results.cpu_ratio >= RATIO_TARGET else "MISSED"
        lines.append(
            f"  worker CPU per request: bare {bare.cpu_us_per_request:,.0f} us, /v1/me "
            f"{me.cpu_us_per_request:,.0f} us; CPU ratio {results.cpu_ratio:.2f} "
            f"(the ratio with a core of its own: {cpu_verdict})"
        )
    backend = results.me_backend
    lines.append(
        f"  during the /v1/me run: {backend['cache_hits']:,} cache hits, {backend['cache_misses']:,} misses, "
        f"{backend['firestore_calls']:,} Firestore calls (the app's /metrics)"
    )
    if bare.errors or me.errors:
        lines.append("  WARNING: some answers were not 2xx; the figures above include them")
    runs = results.flow["flow"].runs
    lines += ["", f"finish-game flow against the emulator, {runs} games in a row:"]
    labels = {
        "start": "POST /v1/games",
        "events": f"POST .../events ({EVENTS_PER_BATCH})",
        "finish": "POST .../finish",
        "flow": "whole flow",
    }
    for step in FLOW_STEPS:
        stats = results.flow[step]
        lines.append(f"  {labels[step]:<26} median {stats.median_ms:>7.1f} ms   p95 {stats.p95_ms:>7.1f} ms")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api_bench",
        description="Cached GET /v1/me against /healthz, and the finish-game flow (bench/README.md).",
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per endpoint (default 8)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections (default 64)")
    parser.add_argument("--games", type=int, default=50, help="finish-game flows in a row (default 50)")
    parser.add_argument(
        "--load",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk when installed (auto, the default), or the Python one",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.connections < 1 or args.games < 1:
        parser.error("--duration must be > 0, --connections and --games >= 1")
    return args


class Report(Protocol):
    def to_json(self) -> dict[str, Any]: ...


ReportT = TypeVar("ReportT", bound=Report)


def run_and_report(
    run: Callable[[], ReportT], format_report: Callable[[ReportT], str], json_path: Path | None
) -> int:
    """A bench's command line: run it, print its report (and its JSON), exit 1 on a setup failure
    and 130 on Ctrl-C (everything it started is stopped by then)."""
    try:
        results = run()
    except (BenchError, RuntimeError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    print(format_report(results))
    if json_path is not None:
        json_path.write_text(json.dumps(results.to_json(), indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def run() -> Results:
        return run_benchmark(args.duration, args.connections, args.games, args.load)

    return run_and_report(run, format_report, args.json)


if __name__ == "__main__":
    sys.exit(main())
