"""Payment webhooks: RevenueCat ``INITIAL_PURCHASE`` deliveries/s through the whole path, against one bare
Firestore transaction of the same size measured in the same run (bench/README.md, "Payments benchmark").

One run starts a redis-server and the Firestore emulator on free ports (scripts/services.py), seeds one
player per delivery, and drives the app in-process (its own lifespan, ``httpx.ASGITransport``) from
``--concurrency`` tasks:

- baseline: ``--deliveries`` Firestore transactions that each read 4 documents and write 5 (what a grant
  reads and writes: marker, chain head, wallet, payment record; the same plus the audit entry), same
  client library, same concurrency;
- purchases: ``--deliveries`` distinct ``POST /v1/webhooks/revenuecat`` (shared-header check, JSON body,
  receipt validation against RevenueCat's REST API faked at the HTTP boundary, fraud velocity in Redis,
  the grant transaction, the cache invalidation): deliveries/s, p50/p99, outcomes;
- duplicates: every one of those deliveries again (RevenueCat's retries): deliveries/s, and the grants
  they added (0 expected), counted in the audit log;
- burst: ``--burst`` concurrent copies of one new delivery: how many granted (1 expected).

Figures are printed, never asserted. Each phase stops issuing requests after ``--phase-seconds``; the
default run takes under a minute. Everything started is stopped by PID at the end.

    .venv/bin/python -m bench.payments_bench [--deliveries N] [--concurrency N] [--burst N]
        [--phase-seconds S] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.api_bench import BenchError, percentile, run_and_report
from scripts import services

PROJECT = "demo-pog-payments-bench"
RC_AUTH = "Bearer bench-webhook-secret"
RC_API_KEY = "sk_bench_revenuecat"
STORE_PRODUCT = "com.potofgold.vip.monthly"
WEBHOOK_PATH = "/v1/webhooks/revenuecat"
#: What one grant transaction reads and writes (app/repositories/ledger.py).
BASELINE_READS = 4
BASELINE_WRITES = 5


@dataclass(frozen=True)
class Phase:
    """One phase: ``done`` operations (of those planned) in ``seconds``."""

    name: str
    done: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    outcomes: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Results:
    machine: str
    concurrency: int
    baseline: Phase
    purchases: Phase
    duplicates: Phase
    #: Grant audit entries after the purchases, and after their redelivery (equal: duplicates grant nothing).
    grants_after_purchases: int
    grants_after_duplicates: int
    burst: int
    burst_granted: int

    @property
    def purchase_ratio(self) -> float:
        return self.purchases.per_second / self.baseline.per_second if self.baseline.per_second else 0.0

    @property
    def duplicate_ratio(self) -> float:
        return self.duplicates.per_second / self.baseline.per_second if self.baseline.per_second else 0.0

    def to_json(self) -> dict[str, Any]:
        phases = {p.name: {**asdict(p), "per_second": p.per_second} for p in self.phases}
        return {
            "machine": self.machine,
            "concurrency": self.concurrency,
            "phases": phases,
            "ratio_purchase_baseline": self.purchase_ratio,
            "ratio_duplicate_baseline": self.duplicate_ratio,
            "grants_after_purchases": self.grants_after_purchases,
            "grants_after_duplicates": self.grants_after_duplicates,
            "burst": self.burst,
            "burst_granted": self.burst_granted,
        }

    @property
    def phases(self) -> tuple[Phase, Phase, Phase]:
        return self.baseline, self.purchases, self.duplicates


def format_report(results: Results) -> str:
    lines = [
        f"Payments benchmark ({results.machine}; {results.concurrency} concurrent; Firestore emulator)",
        "",
        f"{'phase':<12} {'done':>6} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}  outcomes",
    ]
    for p in results.phases:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(p.outcomes.items()))
        lines.append(
            f"{p.name:<12} {p.done:>6} {p.per_second:>8.1f} {p.p50_ms:>8.1f} {p.p99_ms:>8.1f} "
            f"{p.errors:>6}  {outcomes}"
        )
    extra = results.grants_after_duplicates - results.grants_after_purchases
    lines += [
        "",
        f"purchase webhook / bare transaction ({BASELINE_READS} reads, {BASELINE_WRITES} writes): "
        f"{results.purchase_ratio:.2f}",
        f"duplicate delivery / bare transaction: {results.duplicate_ratio:.2f}",
        f"grants added by {results.duplicates.done} duplicate deliveries: {extra}",
        f"{results.burst} concurrent copies of one new delivery: {results.burst_granted} grant(s)",
    ]
    return "\n".join(lines)


# --- the pieces --------------------------------------------------------------------------------------


def subscriber(uid: str) -> dict[str, Any]:
    """RevenueCat's ``GET /v1/subscribers/{uid}`` body for a player whose subscription is ``tx-{uid}``."""
    return {
        "request_date_ms": int(time.time() * 1000),
        "subscriber": {
            "original_app_user_id": uid,
            "entitlements": {},
            "non_subscriptions": {},
            "subscriptions": {
                STORE_PRODUCT: {
                    "expires_date": "2030-01-01T00:00:00Z",
                    "is_sandbox": False,
                    "ownership_type": "PURCHASED",
                    "period_type": "normal",
                    "purchase_date": "2026-11-26T10:00:00Z",
                    "refunded_at": None,
                    "store": "app_store",
                    "store_transaction_id": f"tx-{uid}",
                }
            },
        },
    }


