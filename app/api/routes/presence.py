"""Presence lives on the Realtime Database (docs/realtime.md): the API says where, and reads none of it.

``POST /v1/presence/heartbeat`` answers 410 Gone: clients from before the move get one clear answer naming
the new path (a 404 would look like a routing fault), for no store access at all. It is no longer part of
the API, so the OpenAPI schema leaves it out.
"""

from __future__ import annotations

from fastapi import Response

from app.api.deps import ContainerDep, CurrentUser
from app.api.errors import error_response, service_errors
from app.api.leaderboard_schemas import FriendPresence, FriendsPresence
from app.api.responses import OrjsonResponse
from app.api.routing import Router
from app.domain.presence import HEARTBEAT_GONE

router = Router(prefix="/v1/presence", tags=["presence"])


@router.post("/heartbeat", include_in_schema=False, response_class=OrjsonResponse)
async def heartbeat() -> OrjsonResponse:
    """Gone: write your own ``/presence/{uid}`` on your Realtime Database shard (``GET /v1/me/realtime``)."""
    return error_response(410, "heartbeat_gone", HEARTBEAT_GONE, {"Cache-Control": "no-store"})


@router.get("/friends", responses=service_errors(404))
async def friends(user: CurrentUser, c: ContainerDep, response: Response) -> FriendsPresence:
    """Where each of my (mutual) friends' presence is: their shard and ``/presence/{uid}``. A friend who
    hides their presence is listed too: the database's rules refuse that read."""
    found = await c.presence.friends(user.uid, user.name)
    response.headers["Cache-Control"] = "private, no-store"
    return FriendsPresence(
        friends=[FriendPresence(uid=f.uid, database_url=f.database_url, path=f.path) for f in found]
    )
