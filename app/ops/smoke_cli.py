"""``pog smoke URL``: a short end-to-end check of a deployed game API, one line per step.

1. health: ``GET /healthz`` and ``GET /readyz`` answer 200 (``readyz`` may say ``degraded``: the API
   serves without Redis, so that is reported, not failed);
2. profile: the smoke player signs in and reads ``GET /v1/me``;
3. game: ``POST /v1/games``, one event batch worth ``SMOKE_POINTS``, then ``finish`` with exactly that
   score, which passes the plausibility checks of app/domain/games.py (score = the events' points,
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
from typing import Annotated

import httpx
import typer

from app.ops.smoke_client import (
    DEFAULT_TIMEOUT_S,
    ENV_API_KEY,
    ENV_EMAIL,
    ENV_PASSWORD,
    ENV_SIGN_IN_URL,
    ENV_TOKEN,
    SIGN_IN_URL,
    Credentials,
    Smoke,
    SmokeInputError,
    StepFailedError,
    base_url,
)
from app.ops.smoke_steps import STEPS


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


Url = Annotated[
    str,
    typer.Argument(
        help="The API's base URL, e.g. https://api.potofgold-dev.games (`pulumi stack output apiUrl`)",
        show_default=False,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=ENV_TOKEN,
        help="A Firebase ID token of the smoke player (valid 1 h); wins over email/password sign-in",
        show_default=False,
    ),
]
Email = Annotated[
    str | None,
    typer.Option("--email", envvar=ENV_EMAIL, help="The smoke player's email", show_default=False),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=ENV_API_KEY,
        help="The Firebase project's web API key (public; identifies the project to Identity Toolkit)",
        show_default=False,
    ),
]
SignInUrl = Annotated[
    str,
    typer.Option(
        "--sign-in-url",
        envvar=ENV_SIGN_IN_URL,
        help="Identity Toolkit's accounts:signInWithPassword (change only for an emulator or a test)",
    ),
]
Timeout = Annotated[
    float, typer.Option("--timeout", min=1.0, help="Seconds each request may take (dev scales to zero)")
]


def smoke(
    url: Url,
    token: Token = None,
    email: Email = None,
    api_key: ApiKey = None,
    sign_in_url: SignInUrl = SIGN_IN_URL,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
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
