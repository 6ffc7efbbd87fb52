"""Request bodies: strict (unknown fields -> 422), bounded."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.services.countries import ISO_3166_ALPHA2

UID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"

Uid = Annotated[str, StringConstraints(pattern=UID_PATTERN)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=32)]
AvatarId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProfilePatch(Strict):
    display_name: DisplayName | None = None
    country: Annotated[str, StringConstraints(min_length=2, max_length=2)] | None = None
    avatar_id: AvatarId | None = None

    @field_validator("display_name")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("display_name must be printable text")
        return value

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str | None) -> str | None:
        if value is not None and value not in ISO_3166_ALPHA2:
            raise ValueError("country must be an ISO 3166-1 alpha-2 code, upper case (e.g. IE)")
        return value


class FriendAdd(Strict):
    uid: Uid


class FriendList(BaseModel):
    friends: list[str]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
    #: Circuit breaker states: closed, opened or half-opened.
    breakers: dict[str, str] = Field(default_factory=dict)
