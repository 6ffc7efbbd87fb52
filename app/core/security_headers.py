"""Security headers on every response: pure ASGI, precomputed header tuples appended at response start.

The API answers JSON to game clients, never a page, so the policy is the strictest one: nothing may load
and nothing may frame it. The interactive docs (outside prod only) load Swagger UI's script and styles from
its CDN and run an inline script, so their paths get a policy that allows exactly that. The edge sets the
same headers (infra/stacks/edge.py, a response-header transform rule) on what it serves from its cache.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# What FastAPI's Swagger UI page loads: its bundle and styles from jsDelivr, an inline start-up script, the
# favicon from fastapi.tiangolo.com, the schema from this origin.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; img-src data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'"
)
# Two years, every subdomain; no `preload`: a preload-list entry binds the whole domain for months and is
# slow to undo (docs/game-api.md#security-headers).
HSTS = "max-age=63072000; includeSubDomains"

#: The headers every response carries, Content-Security-Policy aside (it differs on the docs' paths).
COMMON_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": HSTS,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: Every response of the API (what the edge's transform rule sets too).
API_HEADERS: dict[str, str] = {"Content-Security-Policy": API_CSP, **COMMON_HEADERS}

RawHeaders = list[tuple[bytes, bytes]]


def _raw(headers: dict[str, str]) -> RawHeaders:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


class SecurityHeaders:
    """Appends the security headers to every HTTP response's start message (errors, 304s and streams
    included); ``docs_paths`` (empty in prod, where there are no docs) get the docs' policy instead."""

    def __init__(self, app: ASGIApp, docs_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)
        self._api = _raw(API_HEADERS)
        self._docs = _raw({"Content-Security-Policy": DOCS_CSP, **COMMON_HEADERS})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._docs if self.docs_paths and scope["path"] in self.docs_paths else self._api

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new list: the response object may reuse its own between sends.
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
