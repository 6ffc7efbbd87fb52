"""Brotli copies of hot renders: compressed once per render, not once per request.

The compression middleware compresses every response it sends (about 55 µs of CPU for an 8 KB
leaderboard page). A hot page is the same bytes object for thousands of requests until its render
changes, so its Brotli copy is kept beside it, keyed by the render itself: a ``bytes`` object caches its
hash, and a dict compares the same object by identity first, so a lookup costs no pass over the body.
"""

from __future__ import annotations

import re

import brotli
from cachetools import LRUCache
from starlette.requests import Request
from starlette.responses import Response

#: Compressed once, so a little denser than the middleware's per-request quality 4.
QUALITY = 6
MAX_COPIES = 512
#: Smaller bodies go out as they are, as from the middleware (app/main.py).
MIN_SIZE = 512

_REFUSED = re.compile(r"^\s*q\s*=\s*0(\.0{0,3})?\s*$", re.IGNORECASE)


def accepts_brotli(request: Request) -> bool:
    """Whether ``Accept-Encoding`` lists ``br`` with a non-zero weight (RFC 9110 §12.5.3)."""
    for coding in request.headers.get("accept-encoding", "").split(","):
        name, _sep, params = coding.partition(";")
        if name.strip().lower() == "br":
            return not _REFUSED.match(params)
    return False


class BrotliCopies:
    def __init__(self, max_copies: int = MAX_COPIES) -> None:
        self._copies: LRUCache[bytes, bytes] = LRUCache(maxsize=max_copies)
        self.compressions = 0

    def of(self, body: bytes) -> bytes:
        copy = self._copies.get(body)
        if copy is None:
            copy = self._copies[body] = brotli.compress(body, quality=QUALITY)
            self.compressions += 1
        return copy

    def json_response(self, request: Request, body: bytes, headers: dict[str, str]) -> Response:
        """``body`` as JSON, Brotli-compressed from the kept copy when the client accepts it (the middleware
        passes a response that already has a Content-Encoding through untouched)."""
        if len(body) < MIN_SIZE or not accepts_brotli(request):
            return Response(body, media_type="application/json", headers=headers)
        encoded = {**headers, "Content-Encoding": "br", "Vary": "Accept-Encoding"}
        return Response(self.of(body), media_type="application/json", headers=encoded)
