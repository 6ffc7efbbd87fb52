"""``POST /v1/analytics/events`` bodies: strict and bounded; the catalogue (app/domain/analytics.py) checks
each event's name and params after this shape."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints

from app.api.game_schemas import JsonInt, Strict

#: The most events one batch may hold; and the most bytes its body may take (below the app's own cap).
MAX_EVENTS = 50
MAX_BODY_BYTES = 32 * 1024
MAX_PARAMS = 16

ClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
EventName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
ParamName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
ParamValue = (
    Annotated[str, StringConstraints(max_length=256)]
    | Annotated[JsonInt, Field(ge=-(10**12), le=10**12)]
    | bool
    | None
)
AppVersion = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$")]


class ClientEventIn(Strict):
    #: The client's own id for the event (a UUID will do): a retried batch with the same ids counts once.
    id: ClientId
    name: EventName
    occurred_at: Annotated[AwareDatetime, Field(strict=False)]
    # additionalProperties: pydantic writes the key pattern as patternProperties only.
    params: Annotated[dict[ParamName, ParamValue], Field(max_length=MAX_PARAMS)] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": False}
    )


class ClientEventsIn(Strict):
    platform: Literal["ios", "android", "web"]
    app_version: AppVersion | None = None
    events: list[ClientEventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class EventsAccepted(BaseModel):
    accepted: int
