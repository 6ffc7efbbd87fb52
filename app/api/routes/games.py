"""Game sessions: start, send event batches, finish (owner only; someone else's game is a 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Response

from app.api.app_check import APP_CHECK_ERRORS, AppCheck
from app.api.deps import ContainerDep, CurrentUser
from app.api.errors import service_errors
from app.api.game_schemas import (
    GAME_ID_PATTERN,
    EventBatch,
    EventsAccepted,
    GameCreated,
    GameFinish,
    GameStart,
)
from app.api.routing import Router
from app.domain.games import GameMode
from app.services.games import FinishResult

router = Router(prefix="/v1/games", tags=["games"])

GameId = Annotated[str, Path(pattern=GAME_ID_PATTERN)]


@router.post("", status_code=201)
async def start_game(
    user: CurrentUser, c: ContainerDep, response: Response, body: GameStart | None = None
) -> GameCreated:
    """Start a session (server time; kept 7 days)."""
    mode = body.mode if body is not None else GameMode.classic
    response.headers["Cache-Control"] = "no-store"
    return GameCreated(game_id=await c.games.start(user.uid, user.name, mode))


@router.post("/{game_id}/events", responses=service_errors(404, 409, 413, 503))
async def add_events(game_id: GameId, body: EventBatch, user: CurrentUser, c: ContainerDep) -> EventsAccepted:
    """Append a batch (1..100 events, ``t_ms`` never decreasing) to an active session of the caller."""
    chunk = await c.games.add_events(user.uid, game_id, [event.stored() for event in body.events])
    return EventsAccepted(accepted=len(body.events), event_count=chunk.event_count)


@router.post(
    "/{game_id}/finish", dependencies=[AppCheck], responses=service_errors(404, 409, 503) | APP_CHECK_ERRORS
)
async def finish_game(game_id: GameId, body: GameFinish, user: CurrentUser, c: ContainerDep) -> FinishResult:
    """Finish the caller's session (idempotent); 422 ``implausible_score`` rejects the game."""
    return await c.games.finish(user.uid, user.name, game_id, body.score)
