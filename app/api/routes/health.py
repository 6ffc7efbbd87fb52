from __future__ import annotations

from fastapi import Request

from app.api.responses import OrjsonResponse
from app.api.routing import Router
from app.api.schemas import Health, Readiness

router = Router(tags=["health"])


@router.get("/healthz")
async def healthz() -> Health:
    """Liveness: the process serves requests (no dependency is checked)."""
    return Health(status="ok")


@router.get("/readyz", responses={503: {"model": Readiness}})
async def readyz(request: Request) -> OrjsonResponse:
    """Readiness: Firestore answers. Redis is reported too, but without it the app still serves (reads from
    Firestore behind the circuit breaker): failing readiness then would take every instance out of the
    load balancer and turn a cache outage into an API outage. ``degraded`` says Redis is not answering."""
    checks = await request.app.state.probe()
    breakers = {"redis": request.app.state.redis_breaker.state}
    if checks.get("firestore") != "ok":
        status, code = "unavailable", 503
    elif all(v == "ok" for v in checks.values()):
        status, code = "ok", 200
    else:
        status, code = "degraded", 200
    return OrjsonResponse({"status": status, "checks": checks, "breakers": breakers}, status_code=code)
