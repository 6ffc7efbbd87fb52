"""Live events for admins (role admin, a second factor, an allowlisted IP)."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Response

from app.api.deps import AdminUser, ContainerDep
from app.api.errors import service_errors
from app.api.event_schemas import AdminEventOut, EventCreate, EventOut

router = APIRouter(tags=["admin"])


@router.post("/v1/admin/events", status_code=201, responses=service_errors(403))
async def create_event(
    body: EventCreate, admin: AdminUser, c: ContainerDep, response: Response, background: BackgroundTasks
) -> AdminEventOut:
    """Schedule a live event: a window of 5 minutes to 5 days, a goal and rewards (catalog items)."""
    event = await c.live_events.create(admin.uid, body.spec())
    if event.is_active(event.created_at):
        background.add_task(c.live_events.announce, [event.event_id])
    response.headers["Cache-Control"] = "no-store"
    return AdminEventOut(
        **EventOut.of(event).model_dump(), created_by=event.created_by, created_at=event.created_at
    )
