"""``POST /v1/analytics/events``: the game client's custom events (docs/analytics-events.md)."""

from __future__ import annotations

from fastapi import Request, Response

from app.api.analytics_schemas import MAX_BODY_BYTES, ClientEventsIn, EventsAccepted
from app.api.deps import Container, ContainerDep, CurrentUser, connection
from app.api.errors import ApiError, service_errors
from app.api.routing import Router
from app.core.net import connecting_address, from_trusted_proxy
from app.domain.countries import ISO_3166_ALPHA2
from app.services.analytics import ClientBatch, ClientEvent

router = Router(prefix="/v1/analytics", tags=["analytics"])


def _cloudflare_country(request: Request, c: Container) -> str | None:
    """Cloudflare's ``CF-IPCountry``, believed only when the connection came from a trusted proxy (the
    same rule as ``CF-Connecting-IP``: app/core/net.py); its ``XX`` and ``T1`` (Tor) are no country."""
    hops = c.settings.forwarded_for_hops
    direct = connecting_address(*connection(request, hops), hops)
    if not from_trusted_proxy(direct, c.settings.trusted_proxies):
        return None
    code = (request.headers.get("cf-ipcountry") or "").strip().upper()
    return code if code in ISO_3166_ALPHA2 else None


@router.post("/events", status_code=202, responses=service_errors(413, 422))
async def post_events(
    body: ClientEventsIn, request: Request, user: CurrentUser, c: ContainerDep, response: Response
) -> EventsAccepted:
    """A batch of the client's events (1 to 50, at most 32 KiB), each named in the catalogue's client
    events with exactly its declared params, at most 24 h old and 5 min ahead. All or nothing: any bad
    event is a 422 naming it by index (``events[i]``), and none is kept. The server stamps the player (a
    pseudonym), the received time and the country."""
    # Below the app's own cap (app/core/middleware.py), after the body's shape: a malformed body is a 422.
    if len(await request.body()) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"an analytics batch takes at most {MAX_BODY_BYTES} bytes")
    batch = ClientBatch(
        platform=body.platform,
        app_version=body.app_version,
        events=[ClientEvent(e.id, e.name, e.occurred_at, e.params) for e in body.events],
    )

    async def country() -> str | None:
        profile = await c.users.my_profile(user.uid, user.name)
        if profile.country in ISO_3166_ALPHA2:
            return profile.country
        return _cloudflare_country(request, c)

    accepted = await c.analytics.client_batch(user.uid, batch, country)
    response.headers["Cache-Control"] = "no-store"
    return EventsAccepted(accepted=accepted)
