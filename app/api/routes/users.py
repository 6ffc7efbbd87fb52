"""Other players: public fields only."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from app.api.deps import AdminUser, ContainerDep, CurrentUser
from app.api.errors import service_errors
from app.api.routing import Router
from app.api.schemas import UID_PATTERN
from app.domain.players import Profile, PublicProfile

router = Router(tags=["users"])

UidPath = Annotated[str, Path(pattern=UID_PATTERN)]


@router.get("/v1/users/{uid}", responses=service_errors(404))
async def get_user(uid: UidPath, _: CurrentUser, c: ContainerDep, response: Response) -> PublicProfile:
    response.headers["Cache-Control"] = "private, max-age=60"
    return await c.users.public_profile(uid)


@router.get("/v1/admin/users/{uid}", tags=["admin"], responses=service_errors(403, 404))
async def admin_get_user(uid: UidPath, _: AdminUser, c: ContainerDep, response: Response) -> Profile:
    """Support view of a player's profile (admin role, second factor, allowlisted IP)."""
    response.headers["Cache-Control"] = "no-store"
    return await c.users.any_profile(uid)
