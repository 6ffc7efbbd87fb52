"""The steps of `pog smoke`, in order: each returns its one-line detail or raises ``StepFailedError``."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.ops.smoke_client import (
    Smoke,
    StepFailedError,
    answered,
    error_reason,
    json_object,
    mapping,
    unreachable,
)

SMOKE_POINTS = 1
BOARD = "daily/global"
ADMIN_PATH = "/v1/admin/review-queue"
#: The API's refusals of a caller without the admin role or without a second factor (app/api/deps.py).
API_REFUSALS = ("forbidden", "second_factor_required")
#: The message of Cloudflare's admin allowlist block (infra/stacks/edge.py, _FORBIDDEN_BODY); its code is
#: ``forbidden`` like the API's, so the message tells the two apart.
EDGE_REFUSAL_MESSAGE = "Admin access is restricted"


def step_health(s: Smoke) -> str:
    healthz = json_object("GET", "/healthz", s.call("GET", "/healthz", 200, signed_in=False))
    if healthz.get("status") != "ok":
        raise StepFailedError(f"GET /healthz answered 200 with status {healthz.get('status')!r}")
    readyz = s.call("GET", "/readyz", 200, signed_in=False)
    return f"/healthz ok, /readyz {error_reason(readyz) or 'answered 200'}"


def step_profile(s: Smoke) -> str:
    how = "--token" if s.credentials.token else f"password sign-in as {s.credentials.email}"
    s.token = s.sign_in()
    profile = json_object("GET", "/v1/me", s.call("GET", "/v1/me", 200))
    uid = profile.get("uid")
    if not isinstance(uid, str) or not uid:
        raise StepFailedError("GET /v1/me answered 200 without a uid")
    stats = mapping(profile.get("stats"))
    return f"player {uid} ({how}), {stats.get('games_played', 0)} games played before this run"


def step_game(s: Smoke) -> str:
    started = json_object("POST", "/v1/games", s.call("POST", "/v1/games", 201, body={"mode": "classic"}))
    game_id = started.get("game_id")
    if not isinstance(game_id, str) or not game_id:
        raise StepFailedError("POST /v1/games answered 201 without a game_id")
    events = f"/v1/games/{game_id}/events"
    batch = {"events": [{"type": "smoke", "t_ms": 0, "points": SMOKE_POINTS}]}
    accepted = json_object("POST", events, s.call("POST", events, 200, body=batch))
    if accepted.get("accepted") != 1:
        raise StepFailedError(f"POST {events} accepted {accepted.get('accepted')!r} of 1 event")
    finish = f"/v1/games/{game_id}/finish"
    result = json_object("POST", finish, s.call("POST", finish, 200, body={"score": SMOKE_POINTS}))
    if result.get("final_score") != SMOKE_POINTS:
        raise StepFailedError(f"POST {finish} answered final_score {result.get('final_score')!r}")
    ranks = mapping(result.get("ranks"))
    rank = ranks.get("daily")
    where = f"daily rank {rank}" if isinstance(rank, int) else "the boards did not answer (ranks null)"
    return f"game {game_id} started, 1 event, finished with score {SMOKE_POINTS}; {where}"


def step_leaderboard(s: Smoke) -> str:
    path = f"/v1/leaderboards/{BOARD}"
    page = json_object("GET", path, s.call("GET", path, 200, signed_in=False))
    entries = page.get("entries")
    if not isinstance(entries, list):
        raise StepFailedError(f"GET {path} answered 200 without entries")
    mine = json_object("GET", f"{path}/me", s.call("GET", f"{path}/me", 200))
    rank = mine.get("rank")
    place = f"the player's rank {rank}" if rank is not None else "the player is not on it yet"
    return f"{BOARD}: {page.get('total')} players, {len(entries)} on page 1; {place}"


def admin_refusal(response: httpx.Response) -> str:
    """Who refused the admin route (the step's detail), or ``StepFailedError`` when it was not refused
    the way a player's token without a second factor must be."""
    what = answered("GET", ADMIN_PATH, response)
    if response.status_code != 403:
        if response.is_success:
            raise StepFailedError(f"{what}: an admin route served a player without a second factor")
        raise StepFailedError(f"{what}, expected 403")
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
            f"{what}: only the address was refused, so the token has the admin role and a second factor;"
            " the smoke player must be an ordinary player"
        )
    raise StepFailedError(f"{what}: not a refusal for a missing admin role or second factor")


def step_admin(s: Smoke) -> str:
    try:
        response = s.client.get(s.base + ADMIN_PATH, headers={"Authorization": f"Bearer {s.token}"})
    except httpx.HTTPError as exc:
        raise unreachable(f"GET {ADMIN_PATH}", exc) from None
    return admin_refusal(response)


STEPS: tuple[tuple[str, Callable[[Smoke], str]], ...] = (
    ("health", step_health),
    ("profile", step_profile),
    ("game", step_game),
    ("leaderboard", step_leaderboard),
    ("admin", step_admin),
)
