"""The caller's friends (mutual, by consent), friend requests and blocked players.

``POST /v1/me/friends`` sends a request, or accepts the other player's: only then are both friends.
Nothing here tells a player they are blocked: their requests to the blocker simply stay pending. Every
change needs an App Check token (``X-Firebase-AppCheck``, docs/game-api.md#app-check); reads do not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from app.api.app_check import APP_CHECK_ERRORS, AppCheck
from app.api.deps import ContainerDep, CurrentUser
from app.api.errors import service_errors
from app.api.routing import Router
from app.api.schemas import UID_PATTERN, BlockAdd, BlockList, FriendAdd, FriendAdded
from app.domain.friends import FriendRequests

router = Router(prefix="/v1/me", tags=["friends"])

UidPath = Annotated[str, Path(pattern=UID_PATTERN)]


@router.post(
    "/friends", responses=APP_CHECK_ERRORS | service_errors(400, 404, 409, 503), dependencies=[AppCheck]
)
async def add_friend(body: FriendAdd, user: CurrentUser, c: ContainerDep) -> FriendAdded:
    """Ask a player to be friends, or accept their request (then ``status`` is ``friends``)."""
    outcome, friends = await c.friends.add(user.uid, user.name, body.uid)
    return FriendAdded(status=outcome.value, friends=friends)


@router.delete(
    "/friends/{uid}",
    status_code=204,
    responses=APP_CHECK_ERRORS | service_errors(404, 503),
    dependencies=[AppCheck],
)
async def remove_friend(uid: UidPath, user: CurrentUser, c: ContainerDep) -> Response:
    """End a friendship, for both players."""
    await c.friends.remove(user.uid, user.name, uid)
    return Response(status_code=204)


@router.get("/friends/requests")
async def friend_requests(user: CurrentUser, c: ContainerDep, response: Response) -> FriendRequests:
    """Requests waiting for my answer (``incoming``) and mine waiting for theirs (``outgoing``)."""
    response.headers["Cache-Control"] = "private, no-store"
    return await c.friends.requests(user.uid, user.name)


@router.delete(
    "/friends/requests/{uid}",
    status_code=204,
    responses=APP_CHECK_ERRORS | service_errors(404, 503),
    dependencies=[AppCheck],
)
async def withdraw_request(uid: UidPath, user: CurrentUser, c: ContainerDep) -> Response:
    """Refuse that player's request, or cancel mine to them."""
    await c.friends.withdraw(user.uid, user.name, uid)
    return Response(status_code=204)


@router.get("/blocks")
async def blocked(user: CurrentUser, c: ContainerDep, response: Response) -> BlockList:
    response.headers["Cache-Control"] = "private, no-store"
    return BlockList(blocked=await c.friends.blocked(user.uid, user.name))


@router.post(
    "/blocks", responses=APP_CHECK_ERRORS | service_errors(400, 404, 409, 503), dependencies=[AppCheck]
)
async def block(body: BlockAdd, user: CurrentUser, c: ContainerDep) -> BlockList:
    """Block a player: ends any friendship and request both ways; their requests stay unseen."""
    return BlockList(blocked=await c.friends.block(user.uid, user.name, body.uid))


@router.delete(
    "/blocks/{uid}",
    status_code=204,
    responses=APP_CHECK_ERRORS | service_errors(404, 503),
    dependencies=[AppCheck],
)
async def unblock(uid: UidPath, user: CurrentUser, c: ContainerDep) -> Response:
    await c.friends.unblock(user.uid, user.name, uid)
    return Response(status_code=204)
