"""``pog smoke URL``: a short end-to-end check of a deployed game API, one line per step.

1. health: ``GET /healthz`` and ``GET /readyz`` answer 200 (``readyz`` may say ``degraded``: the API
   serves without Redis, so that is reported, not failed);
2. profile: the smoke player signs in and reads ``GET /v1/me``;
3. game: ``POST /v1/games``, one event batch worth ``SMOKE_POINTS``, then ``finish`` with exactly that
   score, which passes the plausibility checks of app/services/games.py (score = the events' points,
   far below ``MAX_POINTS_PER_S`` per second of play);
4. leaderboard: the public ``daily/global`` page and the player's own place on it;
5. admin: ``GET /v1/admin/review-queue`` with the player's token (no admin role, no second factor) is
   refused with 403, by the API itself or, from outside the admin allowlist, by the edge in front of it
   (Cloudflare's rule or Cloud Armor); the line says which.

The first failing step ends the run: its line says FAILED with the status code and the response's
error reason, then one ``error:`` line, exit 1. Bad input (a malformed URL, no credentials) is one
``error:`` line and exit 1 before any request.

The smoke player is a dedicated, ordinary player account (no admin role, no second factor enrolled). It
plays one real game per run, so it appears on the boards with a score of ``SMOKE_POINTS``.

Only httpx and typer: the command runs from the app image too (``python -m app.ops smoke URL``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import typer

#: Identity Toolkit's email/password sign-in (Firebase Auth); ``--sign-in-url`` points elsewhere.
SIGN_IN_URL = "https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword"
ENV_TOKEN = "POG_SMOKE_TOKEN"
ENV_EMAIL = "POG_SMOKE_EMAIL"
ENV_PASSWORD = "POG_SMOKE_PASSWORD"
ENV_API_KEY = "POG_SMOKE_API_KEY"
ENV_SIGN_IN_URL = "POG_SMOKE_SIGN_IN_URL"

SMOKE_POINTS = 1
BOARD = "daily/global"
ADMIN_PATH = "/v1/admin/review-queue"
#: The API's refusals of a caller without the admin role or without a second factor (app/api/deps.py).
API_REFUSALS = ("forbidden", "second_factor_required")
#: The message of Cloudflare's admin allowlist block (infra/stacks/edge.py, _FORBIDDEN_BODY); its code is
#: ``forbidden`` like the API's, so the message tells the two apart.
EDGE_REFUSAL_MESSAGE = "Admin access is restricted"
DEFAULT_TIMEOUT_S = 20.0
#: A DNS name or an IP address (httpx gives IPv6 without brackets and percent-encodes anything else).
_HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")


class SmokeInputError(Exception):
    """Bad input, found before any request: one ``error:`` line."""


class StepFailedError(Exception):
    """Why a step failed: status code and the response's error reason, or why nothing answered."""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def error_reason(response: httpx.Response) -> str:
    """The reason a response gives: the API's ``{"error": {"code", "message"}}``, Identity Toolkit's
    ``{"error": {"message"}}``, a readiness body's failing checks, or the start of any other body."""
    try:
        body = response.json()
    except ValueError:
        text = " ".join(response.text.split())
        if not text:
            return ""
        return f"(not JSON: {text[:80]}{'...' if len(text) > 80 else ''})"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code, message = error.get("code"), error.get("message")
        if isinstance(code, str):
            return f"{code}: {message}" if message else code
        return str(message) if message else ""
    if isinstance(body, dict) and "status" in body:
        checks = _mapping(body.get("checks"))
        failing = ", ".join(f"{name}={state}" for name, state in sorted(checks.items()) if state != "ok")
        return f"status {body['status']}" + (f" ({failing})" if failing else "")
    return ""


def _answered(method: str, path: str, response: httpx.Response) -> str:
    reason = error_reason(response)
    where = response.headers.get("location")
    text = f"{method} {path} answered {response.status_code}"
    if reason:
        text += f" {reason}"
    if where and response.is_redirect:
        text += f" (redirect to {where})"
    return text


def _unreachable(what: str, exc: httpx.HTTPError) -> StepFailedError:
    if isinstance(exc, httpx.TimeoutException):
        return StepFailedError(f"{what}: no answer in time ({type(exc).__name__})")
    detail = str(exc) or type(exc).__name__
    return StepFailedError(f"{what}: cannot reach it ({detail})")


