"""orjson-rendered JSON (FastAPI's own ORJSONResponse is deprecated in favour of pydantic's serializer,
which the typed routes use; this class serves the hand-built bodies: errors and cached documents)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
