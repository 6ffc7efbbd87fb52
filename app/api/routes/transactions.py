"""The caller's own audit entries, redacted (nothing encrypted, no store ids, no hashes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Response
from pydantic import BaseModel

from app.api.deps import ContainerDep, CurrentUser
from app.api.errors import service_errors
from app.api.routing import Router

router = Router(prefix="/v1/me", tags=["me"])

CURSOR_PATTERN = r"^[A-Za-z0-9_:-]{1,160}$"


class TransactionEntry(BaseModel):
    id: str
    seq: int
    created_at: datetime
    kind: str
    source: str
    coins: int
    items: dict[str, int]
    balance_coins: int | None = None
    reason: str


class TransactionPage(BaseModel):
    entries: list[TransactionEntry]
    #: Pass as ``cursor`` for the next (older) page; null on the last page.
    next_cursor: str | None


@router.get("/transactions", responses=service_errors(404))
async def my_transactions(
    user: CurrentUser,
    c: ContainerDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> TransactionPage:
    """Newest first; 404 ``cursor_not_found`` for a cursor that is not one of the caller's pages."""
    response.headers["Cache-Control"] = "private, no-store"
    page = await c.grants.transactions(user.uid, limit, cursor)
    return TransactionPage(
        entries=[TransactionEntry.model_validate(e) for e in page.entries], next_cursor=page.next_cursor
    )
