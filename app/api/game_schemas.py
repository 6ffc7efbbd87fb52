"""Game session bodies: strict (unknown fields -> 422) and bounded."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from app.domain.games import MAX_SCORE, GameMode

GAME_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_BATCH = 100
MAX_POINTS_PER_EVENT = 1_000
MAX_T_MS = 6 * 3600 * 1000  # a session is at most 6 h of play

EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
DataKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
DataValue = (
    bool
    | Annotated[int, Field(ge=-(10**9), le=10**9)]
    | Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
    | Annotated[str, StringConstraints(max_length=64)]
)


def _integral(value: Any) -> Any:
    """JSON Schema's integer includes 2.0; strict mode still refuses 2.5, "2" and true."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


#: An integer as JSON Schema (and so the OpenAPI schema) defines it.
JsonInt = Annotated[int, BeforeValidator(_integral)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class GameStart(Strict):
    mode: Annotated[GameMode, Field(strict=False)] = GameMode.classic  # strict would refuse the JSON string


class GameCreated(BaseModel):
    game_id: str


class GameEvent(Strict):
    type: EventType
    #: Milliseconds since the session started, by the client's clock; never decreasing.
    t_ms: JsonInt = Field(ge=0, le=MAX_T_MS)
    #: Points this event scored; the final score must be their sum.
    points: JsonInt = Field(default=0, ge=0, le=MAX_POINTS_PER_EVENT)
    # additionalProperties: pydantic writes the key pattern as patternProperties only, which lets any other
    # key through in the schema.
    data: Annotated[dict[DataKey, DataValue], Field(max_length=8)] = Field(
        default_factory=dict, json_schema_extra={"additionalProperties": False}
    )

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_defaults=True) | {"type": self.type, "t_ms": self.t_ms}


class EventBatch(Strict):
    events: list[GameEvent] = Field(min_length=1, max_length=MAX_BATCH)


class EventsAccepted(BaseModel):
    accepted: int
    event_count: int


class GameFinish(Strict):
    score: JsonInt = Field(ge=0, le=MAX_SCORE)
