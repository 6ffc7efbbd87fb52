"""Dependencies: the app's services, the caller, rate limits, the admin gate."""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from app.api.errors import ApiError
from app.core.auth import AuthUnavailableError, InvalidTokenError, Principal
from app.core.net import Address, client_ip

if TYPE_CHECKING:  # built by app/composition.py at start-up: the API module does not load the clients
    from limits import RateLimitItem

    from app.core.app_check import AppCheckVerifier
    from app.core.config import Settings
    from app.core.firebase_auth import TokenVerifier
    from app.repositories.rate_limits import RateLimiter, Verdict
    from app.services.analytics import Analytics
    from app.services.economy.grants import GrantService
    from app.services.friends import FriendService
    from app.services.games import GameService
    from app.services.leaderboards_service import LeaderboardService
    from app.services.live_events import LiveEventService
    from app.services.notifications import Notifier
    from app.services.payments import PaymentService
    from app.services.payments_checkout import StripeCheckout
    from app.services.presence import PresenceService
    from app.services.users import UserService


@dataclass
class Container:
    """Everything the routes use, built once per process at start-up (``app/composition.py``)."""

    settings: Settings
    verifier: TokenVerifier
    limiter: RateLimiter
    user_limits: list[RateLimitItem]
    ip_limits: list[RateLimitItem]
    users: UserService
    #: Consented friendships, requests and blocks.
    friends: FriendService
    games: GameService
    #: The one Granter (purchases, rewards, admin) and the payment webhooks.
    grants: GrantService
    payments: PaymentService
    leaderboards: LeaderboardService
    presence: PresenceService
    #: Live events (join, claim through ``grants``) and push notifications.
    live_events: LiveEventService
    notifier: Notifier
    #: Stripe Checkout Sessions for web purchases.
    checkout: StripeCheckout
    #: Firebase App Check tokens on the sensitive routes (app/api/app_check.py).
    app_check: AppCheckVerifier
    #: Analytics events (docs/analytics-events.md): the clients' batches.
    analytics: Analytics


async def container(request: Request) -> Container:
    # async: FastAPI runs a sync dependency in the thread pool, a hop per request for a lookup.
    found: Container = request.app.state.container
    return found


ContainerDep = Annotated[Container, Depends(container)]


def connection(request: Request, hops: int) -> tuple[str | None, str | None]:
    """The socket's peer, and every ``X-Forwarded-For`` joined in order (read only behind a load
    balancer: ``hops`` > 0), as app/core/net.py takes them."""
    peer = request.client.host if request.client else None
    forwarded_for = ",".join(request.headers.getlist("x-forwarded-for")) if hops else None
    return peer, forwarded_for


async def caller_ip(request: Request, c: ContainerDep) -> Address | None:
    settings = c.settings
    hops = settings.forwarded_for_hops
    peer, forwarded_for = connection(request, hops)
    return client_ip(
        peer,
        request.headers.get("cf-connecting-ip"),
        settings.trusted_proxies,
        forwarded_for,
        hops,
    )


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
    """The per-IP limit alone, for routes without a caller (``current_user`` counts it itself)."""
    _enforce(await c.limiter.hit(c.ip_limits, "ip", str(ip)), c, None, "ip")


def _enforce(verdict: Verdict, c: Container, uid: str | None, limit: str) -> None:
    if not verdict.allowed:
        # ``rate_limited`` (per-IP limits: no player); the sink never blocks the 429.
        c.analytics.emit("rate_limited", uid, {"limit": limit})
        raise _too_many(verdict.retry_after_s)


def _bearer(request: Request) -> tuple[str | None, str, bool]:
    """The Authorization header, its token, and whether it is a well-formed bearer token."""
    header = request.headers.get("authorization")
    scheme, _sep, token = (header or "").partition(" ")
    token = token.strip()
    return header, token, scheme.lower() == "bearer" and 0 < len(token) <= 4096


def known_caller(request: Request, c: Container) -> Principal | None:
    """The caller of a token this process has verified before (until its ``exp``, or the revocation
    check interval), not yet counted against any limit; None for any other request."""
    _header, token, well_formed = _bearer(request)
    return c.verifier.remembered(token) if well_formed else None


def count_caller(c: Container, ip: Address | None, uid: str) -> Coroutine[Any, Any, None]:
    """The per-IP and per-user limits, both in one Redis round trip; 429 when either refuses.

    Queued when called (``RateLimiter.hit_many``): a cache read queued before the await shares the trip.
    """
    checks = [(c.ip_limits, ("ip", str(ip))), (c.user_limits, ("user", uid))]
    return _enforced(c.limiter.hit_many(checks), c, uid)


async def _enforced(verdict: Awaitable[Verdict], c: Container, uid: str) -> None:
    _enforce(await verdict, c, uid, "ip_or_user")


async def current_user(request: Request, c: Container, ip: Address | None) -> Principal:
    """The caller of a valid Firebase ID token, counted against the per-IP and per-user limits.

    A token this process has verified before needs no SDK call (``known_caller``). Any other request is
    counted against its IP before its token is checked (that also slows token guessing), then against
    its user.
    """
    header, token, well_formed = _bearer(request)
    known = c.verifier.remembered(token) if well_formed else None
    if known is not None:
        await count_caller(c, ip, known.uid)
        return known
    _enforce(await c.limiter.hit(c.ip_limits, "ip", str(ip)), c, None, "ip")
    if not header:
        raise _unauthorized("missing bearer token")
    if not well_formed:
        raise _unauthorized("malformed Authorization header; expected 'Bearer <Firebase ID token>'")
    try:
        principal = await c.verifier.verify(token)
    except InvalidTokenError as exc:
        raise _unauthorized("invalid or expired token") from exc
    except AuthUnavailableError as exc:  # certificate fetch or revocation check could not be made
        raise ApiError(503, "auth_unavailable", "token verification is unavailable, retry") from exc
    _enforce(await c.limiter.hit(c.user_limits, "user", principal.uid), c, principal.uid, "user")
    return principal


async def authenticated(request: Request) -> Principal:
    """``current_user`` as a dependency without sub-dependencies.

    FastAPI solves every declared sub-dependency on every request, cached or not: on the hottest routes
    the container and caller-IP dependencies cost more than the work they wrap.
    """
    c: Container = request.app.state.container
    return await current_user(request, c, await caller_ip(request, c))


CurrentUser = Annotated[Principal, Depends(authenticated)]


async def admin_user(request: Request, user: CurrentUser) -> Principal:
    c: Container = request.app.state.container
    ip = await caller_ip(request, c)
    if not user.is_admin:
        raise ApiError(403, "forbidden", "admin role required")
    if not user.second_factor:
        raise ApiError(403, "second_factor_required", "sign in with a second factor to use admin routes")
    if ip is None or not any(ip in net for net in c.settings.admin_ip_allowlist):
        raise ApiError(403, "ip_not_allowed", "admin routes are not available from this address")
    return user


AdminUser = Annotated[Principal, Depends(admin_user)]
