"""Fraud velocity counters in Redis (``limits`` moving windows, through the Redis breaker).

Each source (webhook event, reward) is counted at most once per kind, whatever its redeliveries: a
``SET NX`` on ``fraud:seen:{kind}:{sha256(source_id)}`` comes first, so N deliveries of one purchase count
as one purchase. When Redis is unavailable the checks pass (fail open, like the rate limits): the pattern
checks in the Firestore transaction still run, and Redis is never the only record of anything.

Every key is one player's, IP's or source's: on a Redis Cluster they spread over the shards, and each call
is a single-key command or script. ``aclose`` closes the ``limits`` cluster storage (``limits_storage``).
"""

from __future__ import annotations

import hashlib
import logging

from limits import RateLimitItem
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app.core.config import Settings
from app.core.metrics import REDIS_FAILURES
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.clients import REDIS_ERRORS, RedisClient, close_limits_storage, limits_storage
from app.repositories.rate_limits import parse_limits

log = logging.getLogger("app.fraud")

#: Long enough to outlive every window (the widest default is a day) and the providers' retries.
SEEN_TTL_S = 3 * 24 * 3600


class RedisVelocity:
    def __init__(self, client: RedisClient, breaker: RedisBreaker, settings: Settings) -> None:
        self._redis = client
        self._breaker = breaker
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

    async def _count(self, kind: str, uid: str, ip: str | None, source_id: str) -> list[str]:
        seen = f"fraud:seen:{kind}:{hashlib.sha256(source_id.encode()).hexdigest()}"
        if not await self._redis.set(seen, b"", nx=True, ex=SEEN_TTL_S):
            # Counted before: the verdict of that first count stands (a redelivery counts nothing).
            verdict = await self._redis.get(seen)
            text = verdict.decode() if isinstance(verdict, bytes) else str(verdict or "")
            return text.split("\n") if text else []
        reasons: list[str] = []
        for item in self._user.get(kind, []):
            if not await self._limiter.hit(item, kind, "user", uid):
                reasons.append(f"velocity:{kind}:user:{item}")
        if ip is not None:
            for item in self._ip.get(kind, []):
                if not await self._limiter.hit(item, kind, "ip", ip):
                    reasons.append(f"velocity:{kind}:ip:{item}")
        await self._redis.set(seen, "\n".join(reasons).encode(), ex=SEEN_TTL_S)
        return reasons

    async def exceeded(self, kind: str, uid: str, ip: str | None, source_id: str) -> list[str]:
        try:
            return await self._breaker.call(lambda: self._count(kind, uid, ip, source_id))
        except BreakerOpenError:
            REDIS_FAILURES.labels(operation="fraud_velocity", reason="breaker_open").inc()
        except (StorageError, *REDIS_ERRORS) as exc:
            REDIS_FAILURES.labels(operation="fraud_velocity", reason=type(exc).__name__).inc()
            log.warning("velocity counters unavailable, passing: %s", type(exc).__name__)
        return []
