"""Request bodies: strict (unknown fields -> 422), bounded."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator

from app.domain.countries import ISO_3166_ALPHA2

UID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"

Uid = Annotated[str, StringConstraints(pattern=UID_PATTERN)]
# Not in a display name: control characters, line/paragraph separators, invisible and bidi-override format
# characters, private use and noncharacters (and lone surrogates, which no JSON Schema regex can name). One
# regex for the check and the schema, so the schema says what is accepted (isprintable() is no pattern).
_NOT_IN_NAME = (
    r"\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u2028-\u202e"
    r"\u2060-\u206f\ue000-\uf8ff\ufdd0-\ufdef\ufeff\ufff0-\uffff"
)
DISPLAY_NAME_PATTERN = rf"^[^\s{_NOT_IN_NAME}][^{_NOT_IN_NAME}]*[^\s{_NOT_IN_NAME}]$"
_DISPLAY_NAME_RE = re.compile(DISPLAY_NAME_PATTERN)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Surrounding whitespace is stripped before the check; the schema asks for none.
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=32),
    WithJsonSchema({"type": "string", "minLength": 2, "maxLength": 32, "pattern": DISPLAY_NAME_PATTERN}),
]
Country = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2),
    WithJsonSchema({"type": "string", "enum": sorted(ISO_3166_ALPHA2)}),
]
AvatarId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProfilePatch(Strict):
    display_name: DisplayName | None = None
    country: Country | None = None
    avatar_id: AvatarId | None = None
    #: false: friends see me offline, with no last-seen time.
    presence_visible: bool | None = None

    @field_validator("display_name")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and (not _DISPLAY_NAME_RE.fullmatch(value) or _SURROGATE.search(value)):
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


class FriendAdded(FriendList):
    """``friends``: my mutual friends after the call; ``status``: ``friends`` once both asked, else
    ``requested`` (waiting for the other player)."""

    status: Literal["friends", "requested"]


class BlockAdd(Strict):
    uid: Uid


class BlockList(BaseModel):
    blocked: list[str]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
    #: Circuit breaker states: closed, opened or half-opened.
    breakers: dict[str, str] = Field(default_factory=dict)
