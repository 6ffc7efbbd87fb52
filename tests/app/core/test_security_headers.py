"""Security headers on every response of the app (errors, 304s, streams and 500s included), the docs'
own policy outside prod, and no schema or docs in prod."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from starlette.routing import BaseRoute, Route

from app.core.config import Settings
from app.core.security_headers import DOCS_CSP
from app.main import create_app
from tests.app.conftest import MakeClient, Mint
from tests.app.core.settings_env import use_prod_env

EXPECTED = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}
# Plausible values for the path parameters; any other parameter gets "x1" (a 404 or a 422 is fine).
PARAMETERS = {"period": "daily", "scope": "global"}


def _missing(response: Response, docs: bool = False) -> dict[str, str | None]:
    """The expected headers the response lacks or carries with another value (or twice); ``docs``: the
    Swagger UI page's own policy."""
    wrong: dict[str, str | None] = {}
    expected = {**EXPECTED, "content-security-policy": DOCS_CSP} if docs else EXPECTED
    for name, value in expected.items():
        values = response.headers.get_list(name)
        if values != [value]:
            wrong[name] = ", ".join(values) or None
    return wrong


def _every_route(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route of the app, the included routers' and FastAPI's own."""
    for included in app.routes:
        router = getattr(included, "original_router", None)
        routes: list[BaseRoute] = router.routes if router is not None else [included]
        for route in routes:
            assert isinstance(route, Route)  # APIRoute is one
            for method in sorted(route.methods or ()):
                yield method, route.path


def _concrete(template: str) -> str:
    return re.sub(r"\{([^}:]+)[^}]*\}", lambda m: PARAMETERS.get(m.group(1), "x1"), template)


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Response:
    if path.endswith("/stream"):
        with client.stream(method, path, headers=headers) as streamed:
            return streamed  # the headers are read; the stream is closed unread
    body: dict[str, str] | None = {} if method in {"POST", "PATCH", "PUT"} else None
    return client.request(method, path, headers=headers, json=body)


def test_every_route_answers_with_the_security_headers(client: TestClient, auth: Mint) -> None:
    """Failed before issue 18: no response carried any of these headers."""
    routes = sorted(set(_every_route(client.app)))  # type: ignore[arg-type]
    assert len(routes) >= 40, routes
    statuses: Counter[int] = Counter()
    wrong = {}
    for method, template in routes:
        path = _concrete(template)
        for headers in ({}, auth("alice")):
            response = _call(client, method, path, headers)
            statuses[response.status_code] += 1
            if found := _missing(response, docs=template.startswith("/docs")):
                wrong[(method, template, response.status_code)] = found
    assert wrong == {}
    # The walk met answers of every kind, not only successes.
    assert {200, 401, 403, 404, 422} <= set(statuses), statuses


def test_error_answers_carry_the_security_headers(make_client: MakeClient, auth: Mint) -> None:
    """Failed before issue 18: 401, 404, 405, 413, 422 and 429 carried none of these headers."""
    client = make_client(rate_limit_ip="1/minute", max_body_bytes=1024)
    answers = {
        404: client.get("/v1/nowhere"),
        405: client.put("/v1/me"),
        413: client.patch("/v1/me", headers=auth("alice"), json={"display_name": "x" * 2000}),
        401: client.get("/v1/me"),  # counts towards the per-IP limit of 1 a minute
    }
    answers[429] = client.get("/v1/me")
    assert {status: r.status_code for status, r in answers.items()} == {s: s for s in answers}
    assert {status: _missing(r) for status, r in answers.items()} == {s: {} for s in answers}
    unprocessable = make_client().patch("/v1/me", headers=auth("alice"), json={"colour": "red"})
    assert unprocessable.status_code == 422
    assert _missing(unprocessable) == {}


def test_a_304_and_a_stream_carry_the_security_headers(client: TestClient, auth: Mint) -> None:
    """Failed before issue 18: neither carried these headers."""
    first = client.get("/v1/me", headers=auth("alice"))
    again = client.get("/v1/me", headers={**auth("alice"), "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert _missing(again) == {}
    with client.stream("GET", "/v1/leaderboards/daily/global/stream") as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert _missing(streamed) == {}


def test_an_unexpected_500_carries_the_security_headers() -> None:
    """Starlette's error middleware writes this 500, outside every middleware added with add_middleware."""
    app = create_app(Settings(environment="test", firebase_project_id="demo-headers"))

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)
    response = TestClient(app, raise_server_exceptions=False).get("/boom")  # no lifespan: no store needed
    assert response.status_code == 500
    assert _missing(response) == {}


def test_the_docs_page_gets_the_policy_swagger_ui_needs(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert _missing(docs, docs=True) == {}
    assert "script-src 'unsafe-inline' https://cdn.jsdelivr.net" in DOCS_CSP
    assert "cdn.jsdelivr.net/npm/swagger-ui-dist" in docs.text  # the assets the policy admits
    assert _missing(client.get("/openapi.json")) == {}  # the schema itself is JSON: the API's policy


@pytest.fixture
def prod_app(monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    use_prod_env(monkeypatch)
    # No lifespan (nothing reaches a store): routing alone answers these requests. No Sentry either.
    return create_app(Settings().model_copy(update={"sentry_dsn": None}))  # type: ignore[call-arg]


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"])
def test_prod_serves_no_schema_and_no_docs(prod_app: FastAPI, path: str) -> None:
    """Failed before issue 18: prod served /openapi.json."""
    response = TestClient(prod_app).get(path)
    assert response.status_code == 404
    assert _missing(response) == {}
