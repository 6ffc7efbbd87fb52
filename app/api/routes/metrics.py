"""``GET /metrics``: Prometheus text for a collector on the instance (not in the public schema).

Served only to direct peers in ``POG_METRICS_ALLOWLIST`` (default: loopback, i.e. a sidecar in the same
Cloud Run instance); ``CF-Connecting-IP`` is never consulted here. Everyone else gets a plain 404.
"""

from __future__ import annotations

from ipaddress import ip_address

from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import ContainerDep
from app.api.errors import ApiError
from app.api.routing import Router
from app.core.metrics import render

router = Router(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request, c: ContainerDep) -> Response:
    peer = request.client.host if request.client else None
    try:
        address = ip_address(peer) if peer else None
    except ValueError:
        address = None
    if address is None or not any(address in net for net in c.settings.metrics_allowlist):
        raise ApiError(404, "not_found", "Not Found")
    return Response(render(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
