"""`pog smoke URL` against the API served by uvicorn on 127.0.0.1 (real Redis and Firestore emulator,
tokens through firebase_admin's production path with the test key), and against stubs that fail."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner, Result

from app.main import create_app
from app.ops.__main__ import app as ops_app
from app.ops.smoke_client import StepFailedError
from app.ops.smoke_steps import EDGE_REFUSAL_MESSAGE, STEPS, admin_refusal
from tests.app.conftest import Backends, Mint, settings_for
from tests.app.tokens import TestKey
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]
STEP_NAMES = [name for name, _ in STEPS]
#: The developer's own smoke settings must not leak into these runs.
NO_SMOKE_ENV: dict[str, str | None] = dict.fromkeys(
    ("POG_SMOKE_TOKEN", "POG_SMOKE_EMAIL", "POG_SMOKE_PASSWORD", "POG_SMOKE_API_KEY", "POG_SMOKE_SIGN_IN_URL")
)


def smoke(*args: str, **env: str) -> Result:
    return CliRunner().invoke(ops_app, ["smoke", *args], env={**NO_SMOKE_ENV, **env})


def step_lines(result: Result) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("[")]


def assert_failed_at(result: Result, name: str, reason: str) -> str:
    """The run stopped at step ``name`` with ``reason`` in its line, then one error line; no traceback."""
    number = STEP_NAMES.index(name) + 1
    lines = step_lines(result)
    assert result.exit_code == 1, result.output
    assert len(lines) == number, result.output  # nothing ran after the failing step
    assert all(" ok: " in line for line in lines[:-1]), result.output
    assert re.match(rf"\[{number}/5\] {name} +FAILED: ", lines[-1]), result.output
    assert reason in lines[-1], result.output
    [error] = result.stderr.splitlines()
    assert re.fullmatch(rf"error: smoke test of \S+ failed at step {number} \({name}\)", error), result.output
    assert "Traceback" not in result.output
    return lines[-1]


# --- the local API --------------------------------------------------------------------------------------


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """uvicorn in a background thread on a free port of 127.0.0.1 (in-process: the test key's
    certificate patch applies to the app's token verification)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="smoke-api", daemon=True)
    thread.start()
    try:

        def started() -> bool:
            assert thread.is_alive(), "uvicorn stopped while starting"
            return server.started

        wait_until(started, timeout=30, what="uvicorn started")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def api(backends: Backends, signing_key: TestKey, clean: None) -> Iterator[str]:
    with serve(create_app(settings_for(backends))) as url:
        yield url


def token_of(header: dict[str, str]) -> str:
    return header["Authorization"].removeprefix("Bearer ")


def test_every_step_passes_against_the_local_api_and_a_second_run_too(api: str, auth: Mint) -> None:
    token = token_of(auth("smoke-player"))

    first = smoke(api, "--token", token)

    assert first.exit_code == 0, first.output
    lines = step_lines(first)
    assert [re.match(r"\[\d/5\] (\w+) +ok: ", line) is not None for line in lines] == [True] * 5, first.output
    assert [line.split()[1] for line in lines] == STEP_NAMES
    health, profile, game, board, admin = lines
    assert "/healthz ok, /readyz status ok" in health
    assert "player smoke-player (--token), 0 games played before this run" in profile
    assert re.search(r"game \S+ started, 1 event, finished with score 1; daily rank 1$", game)
    assert "daily/global: 1 players, 1 on page 1; the player's rank 1" in board
    assert "403 forbidden from the API (admin role required)" in admin
    assert first.stdout.splitlines()[-1] == f"smoke test of {api} passed: 5 steps ok"
    assert first.stderr == ""

    # Every deploy runs it with the same player: the second game is a new one, the board still answers.
    second = smoke(api, "--token", token)
    assert second.exit_code == 0, second.output
    assert "1 games played before this run" in step_lines(second)[1]


@contextmanager
def stub(answer: Callable[[str, str, dict[str, list[str]], Any], tuple[int, Any]]) -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1: ``answer(method, path, query, json_body) -> (status, body)``; a
    str body is sent as text/html, anything else as JSON."""

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, body = answer(
                self.command, url.path, parse_qs(url.query), json.loads(raw) if raw else None
            )
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "text/html" if isinstance(body, str) else "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _reply  # noqa: N815 (the names http.server calls)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="smoke-stub", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def identity_toolkit(auth: Mint) -> Iterator[str]:
    """Identity Toolkit's accounts:signInWithPassword for one user, answering with a test-key token."""

    def answer(method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if method != "POST" or path != "/v1/accounts:signInWithPassword" or query.get("key") != ["web-key"]:
            return 400, {"error": {"code": 400, "message": "API_KEY_INVALID"}}
        if body != {"email": "smoke@example.test", "password": "s3cret-pw", "returnSecureToken": True}:
            return 400, {"error": {"code": 400, "message": "INVALID_LOGIN_CREDENTIALS"}}
        return 200, {"idToken": token_of(auth("smoke-by-password")), "localId": "smoke-by-password"}

    with stub(answer) as url:
        yield f"{url}/v1/accounts:signInWithPassword"


def test_the_smoke_player_signs_in_with_email_and_password(api: str, identity_toolkit: str) -> None:
    env = {
        "POG_SMOKE_EMAIL": "smoke@example.test",
        "POG_SMOKE_PASSWORD": "s3cret-pw",
        "POG_SMOKE_API_KEY": "web-key",
        "POG_SMOKE_SIGN_IN_URL": identity_toolkit,
    }

    passed = smoke(api, **env)
    assert passed.exit_code == 0, passed.output
    assert "player smoke-by-password (password sign-in as smoke@example.test)" in step_lines(passed)[1]

    refused = smoke(api, **{**env, "POG_SMOKE_PASSWORD": "wrong-pw"})
    line = assert_failed_at(
        refused, "profile", "sign-in as smoke@example.test answered 400 INVALID_LOGIN_CREDENTIALS"
    )
    assert "wrong-pw" not in refused.output
    assert "web-key" not in line


@pytest.mark.parametrize(
    ("claims", "refusal"),
    [
        ({"role": "admin"}, "403 second_factor_required from the API"),
        ({"firebase": {"sign_in_provider": "password", "sign_in_second_factor": "phone"}}, "403 forbidden"),
    ],
    ids=["admin-without-second-factor", "player-with-second-factor"],
)
def test_the_admin_step_passes_when_the_api_refuses_for_the_role_or_the_second_factor(
    api: str, auth: Mint, claims: dict[str, Any], refusal: str
) -> None:
    result = smoke(api, "--token", token_of(auth("smoke-player", **claims)))
    assert result.exit_code == 0, result.output
    assert refusal in step_lines(result)[4]


def test_an_admin_token_with_a_second_factor_fails_the_admin_step(api: str, auth: Mint) -> None:
    """The API then refuses only the address (not allowlisted): the admin check itself was passed."""
    mfa = {"sign_in_provider": "password", "sign_in_second_factor": "phone"}
    result = smoke(api, "--token", token_of(auth("an-admin", role="admin", firebase=mfa)))
    assert_failed_at(result, "admin", "answered 403 ip_not_allowed")


def test_an_expired_token_fails_the_profile_step(api: str, auth: Mint) -> None:
    past = int(time.time()) - 7200
    result = smoke(api, "--token", token_of(auth("smoke-player", iat=past, auth_time=past, exp=past + 3600)))
    assert_failed_at(result, "profile", "GET /v1/me answered 401 unauthorized")


# --- failing APIs and bad input (no backends needed) ------------------------------------------------------


def test_an_api_whose_readyz_answers_500_fails_the_health_step() -> None:
    def answer(method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if path == "/healthz":
            return 200, {"status": "ok"}
        return 500, {"error": {"code": "internal_error", "message": "something broke"}}

    with stub(answer) as url:
        result = smoke(url, "--token", "any")
    assert_failed_at(result, "health", "GET /readyz answered 500 internal_error: something broke")


def test_a_readyz_503_names_the_failing_check() -> None:
    def answer(method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if path == "/healthz":
            return 200, {"status": "ok"}
        return 503, {"status": "unavailable", "checks": {"firestore": "error: timeout", "redis": "ok"}}

    with stub(answer) as url:
        result = smoke(url, "--token", "any")
    assert_failed_at(
        result, "health", "GET /readyz answered 503 status unavailable (firestore=error: timeout)"
    )


def test_a_rejected_finish_fails_the_game_step_with_the_api_reason() -> None:
    def answer(method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        replies: dict[tuple[str, str], tuple[int, Any]] = {
            ("GET", "/healthz"): (200, {"status": "ok"}),
            ("GET", "/readyz"): (200, {"status": "ok", "checks": {}}),
            ("GET", "/v1/me"): (200, {"uid": "p1", "stats": {"games_played": 3}}),
            ("POST", "/v1/games"): (201, {"game_id": "g1"}),
            ("POST", "/v1/games/g1/events"): (200, {"accepted": 1, "event_count": 1}),
        }
        reason = {"code": "implausible_score", "message": "score 1 is more than the points allow"}
        return replies.get((method, path), (422, {"error": reason}))

    with stub(answer) as url:
        result = smoke(url, "--token", "any")
    assert_failed_at(
        result,
        "game",
        "POST /v1/games/g1/finish answered 422 implausible_score: score 1 is more than the points allow",
    )


def test_an_unreachable_url_fails_the_health_step_without_a_traceback() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free once closed: nothing listens there
    result = smoke(f"http://127.0.0.1:{port}", "--token", "any")
    assert_failed_at(result, "health", "GET /healthz: cannot reach it (")


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["api.example.test", "--token", "t"], {}, "the URL must be http(s)://HOST[:PORT]"),
        (["ftp://api.example.test", "--token", "t"], {}, "the URL must be http(s)://HOST[:PORT]"),
        (["https://exa mple.test", "--token", "t"], {}, "the URL must be http(s)://HOST[:PORT]"),
        (["https://api.example.test:99999", "--token", "t"], {}, "port is out of range"),
        (["https://api.example.test/?x=1", "--token", "t"], {}, "no query or fragment"),
        (["https://api.example.test"], {}, "no smoke player: pass --token (or POG_SMOKE_TOKEN)"),
        (
            ["https://api.example.test"],
            {"POG_SMOKE_EMAIL": "a@example.test"},
            "needs POG_SMOKE_PASSWORD, POG_SMOKE_API_KEY too",
        ),
    ],
)
def test_bad_input_is_one_error_line_before_any_request(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = smoke(*args, **env)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert message in line


def _response(status: int, body: Any) -> httpx.Response:
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers={"content-type": "text/html"})
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (403, {"error": {"code": "forbidden", "message": "admin role required"}}, "from the API"),
        (
            403,
            {"error": {"code": "forbidden", "message": EDGE_REFUSAL_MESSAGE}},
            "Cloudflare's admin allowlist",
        ),
        (403, "<!doctype html><title>403 Forbidden</title>", "Cloud Armor's admin allowlist"),
    ],
)
def test_who_refused_the_admin_route_is_said(status: int, body: Any, said: str) -> None:
    assert said in admin_refusal(_response(status, body))


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, {"items": [], "next_cursor": None}, "served a player without a second factor"),
        (401, {"error": {"code": "unauthorized", "message": "missing bearer token"}}, "expected 403"),
        (
            403,
            {"error": {"code": "something_else", "message": "?"}},
            "not a refusal for a missing admin role",
        ),
    ],
)
def test_anything_but_a_refusal_fails_the_admin_step(status: int, body: Any, reason: str) -> None:
    with pytest.raises(StepFailedError, match=re.escape(reason)):
        admin_refusal(_response(status, body))


def test_the_edge_refusal_message_is_the_one_the_cloudflare_rule_sends() -> None:
    edge = (ROOT / "infra" / "stacks" / "edge.py").read_text()
    assert f'"message": "{EDGE_REFUSAL_MESSAGE}"' in edge
