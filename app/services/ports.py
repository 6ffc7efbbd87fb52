"""Ports the services need from the layers below, as protocols (the repositories implement them)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol


class Cache(Protocol):
    def get(self, key: str) -> Coroutine[Any, Any, bytes | None]: ...
    async def set(self, key: str, value: bytes, ttl_s: int) -> None: ...
    async def delete(self, *keys: str) -> None: ...
