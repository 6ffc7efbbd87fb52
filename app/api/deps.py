"""Dependencies: the app's services, the caller, rate limits, the admin gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from firebase_admin.exceptions import FirebaseError
from limits import RateLimitItem

from app.core.auth import InvalidTokenError, Principal, TokenVerifier
from app.core.config import Settings
from app.core.errors import ApiError
from app.core.net import Address, client_ip
from app.repositories.rate_limits import RateLimiter
from app.services.games import GameService
from app.services.users import UserService


@dataclass
class Container:
    """Everything built once per process in the lifespan."""

    settings: Settings
    verifier: TokenVerifier
    limiter: RateLimiter
    user_limits: list[RateLimitItem]
    ip_limits: list[RateLimitItem]
    users: UserService
    games: GameService


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


ContainerDep = Annotated[Container, Depends(container)]


def caller_ip(request: Request, c: ContainerDep) -> Address | None:
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("cf-connecting-ip"), c.settings.trusted_proxies)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": 'Bearer realm="pot-of-gold"'})


def _too_many(retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"too many requests; retry in {retry_after_s} s",
        {"Retry-After": str(retry_after_s)},
    )


async def limit_ip(c: ContainerDep, ip: Annotated[Address | None, Depends(caller_ip)]) -> None:
    """Per-IP limit, counted before the token is checked (it also slows token guessing)."""
    verdict = await c.limiter.hit(c.ip_limits, "ip", str(ip))
    if not verdict.allowed:
        raise _too_many(verdict.retry_after_s)


async def current_user(request: Request, c: ContainerDep, _: Annotated[None, Depends(limit_ip)]) -> Principal:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("missing bearer token")
    scheme, _sep, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 4096:
        raise _unauthorized("malformed Authorization header; expected 'Bearer <Firebase ID token>'")
    try:
        principal = await c.verifier.verify(token)
    except InvalidTokenError as exc:
        raise _unauthorized("invalid or expired token") from exc
    except FirebaseError as exc:  # certificate fetch or revocation check could not be made
        raise ApiError(503, "auth_unavailable", "token verification is unavailable, retry") from exc
    verdict = await c.limiter.hit(c.user_limits, "user", principal.uid)
    if not verdict.allowed:
        raise _too_many(verdict.retry_after_s)
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


async def admin_user(
    user: CurrentUser, c: ContainerDep, ip: Annotated[Address | None, Depends(caller_ip)]
) -> Principal:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "admin role required")
    if not user.second_factor:
        raise ApiError(403, "second_factor_required", "sign in with a second factor to use admin routes")
    if ip is None or not any(ip in net for net in c.settings.admin_ip_allowlist):
        raise ApiError(403, "ip_not_allowed", "admin routes are not available from this address")
    return user


AdminUser = Annotated[Principal, Depends(admin_user)]
