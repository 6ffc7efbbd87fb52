"""Fraud velocity counters in Redis (``limits`` moving windows, through the Redis breaker).

Each store payment (a purchase) or source (a reward, a refund) is counted at most once per kind, whatever
the webhook events or redeliveries that carry it: the caller passes the payment's key
(``revenuecat:{transaction_id}``, ``stripe:{payment_intent}``; ``velocity_key`` in
app/services/economy/requests.py), and a ``SET NX`` on ``fraud:seen:{kind}:{sha256(key)}`` comes first.
The first delivery writes ``PENDING`` there, counts, then writes its verdict; a concurrent delivery of
the same payment under another event id waits for that verdict instead of counting again, so whichever
delivery's ledger transaction commits first, the payment gets the same verdict.

When Redis is unavailable (an error, the breaker open, a verdict that never came) each kind fails its
own way (app/domain/fraud.py; docs/operations.md#when-redis-is-down-each-guard):

- purchase: CLOSED. The player's purchases in the widest window are counted in the Firestore ledger
  (``LedgerCounts``) against the per-user limits (the ledger has no IP: the per-IP limits are skipped);
  if that fails too, the purchase is held with ``velocity_unavailable``. Never granted blind.
- claim, refund: OPEN, uncounted (claims are our own rewards, each granted once; refunds never hold).

Each fallback counts in ``pog_guard_fallback_total{guard="velocity",mode="ledger"|"hold"|"open"}``.

Every key is one player's, IP's or source's: on a Redis Cluster they spread over the shards, and each call
is a single-key command or script. ``aclose`` closes the ``limits`` cluster storage (``limits_storage``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from google.api_core.exceptions import GoogleAPIError
from limits import RateLimitItem
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app.core.config import Settings
from app.core.metrics import REDIS_FAILURES, count_guard_fallback
from app.domain.fraud import VELOCITY_UNAVAILABLE, VelocityWindow, over_windows
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.clients import REDIS_ERRORS, RedisClient, close_limits_storage, limits_storage
from app.repositories.ledger_counts import LedgerCounts
from app.repositories.rate_limits import parse_limits

log = logging.getLogger("app.fraud")

#: Long enough to outlive every window (the widest default is a day) and the providers' retries.
SEEN_TTL_S = 3 * 24 * 3600
#: The seen key's value while its first delivery counts; then ``=`` and the reasons, one a line.
PENDING = b"?"
VERDICT = b"="
#: How long a concurrent delivery waits for the first one's verdict (a count takes a few round trips).
VERDICT_WAIT_S = 2.0
VERDICT_POLL_S = 0.02


def _windows(items: list[RateLimitItem]) -> list[VelocityWindow]:
    return [VelocityWindow(item.amount, item.get_expiry(), str(item)) for item in items]


def _verdict(value: object) -> list[str] | None:
    """The reasons stored under a seen key; ``None`` while its first delivery is still counting."""
    if value is None or value == PENDING:
        return None
    raw = value if isinstance(value, bytes) else str(value).encode()
    # Keys written before the PENDING marker hold the bare reasons.
    text = raw.removeprefix(VERDICT).decode()
    return text.split("\n") if text else []


class RedisVelocity:
    def __init__(
        self,
        client: RedisClient,
        breaker: RedisBreaker,
        settings: Settings,
        ledger: LedgerCounts | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._redis = client
        self._breaker = breaker
        self._ledger = ledger
        self._clock = clock
        self._storage = limits_storage(client, "fraud")
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._user: dict[str, list[RateLimitItem]] = {
            "purchase": parse_limits(settings.fraud_purchase_limit_user),
            "refund": parse_limits(settings.fraud_refund_limit_user),
            "claim": parse_limits(settings.fraud_claim_limit_user),
        }
        self._ip: dict[str, list[RateLimitItem]] = {
            "purchase": parse_limits(settings.fraud_purchase_limit_ip),
            "claim": parse_limits(settings.fraud_claim_limit_ip),
        }

    async def aclose(self) -> None:
        await close_limits_storage(self._storage)

    @staticmethod
    def _seen_key(kind: str, key: str) -> str:
        return f"fraud:seen:{kind}:{hashlib.sha256(key.encode()).hexdigest()}"

    async def _count(self, kind: str, uid: str, ip: str | None, key: str) -> list[str] | None:
        seen = self._seen_key(kind, key)
        if not await self._redis.set(seen, PENDING, nx=True, ex=SEEN_TTL_S):
            # Counted before: the verdict of that first count stands (another event of the payment counts
            # nothing); None while that count is still running.
            return _verdict(await self._redis.get(seen))
        reasons: list[str] = []
        for item in self._user.get(kind, []):
            if not await self._limiter.hit(item, kind, "user", uid):
                reasons.append(f"velocity:{kind}:user:{item}")
        if ip is not None:
            for item in self._ip.get(kind, []):
                if not await self._limiter.hit(item, kind, "ip", ip):
                    reasons.append(f"velocity:{kind}:ip:{item}")
        await self._redis.set(seen, VERDICT + "\n".join(reasons).encode(), ex=SEEN_TTL_S)
        return reasons

    async def _awaited_verdict(self, kind: str, key: str) -> list[str] | None:
        seen = self._seen_key(kind, key)
        deadline = asyncio.get_running_loop().time() + VERDICT_WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(VERDICT_POLL_S)
            verdict = _verdict(await self._breaker.call(lambda: self._redis.get(seen)))
            if verdict is not None:
                return verdict
        return None

    async def exceeded(self, kind: str, uid: str, ip: str | None, source_id: str) -> list[str]:
        """Why one more ``kind`` by ``uid`` (from ``ip``) exceeds a velocity limit; ``source_id`` is what is
        counted once: the store payment's key for purchases."""
        try:
            verdict = await self._breaker.call(lambda: self._count(kind, uid, ip, source_id))
            if verdict is None:
                verdict = await self._awaited_verdict(kind, source_id)
            if verdict is not None:
                return verdict
            REDIS_FAILURES.labels(operation="fraud_velocity", reason="verdict_pending").inc()
        except BreakerOpenError:
            REDIS_FAILURES.labels(operation="fraud_velocity", reason="breaker_open").inc()
        except (StorageError, *REDIS_ERRORS) as exc:
            REDIS_FAILURES.labels(operation="fraud_velocity", reason=type(exc).__name__).inc()
            log.warning("velocity counters unavailable: %s", type(exc).__name__)
        return await self._without_redis(kind, uid)

    async def _without_redis(self, kind: str, uid: str) -> list[str]:
        if kind != "purchase":
            count_guard_fallback("velocity", "open")
            return []
        windows = _windows(self._user["purchase"])
        if not windows:
            count_guard_fallback("velocity", "open")
            return []
        if self._ledger is not None:
            now = self._clock()
            since = now - timedelta(seconds=max(window.seconds for window in windows))
            try:
                earlier = await self._ledger.purchase_times(uid, since)
            except (GoogleAPIError, TimeoutError) as exc:
                log.warning("purchase velocity not countable in the ledger, holding: %s", type(exc).__name__)
                earlier = None
            if earlier is not None:
                count_guard_fallback("velocity", "ledger")
                return over_windows("purchase", earlier, windows, now)
        count_guard_fallback("velocity", "hold")
        return [VELOCITY_UNAVAILABLE]