def fake_revenuecat(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=subscriber(request.url.path.rsplit("/", 1)[-1]))


def purchase_body(uid: str) -> bytes:
    now_ms = int(time.time() * 1000)
    event = {
        "id": str(uuid.uuid4()).upper(),
        "type": "INITIAL_PURCHASE",
        "app_id": "app1234567890",
        "app_user_id": uid,
        "original_app_user_id": uid,
        "aliases": [uid],
        "product_id": STORE_PRODUCT,
        "entitlement_ids": ["vip"],
        "period_type": "NORMAL",
        "purchased_at_ms": now_ms,
        "expiration_at_ms": now_ms + 30 * 86_400_000,
        "environment": "PRODUCTION",
        "store": "APP_STORE",
        "country_code": "IE",
        "currency": "USD",
        "price": 7.99,
        "price_in_purchased_currency": 7.99,
        "transaction_id": f"tx-{uid}",
        "original_transaction_id": f"tx-{uid}",
    }
    return orjson.dumps({"api_version": "1.0", "event": event})


async def run_phase(
    name: str,
    operations: Sequence[Callable[[], Awaitable[str]]],
    concurrency: int,
    deadline_s: float,
) -> Phase:
    """Run the operations from ``concurrency`` workers; each returns an outcome label (or raises)."""
    queue = list(reversed(operations))
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    errors = 0
    began = time.perf_counter()

    async def worker() -> None:
        nonlocal errors
        while queue and time.perf_counter() - began < deadline_s:
            operation = queue.pop()
            start = time.perf_counter()
            try:
                outcomes[await operation()] += 1
            except Exception as exc:
                errors += 1
                outcomes[type(exc).__name__] += 1
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - began
    ms = [s * 1000 for s in latencies]
    return Phase(
        name, len(latencies), seconds, percentile(ms, 50), percentile(ms, 99), errors, dict(outcomes)
    )


async def seed_players(db: Any, uids: Sequence[str]) -> None:
    now = time.time()
    for start in range(0, len(uids), 500):
        batch = db.batch()
        for uid in uids[start : start + 500]:
            batch.set(
                db.collection("users").document(uid),
                {
                    "uid": uid,
                    "display_name": uid,
                    "country": None,
                    "created_at": now,
                    "inventory": {"coins": 0, "items": {}},
                },
            )
        await batch.commit()


def baseline_transaction(db: Any, n: int) -> Callable[[], Awaitable[str]]:
    """One transaction the size of a grant: read 4 documents, write 5 (one of them a ``create``)."""
    from google.cloud import firestore

    refs = [db.collection("bench_baseline").document(f"{n}-{i}") for i in range(BASELINE_WRITES)]

    @firestore.async_transactional
    async def work(txn: Any) -> None:
        for ref in refs[:BASELINE_READS]:
            await ref.get(transaction=txn)
        txn.create(refs[-1], {"n": n, "at": time.time()})
        for ref in refs[:-1]:
            txn.set(ref, {"n": n, "at": time.time()})

    async def run() -> str:
        await work(db.transaction())
        return "committed"

    return run


def delivery(client: httpx.AsyncClient, body: bytes) -> Callable[[], Awaitable[str]]:
    headers = {"Authorization": RC_AUTH, "Content-Type": "application/json"}

    async def run() -> str:
        response = await client.post(WEBHOOK_PATH, content=body, headers=headers)
        if response.status_code != 200:
            raise BenchError(f"{response.status_code}: {response.text[:200]}")
        return str(response.json()["outcome"])

    return run