def _json_object(method: str, path: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise StepFailedError(f"{method} {path} answered {response.status_code} without a JSON object")
    return body


def base_url(url: str) -> str:
    """The API's base URL without a trailing slash; ``SmokeInputError`` unless it is http(s)://host."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise SmokeInputError(f"not a URL: {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not _HOST.fullmatch(parsed.host):
        raise SmokeInputError(
            f"the URL must be http(s)://HOST[:PORT], e.g. the stack output apiUrl; got {url!r}"
        )
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise SmokeInputError(f"the URL's port is out of range: {url!r}")
    if parsed.query or parsed.fragment:
        raise SmokeInputError(f"the URL must have no query or fragment: {url!r}")
    return str(parsed).rstrip("/")


@dataclass(frozen=True)
class Credentials:
    """How the smoke player signs in: a ready ID token, or email and password through Identity Toolkit."""

    token: str | None = None
    email: str | None = None
    password: str | None = None
    api_key: str | None = None
    sign_in_url: str = SIGN_IN_URL

    def check(self) -> None:
        if self.token:
            return
        missing = [
            env
            for env, value in (
                (ENV_EMAIL, self.email),
                (ENV_PASSWORD, self.password),
                (ENV_API_KEY, self.api_key),
            )
            if not value
        ]
        if len(missing) == 3:
            raise SmokeInputError(
                f"no smoke player: pass --token (or {ENV_TOKEN}), or set {ENV_EMAIL}, {ENV_PASSWORD} and"
                f" {ENV_API_KEY} to sign in a dedicated smoke-test user"
            )
        if missing:
            raise SmokeInputError(f"email/password sign-in needs {', '.join(missing)} too")
        base_url(self.sign_in_url)  # the same rules as the API's URL


class Smoke:
    """The run's HTTP client, the API's base URL and the player's token once signed in."""

    def __init__(self, client: httpx.Client, base: str, credentials: Credentials) -> None:
        self.client = client
        self.base = base
        self.credentials = credentials
        self.token: str | None = None

    def call(
        self, method: str, path: str, expect: int, *, body: Any = None, signed_in: bool = True
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if signed_in and self.token else {}
        try:
            response = self.client.request(method, self.base + path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _unreachable(f"{method} {path}", exc) from None
        if response.status_code != expect:
            raise StepFailedError(_answered(method, path, response))
        return response

    def sign_in(self) -> str:
        """The player's ID token: ``--token`` as given, or Identity Toolkit's for email and password."""
        c = self.credentials
        if c.token:
            return c.token
        try:
            response = self.client.post(
                c.sign_in_url,
                params={"key": c.api_key},
                json={"email": c.email, "password": c.password, "returnSecureToken": True},
            )
        except httpx.HTTPError as exc:
            raise _unreachable("sign-in", exc) from None
        if response.status_code != 200:
            raise StepFailedError(
                f"sign-in as {c.email} answered {response.status_code} {error_reason(response)}"
            )
        body = _json_object("POST", "sign-in", response)
        if "mfaPendingCredential" in body:
            raise StepFailedError(
                f"{c.email} has a second factor enrolled; the smoke player must be an ordinary player"
            )
        token = body.get("idToken")
        if not isinstance(token, str) or not token:
            raise StepFailedError("sign-in answered 200 without an idToken")
        return token


def step_health(s: Smoke) -> str:
    healthz = _json_object("GET", "/healthz", s.call("GET", "/healthz", 200, signed_in=False))
    if healthz.get("status") != "ok":
        raise StepFailedError(f"GET /healthz answered 200 with status {healthz.get('status')!r}")
    readyz = s.call("GET", "/readyz", 200, signed_in=False)
    return f"/healthz ok, /readyz {error_reason(readyz) or 'answered 200'}"


def step_profile(s: Smoke) -> str:
    how = "--token" if s.credentials.token else f"password sign-in as {s.credentials.email}"
    s.token = s.sign_in()
    profile = _json_object("GET", "/v1/me", s.call("GET", "/v1/me", 200))
    uid = profile.get("uid")
    if not isinstance(uid, str) or not uid:
        raise StepFailedError("GET /v1/me answered 200 without a uid")
    stats = _mapping(profile.get("stats"))
    return f"player {uid} ({how}), {stats.get('games_played', 0)} games played before this run"


def step_game(s: Smoke) -> str:
    started = _json_object("POST", "/v1/games", s.call("POST", "/v1/games", 201, body={"mode": "classic"}))
    game_id = started.get("game_id")
    if not isinstance(game_id, str) or not game_id:
        raise StepFailedError("POST /v1/games answered 201 without a game_id")
    events = f"/v1/games/{game_id}/events"
    batch = {"events": [{"type": "smoke", "t_ms": 0, "points": SMOKE_POINTS}]}
    accepted = _json_object("POST", events, s.call("POST", events, 200, body=batch))
    if accepted.get("accepted") != 1:
        raise StepFailedError(f"POST {events} accepted {accepted.get('accepted')!r} of 1 event")
    finish = f"/v1/games/{game_id}/finish"
    result = _json_object("POST", finish, s.call("POST", finish, 200, body={"score": SMOKE_POINTS}))
    if result.get("final_score") != SMOKE_POINTS:
        raise StepFailedError(f"POST {finish} answered final_score {result.get('final_score')!r}")
    ranks = _mapping(result.get("ranks"))
    rank = ranks.get("daily")
    where = f"daily rank {rank}" if isinstance(rank, int) else "the boards did not answer (ranks null)"
    return f"game {game_id} started, 1 event, finished with score {SMOKE_POINTS}; {where}"


def step_leaderboard(s: Smoke) -> str:
    path = f"/v1/leaderboards/{BOARD}"
    page = _json_object("GET", path, s.call("GET", path, 200, signed_in=False))
    entries = page.get("entries")
    if not isinstance(entries, list):
        raise StepFailedError(f"GET {path} answered 200 without entries")
    mine = _json_object("GET", f"{path}/me", s.call("GET", f"{path}/me", 200))
    rank = mine.get("rank")
    place = f"the player's rank {rank}" if rank is not None else "the player is not on it yet"
    return f"{BOARD}: {page.get('total')} players, {len(entries)} on page 1; {place}"


def admin_refusal(response: httpx.Response) -> str:
    """Who refused the admin route (the step's detail), or ``StepFailedError`` when it was not refused
    the way a player's token without a second factor must be."""
    answered = _answered("GET", ADMIN_PATH, response)
    if response.status_code != 403:
        if response.is_success:
            raise StepFailedError(f"{answered}: an admin route served a player without a second factor")
        raise StepFailedError(f"{answered}, expected 403")
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "403 before the API: Cloud Armor's admin allowlist at the load balancer (not the API's body)"
    code, message = error.get("code"), error.get("message")
    if message == EDGE_REFUSAL_MESSAGE:
        return "403 at the edge: Cloudflare's admin allowlist rule (the API's own check was not reached)"
    if code in API_REFUSALS:
        return f"403 {code} from the API ({message})"
    if code == "ip_not_allowed":
        raise StepFailedError(
            f"{answered}: only the address was refused, so the token has the admin role and a second factor;"
            " the smoke player must be an ordinary player"
        )
    raise StepFailedError(f"{answered}: not a refusal for a missing admin role or second factor")


def step_admin(s: Smoke) -> str:
    try:
        response = s.client.get(s.base + ADMIN_PATH, headers={"Authorization": f"Bearer {s.token}"})
    except httpx.HTTPError as exc:
        raise _unreachable(f"GET {ADMIN_PATH}", exc) from None
    return admin_refusal(response)


STEPS: tuple[tuple[str, Callable[[Smoke], str]], ...] = (
    ("health", step_health),
    ("profile", step_profile),
    ("game", step_game),
    ("leaderboard", step_leaderboard),
    ("admin", step_admin),
)


def run_smoke(base: str, credentials: Credentials, timeout_s: float) -> bool:
    """Every step in order, one line each; False at the first failure (its line says why)."""
    width = max(len(name) for name, _ in STEPS)
    with httpx.Client(
        timeout=timeout_s, follow_redirects=False, headers={"User-Agent": "pog-smoke"}
    ) as client:
        smoke = Smoke(client, base, credentials)
        for number, (name, step) in enumerate(STEPS, start=1):
            label = f"[{number}/{len(STEPS)}] {name:<{width}}"
            try:
                detail = step(smoke)
            except StepFailedError as exc:
                typer.echo(f"{label}  FAILED: {exc}")
                typer.echo(f"error: smoke test of {base} failed at step {number} ({name})", err=True)
                return False
            typer.echo(f"{label}  ok: {detail}")
    typer.echo(f"smoke test of {base} passed: {len(STEPS)} steps ok")
    return True


def smoke(
    url: Annotated[
        str,
        typer.Argument(
            help="The API's base URL, e.g. https://api.potofgold-dev.games (`pulumi stack output apiUrl`)",
            show_default=False,
        ),
    ],
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=ENV_TOKEN,
            help="A Firebase ID token of the smoke player (valid 1 h); wins over email/password sign-in",
            show_default=False,
        ),
    ] = None,
    email: Annotated[
        str | None,
        typer.Option("--email", envvar=ENV_EMAIL, help="The smoke player's email", show_default=False),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar=ENV_API_KEY,
            help="The Firebase project's web API key (public; identifies the project to Identity Toolkit)",
            show_default=False,
        ),
    ] = None,
    sign_in_url: Annotated[
        str,
        typer.Option(
            "--sign-in-url",
            envvar=ENV_SIGN_IN_URL,
            help="Identity Toolkit's accounts:signInWithPassword (change only for an emulator or a test)",
        ),
    ] = SIGN_IN_URL,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds each request may take (dev scales to zero)")
    ] = DEFAULT_TIMEOUT_S,
) -> None:
    """End-to-end smoke test of a deployed API: health, the player's profile, a game played and finished,
    a leaderboard read, and an admin route refused. One line per step; exit 1 at the first failure.

    The smoke player signs in one of two ways:
    - --token / POG_SMOKE_TOKEN: a Firebase ID token, used as is (valid 1 h);
    - otherwise email and password through Identity Toolkit
      (accounts:signInWithPassword): POG_SMOKE_EMAIL, POG_SMOKE_PASSWORD
      (environment only, never an option) and POG_SMOKE_API_KEY (the
      Firebase project's web API key).
    Use a dedicated ordinary player: email/password provider, no admin role,
    no second factor. It plays one game (score 1) per run.
    """
    credentials = Credentials(
        token=token or None,
        email=email or None,
        password=os.environ.get(ENV_PASSWORD) or None,
        api_key=api_key or None,
        sign_in_url=sign_in_url,
    )
    try:
        base = base_url(url)
        credentials.check()
    except SmokeInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if not run_smoke(base, credentials, timeout):
        raise typer.Exit(1)
