"""The caller's own profile, stats, inventory and Realtime Database setup (friends and blocks:
``friends.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Request, Response
from starlette.background import BackgroundTask

from app.api.deps import Container, ContainerDep, CurrentUser, caller_ip, count_caller, known_caller
from app.api.errors import service_errors
from app.api.fast_path import fast_path_route
from app.api.leaderboard_schemas import RealtimeSetupOut
from app.api.routing import Router
from app.api.schemas import ProfilePatch
from app.domain.players import Inventory, Profile, ProfileChanges, Stats
from app.services.users import etag

router = Router(prefix="/v1/me", tags=["me"])

CACHE_CONTROL = "private, max-age=60"


def _profile(request: Request, body: bytes) -> Response:
    tag = etag(body)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if tag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


async def _known_caller_profile(request: Request) -> Response | None:
    """The common case, a token this process has verified before, without FastAPI's dependency solving
    (the route has no parameters to validate); any other request takes the full path.

    The limits and the cache read go to Redis in one round trip (the batcher pipelines commands issued
    together): the cached render is only read, and used only once both limits have admitted the call; a
    miss reads (or creates) the profile in Firestore after that.
    """
    c: Container = request.app.state.container
    user = known_caller(request, c)
    if user is None:
        return None
    ip = await caller_ip(request, c)
    counted = count_caller(c, ip, user.uid)  # both queued now: one round trip, no task for either
    cached = c.users.cached_profile_json(user.uid)
    try:
        await counted  # a refusal (429) is raised here, before the render is used
    except BaseException:
        cached.close()
        raise
    body = await cached
    if body is None:
        body = await c.users.load_profile_json(user.uid, user.name)
    return _session_seen(c, user.uid, _profile(request, body))


async def get_me(request: Request, user: CurrentUser, c: ContainerDep) -> Response:
    return _session_seen(c, user.uid, _profile(request, await c.users.my_profile_json(user.uid, user.name)))


def _session_seen(c: Container, uid: str, response: Response) -> Response:
    """``session_started`` after the response, when analytics is on: the session mark's Redis call never
    delays the profile."""
    if c.analytics.tracks_sessions:
        response.background = BackgroundTask(c.analytics.session_seen, uid)
    return response


router.add_api_route(
    "",
    get_me,
    methods=["GET"],
    response_model=Profile,
    responses={304: {"description": "Not modified (If-None-Match)"}},
    route_class_override=fast_path_route(_known_caller_profile),
)


@router.patch("")
async def patch_me(
    patch: Annotated[ProfilePatch, Body()], user: CurrentUser, c: ContainerDep, response: Response
) -> Profile:
    changes = ProfileChanges.model_validate(patch.model_dump(exclude_unset=True))
    profile = await c.users.update_profile(user.uid, user.name, changes)
    response.headers["Cache-Control"] = "no-store"
    return profile


@router.get("/stats")
async def get_stats(user: CurrentUser, c: ContainerDep, response: Response) -> Stats:
    response.headers["Cache-Control"] = CACHE_CONTROL
    return await c.users.my_stats(user.uid, user.name)


@router.get("/realtime", responses=service_errors(404, 422))
async def get_realtime(user: CurrentUser, c: ContainerDep, response: Response) -> RealtimeSetupOut:
    """Where I connect for presence and messages (docs/realtime.md): my Realtime Database shard, my nodes
    there, and every shard's URL (my friends' presence is on theirs)."""
    setup = await c.presence.setup(user.uid)
    # The same for as long as the stack's shard count: a client may keep it for the session.
    response.headers["Cache-Control"] = "private, max-age=3600"
    return RealtimeSetupOut(
        database_url=setup.presence.database_url,
        shard=setup.presence.shard,
        shard_count=len(setup.database_urls),
        database_urls=list(setup.database_urls),
        presence_path=setup.presence.path,
        messages_path=setup.messages.path,
    )


@router.get("/inventory")
async def get_inventory(user: CurrentUser, c: ContainerDep, response: Response) -> Inventory:
    """Read-only: only the server grants and spends items."""
    response.headers["Cache-Control"] = "private, no-cache"
    return await c.users.inventory(user.uid, user.name)
