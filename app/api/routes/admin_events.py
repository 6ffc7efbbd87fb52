"""Live events for admins (role admin, a second factor, an allowlisted IP)."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Path, Response

from app.api.deps import AdminUser, ContainerDep
from app.api.errors import service_errors
from app.api.event_schemas import EVENT_ID_PATTERN, AdminEventOut, EventCreate, EventOut, EventPatch
from app.api.routing import Router
from app.domain.live_events import LiveEvent

router = Router(tags=["admin"])


@router.post("/v1/admin/events", status_code=201, responses=service_errors(403, 503))
async def create_event(
    body: EventCreate, admin: AdminUser, c: ContainerDep, response: Response, background: BackgroundTasks
) -> AdminEventOut:
    """Schedule a live event: a window of 5 minutes to 5 days, a goal and rewards (catalog items)."""
    event = await c.live_events.create(admin.uid, body.spec())
    if event.is_active(event.created_at):
        background.add_task(c.live_events.announce, [event.event_id])
    response.headers["Cache-Control"] = "no-store"
    return _admin_view(event)


@router.patch("/v1/admin/events/{event_id}", responses=service_errors(403, 404, 409, 503))
async def update_event(
    event_id: Annotated[str, Path(pattern=EVENT_ID_PATTERN)],
    body: EventPatch,
    admin: AdminUser,
    c: ContainerDep,
    response: Response,
    background: BackgroundTasks,
) -> AdminEventOut:
    """Change the window, goal, rewards, name or description of an event that has not ended. Audited in
    the admin's chain with the change; the players' cached list is refreshed."""
    event = await c.live_events.update(admin.uid, event_id, body.revision())
    if event.is_active(event.updated_at) and event.announced_at is None:
        background.add_task(c.live_events.announce, [event.event_id])
    response.headers["Cache-Control"] = "no-store"
    return _admin_view(event)


def _admin_view(event: LiveEvent) -> AdminEventOut:
    return AdminEventOut(
        **EventOut.of(event).model_dump(), created_by=event.created_by, created_at=event.created_at
    )
