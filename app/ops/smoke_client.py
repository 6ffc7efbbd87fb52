"""The HTTP side of `pog smoke`: the API's base URL, how the smoke player signs in, one call's checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

#: Identity Toolkit's email/password sign-in (Firebase Auth); ``--sign-in-url`` points elsewhere.
SIGN_IN_URL = "https://identitytoolkit.googleapis.com/v1/accounts:signInWithPassword"
ENV_TOKEN = "POG_SMOKE_TOKEN"
ENV_EMAIL = "POG_SMOKE_EMAIL"
ENV_PASSWORD = "POG_SMOKE_PASSWORD"
ENV_API_KEY = "POG_SMOKE_API_KEY"
ENV_SIGN_IN_URL = "POG_SMOKE_SIGN_IN_URL"
DEFAULT_TIMEOUT_S = 20.0
#: A DNS name or an IP address (httpx gives IPv6 without brackets and percent-encodes anything else).
_HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+")


class SmokeInputError(Exception):
    """Bad input, found before any request: one ``error:`` line."""


class StepFailedError(Exception):
    """Why a step failed: status code and the response's error reason, or why nothing answered."""


def mapping(value: Any) -> dict[str, Any]:
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
        checks = mapping(body.get("checks"))
        failing = ", ".join(f"{name}={state}" for name, state in sorted(checks.items()) if state != "ok")
        return f"status {body['status']}" + (f" ({failing})" if failing else "")
    return ""


def answered(method: str, path: str, response: httpx.Response) -> str:
    reason = error_reason(response)
    where = response.headers.get("location")
    text = f"{method} {path} answered {response.status_code}"
    if reason:
        text += f" {reason}"
    if where and response.is_redirect:
        text += f" (redirect to {where})"
    return text


def unreachable(what: str, exc: httpx.HTTPError) -> StepFailedError:
    if isinstance(exc, httpx.TimeoutException):
        return StepFailedError(f"{what}: no answer in time ({type(exc).__name__})")
    detail = str(exc) or type(exc).__name__
    return StepFailedError(f"{what}: cannot reach it ({detail})")


def json_object(method: str, path: str, response: httpx.Response) -> dict[str, Any]:
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
            raise unreachable(f"{method} {path}", exc) from None
        if response.status_code != expect:
            raise StepFailedError(answered(method, path, response))
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
            raise unreachable("sign-in", exc) from None
        if response.status_code != 200:
            raise StepFailedError(
                f"sign-in as {c.email} answered {response.status_code} {error_reason(response)}"
            )
        body = json_object("POST", "sign-in", response)
        if "mfaPendingCredential" in body:
            raise StepFailedError(
                f"{c.email} has a second factor enrolled; the smoke player must be an ordinary player"
            )
        token = body.get("idToken")
        if not isinstance(token, str) or not token:
            raise StepFailedError("sign-in answered 200 without an idToken")
        return token