async def count_grants(db: Any) -> int:
    from google.cloud import firestore

    query = db.collection("transactions").where(filter=firestore.FieldFilter("kind", "==", "grant"))
    result = await query.count().get()
    return int(result[0][0].value)


# --- the run ------------------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, redis_port: int, firestore_port: int) -> Results:
    from google.cloud import firestore
    from pydantic import SecretStr

    from app.composition import Overrides
    from app.core.config import Settings
    from app.main import create_app
    from app.repositories.clients import close_firestore

    # FIRESTORE_EMULATOR_HOST: the field's alias (the variable's own name), not in the signature.
    emulator: dict[str, Any] = {"FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{firestore_port}"}
    settings = Settings(
        environment="local",
        redis_url=SecretStr(f"redis://127.0.0.1:{redis_port}/0"),
        firebase_project_id=PROJECT,
        revenuecat_webhook_auth=SecretStr(RC_AUTH),
        revenuecat_api_key=SecretStr(RC_API_KEY),
        audit_local_key=SecretStr(base64.b64encode(os.urandom(32)).decode()),
        rate_limit_user="1000000/minute",
        rate_limit_ip="1000000/minute",
        log_json=False,
        **emulator,
    )
    uids = [f"bench-{i:06d}" for i in range(args.deliveries)]
    burst_uid = "bench-burst"
    db = firestore.AsyncClient(project=PROJECT)
    try:
        await seed_players(db, [*uids, burst_uid])
        warm_up = [baseline_transaction(db, -n) for n in range(1, args.concurrency + 1)]
        await run_phase("warm-up", warm_up, args.concurrency, args.phase_seconds)  # the emulator's JIT
        baseline = await run_phase(
            "baseline",
            [baseline_transaction(db, n) for n in range(args.deliveries)],
            args.concurrency,
            args.phase_seconds,
        )
        app = create_app(settings, Overrides(revenuecat_transport=httpx.MockTransport(fake_revenuecat)))
        logging.getLogger("app").setLevel(logging.WARNING)  # no log line per request in the figures
        bodies = [purchase_body(uid) for uid in uids]
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
        ):
            purchases = await run_phase(
                "purchases", [delivery(client, b) for b in bodies], args.concurrency, args.phase_seconds
            )
            granted = await count_grants(db)
            sent = bodies[: purchases.done]
            duplicates = await run_phase(
                "duplicates", [delivery(client, b) for b in sent], args.concurrency, args.phase_seconds
            )
            after = await count_grants(db)
            burst_body = purchase_body(burst_uid)
            burst = await asyncio.gather(
                *(delivery(client, burst_body)() for _ in range(args.burst)), return_exceptions=True
            )
            burst_granted = sum(1 for outcome in burst if outcome == "granted")
    finally:
        await close_firestore(db)
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
    return Results(
        machine=machine,
        concurrency=args.concurrency,
        baseline=baseline,
        purchases=purchases,
        duplicates=duplicates,
        grants_after_purchases=granted,
        grants_after_duplicates=after,
        burst=args.burst,
        burst_granted=burst_granted,
    )


def run_benchmark(args: argparse.Namespace, quiet: bool = False) -> Results:
    def say(message: str) -> None:
        if not quiet:
            print(f"bench: {message}", file=sys.stderr, flush=True)

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pog-pay-bench-")))
        rds = services.start_redis(workdir)
        stack.callback(rds.stop)
        fs = services.start_firestore(workdir)
        stack.callback(fs.stop)
        say(f"redis-server pid {rds.process.pid}, Firestore emulator pid {fs.process.pid}")
        previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{fs.port}"  # read by the client library
        try:
            say(f"{args.deliveries} deliveries per phase, {args.concurrency} concurrent")
            results = asyncio.run(measure(args, rds.port, fs.port))
        finally:
            if previous is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = previous
        say("stopping the emulator and redis-server")
    return results


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return value

    return parse


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.payments_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--deliveries", type=_positive(int), default=500, help="per phase (default 500)")
    parser.add_argument("--concurrency", type=_positive(int), default=8, help="in flight (default 8)")
    parser.add_argument(
        "--burst", type=_positive(int), default=20, help="copies of one delivery (default 20)"
    )
    parser.add_argument(
        "--phase-seconds", type=_positive(float), default=12.0, help="stop a phase after this (default 12)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_and_report(lambda: run_benchmark(args), format_report, args.json)


if __name__ == "__main__":
    sys.exit(main())
