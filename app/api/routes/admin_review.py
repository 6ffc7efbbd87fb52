"""The manual review queue of held grants (admin role, second factor, allowlisted IP)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import AdminUser, ContainerDep
from app.api.errors import service_errors
from app.api.routing import Router
from app.domain.ledger import ReviewItem, ReviewStatus

router = Router(prefix="/v1/admin/review-queue", tags=["admin"])

ItemId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]


class ReviewView(BaseModel):
    id: str
    status: ReviewStatus
    uid: str
    reasons: list[str]
    source: str
    coins: int
    items: dict[str, int]
    reason: str
    created_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str = ""

    @classmethod
    def of(cls, item: ReviewItem) -> ReviewView:
        return cls(
            id=item.id,
            status=item.status,
            uid=item.uid,
            reasons=item.reasons,
            source=item.source,
            coins=item.coins,
            items=item.items,
            reason=item.reason,
            created_at=item.created_at,
            decided_by=item.decided_by,
            decided_at=item.decided_at,
            note=item.note,
        )


class ReviewPageView(BaseModel):
    items: list[ReviewView]
    next_cursor: str | None


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=500)


@router.get("", responses=service_errors(403, 404))
async def review_queue(
    _: AdminUser,
    c: ContainerDep,
    response: Response,
    status: ReviewStatus = ReviewStatus.pending,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9a-f]{24}$")] = None,
) -> ReviewPageView:
    """Oldest first."""
    response.headers["Cache-Control"] = "no-store"
    page = await c.grants.review_queue(status, limit, cursor)
    return ReviewPageView(items=[ReviewView.of(i) for i in page.items], next_cursor=page.next_cursor)


@router.post("/{item_id}/approve", responses=service_errors(403, 404, 409, 503))
async def approve(
    item_id: ItemId, admin: AdminUser, c: ContainerDep, body: Decision | None = None
) -> ReviewView:
    """Apply the held grant (once: a decided item answers 409); audited in the player's and admin's chains."""
    item = await c.grants.approve(item_id, admin.uid, (body or Decision()).note)
    return ReviewView.of(item)


@router.post("/{item_id}/reject", responses=service_errors(403, 404, 409, 503))
async def reject(
    item_id: ItemId, admin: AdminUser, c: ContainerDep, body: Decision | None = None
) -> ReviewView:
    """Drop the held grant; audited in the player's and the admin's chains."""
    item = await c.grants.reject(item_id, admin.uid, (body or Decision()).note)
    return ReviewView.of(item)
