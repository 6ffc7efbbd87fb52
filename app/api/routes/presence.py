"""Presence: my heartbeat, my friends' online status (my own mutual friends only, unless they hide it)."""

from __future__ import annotations

from fastapi import Response

from app.api.deps import ContainerDep, CurrentUser
from app.api.errors import service_errors
from app.api.leaderboard_schemas import FriendPresence, FriendsPresence, HeartbeatIn, HeartbeatOut
from app.api.routing import Router

router = Router(prefix="/v1/presence", tags=["presence"])


@router.post("/heartbeat", responses=service_errors(503))
async def heartbeat(
    user: CurrentUser, c: ContainerDep, response: Response, body: HeartbeatIn | None = None
) -> HeartbeatOut:
    """I am online (``status``: online, in_game, away) for the next ``ttl_s`` seconds; send it again
    before they pass."""
    status = body.status if body is not None else "online"
    beat = await c.presence.heartbeat(user.uid, user.name, status)
    response.headers["Cache-Control"] = "no-store"
    return HeartbeatOut(status=beat.status, at=beat.at, ttl_s=c.presence.ttl_s)


@router.get("/friends", responses=service_errors(503))
async def friends(user: CurrentUser, c: ContainerDep, response: Response) -> FriendsPresence:
    """Each of my friends (mutual): online while their last heartbeat is within the TTL; a friend who hides
    their presence is always offline, with no last-seen time."""
    found = await c.presence.friends(user.uid, user.name)
    response.headers["Cache-Control"] = "private, no-store"
    return FriendsPresence(
        friends=[
            FriendPresence(
                uid=uid,
                online=beat is not None,
                status=beat.status if beat else None,
                last_seen_at=beat.at if beat else None,
            )
            for uid, beat in found
        ]
    )
