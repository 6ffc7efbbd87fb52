from __future__ import annotations

from fastapi import APIRouter, Request

from app.api.schemas import Health, Readiness
from app.core.responses import OrjsonResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Health:
    """Liveness: the process serves requests (no dependency is checked)."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"model": Readiness}})
async def readyz(request: Request) -> OrjsonResponse:
    """Readiness: Redis and Firestore answer; ``breakers`` reports the Redis circuit breaker's state."""
    checks = await request.app.state.probe()
    ok = all(v == "ok" for v in checks.values())
    breakers = {"redis": request.app.state.redis_breaker.state}
    return OrjsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks, "breakers": breakers},
        status_code=200 if ok else 503,
    )
