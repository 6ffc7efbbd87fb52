"""Live events for players (list, join, progress, claim) and the device tokens push notifications use.

Push notifications run after the response is sent (background tasks) and never change its outcome.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Path, Response

from app.api.app_check import APP_CHECK_ERRORS, AppCheck, AppCheckLimitedUse
from app.api.deps import ContainerDep, CurrentUser
from app.api.errors import ApiError, service_errors
from app.api.event_schemas import (
    DEVICE_ID_PATTERN,
    EVENT_ID_PATTERN,
    Claimed,
    DeviceIn,
    DeviceOut,
    EventList,
    EventOut,
    Joined,
)
from app.api.routing import Router
from app.services.live_events import MyProgress

router = Router(tags=["events"])

EventId = Annotated[str, Path(pattern=EVENT_ID_PATTERN)]
DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN)]


@router.get("/v1/events")
async def list_events(user: CurrentUser, c: ContainerDep, background: BackgroundTasks) -> EventList:
    """The events running now, and the items most claimed from event rewards."""
    active = await c.live_events.active()
    if active.unannounced:
        background.add_task(c.live_events.announce, active.unannounced)
    return EventList(events=[EventOut.of(e) for e in active.events], hot_items=active.hot_items)


@router.post("/v1/events/{event_id}/join", responses=service_errors(404, 409))
async def join_event(event_id: EventId, user: CurrentUser, c: ContainerDep) -> Joined:
    """Join a running event (idempotent). Games finished from now until the end count towards its goal."""
    part = await c.live_events.join(user.uid, event_id)
    return Joined(event_id=event_id, joined_at=part.joined_at)


@router.get("/v1/events/{event_id}/me", responses=service_errors(404))
async def my_event_progress(
    event_id: EventId, user: CurrentUser, c: ContainerDep, response: Response
) -> MyProgress:
    """The caller's progress towards the event's goal and the state of their claim."""
    response.headers["Cache-Control"] = "no-store"
    return await c.live_events.my_progress(user.uid, event_id)


@router.post(
    "/v1/events/{event_id}/claim",
    dependencies=[AppCheckLimitedUse],
    responses=service_errors(404, 409, 503) | APP_CHECK_ERRORS,
)
async def claim_reward(
    event_id: EventId, user: CurrentUser, c: ContainerDep, background: BackgroundTasks
) -> Claimed:
    """Claim the reward once the goal is reached: granted exactly once; claiming again repeats the answer."""
    result = await c.live_events.claim(user.uid, event_id)
    if result.newly_granted:
        background.add_task(c.live_events.notify_claim, result)
    claim = result.claim
    return Claimed(
        event_id=event_id,
        status=claim.status,
        first_claim=result.first,
        claimed_at=claim.claimed_at,
        progress=claim.progress,
        coins=claim.coins,
        items=claim.items,
    )


@router.post(
    "/v1/me/devices",
    tags=["me"],
    status_code=201,
    dependencies=[AppCheck],
    responses=service_errors(503) | APP_CHECK_ERRORS,
)
async def register_device(body: DeviceIn, user: CurrentUser, c: ContainerDep) -> DeviceOut:
    """Register the app install's FCM token for reward notifications (and the ``live-events`` topic)."""
    return DeviceOut(device_id=await c.notifier.register_device(user.uid, body.token, body.platform))


@router.delete(
    "/v1/me/devices/{device_id}",
    tags=["me"],
    status_code=204,
    dependencies=[AppCheck],
    responses=service_errors(404) | APP_CHECK_ERRORS,
)
async def forget_device(device_id: DeviceId, user: CurrentUser, c: ContainerDep) -> Response:
    """Stop pushing to one of the caller's devices (e.g. on sign-out)."""
    if not await c.notifier.forget_device(user.uid, device_id):
        raise ApiError(404, "device_not_found", "no such device")
    return Response(status_code=204)
