"""``pog leaderboards``: on-call commands for the boards (settings from the app's ``POG_*`` environment).

- ``pog leaderboards rebuild [--period P]``: recompute the current (and not yet archived previous) periods'
  boards from Firestore into Redis, e.g. after a failover to an empty replica. The API also does it by
  itself when it finds the boards lost; a Redis lock keeps two rebuilds from running at once.
- ``pog leaderboards rewards [--dry-run]``: the reset job (daily, a few minutes after 00:00 UTC): archive
  every finished period, grant the top ranks of its global board and of each country board their rewards
  exactly once (the reward config, ``REWARD_TIERS``, decides which boards pay), checkpoint monthly and
  all-time.

Heavy imports happen inside the commands, so ``pog`` itself starts as fast as before.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from app.services.grant_port import Granter
    from app.services.leaderboards import Period

leaderboards_app = typer.Typer(
    help="Leaderboards: rebuild from Firestore, archive and reward finished periods.",
    no_args_is_help=True,
)


async def _with_jobs(action: str, periods: list[Period] | None, dry_run: bool) -> dict[str, Any]:
    from app.core.config import get_settings
    from app.ops.leaderboards_wiring import build_leaderboards
    from app.repositories.breaker import RedisBreaker
    from app.repositories.cache import RedisCache
    from app.repositories.clients import close_firestore, firestore_client, redis_client
    from app.repositories.users import UserRepository
    from app.services.leaderboards import PERIODS
    from app.services.users import UserService

    settings = get_settings()
    db = firestore_client(settings)
    rds = redis_client(settings)
    breaker = RedisBreaker(settings.redis_breaker_threshold, settings.redis_breaker_recovery_s)
    cache = RedisCache(rds, breaker)
    users = UserService(UserRepository(db), cache, profile_ttl_s=60, inventory_ttl_s=60)
    parts = build_leaderboards(settings, rds, breaker, db, users)
    try:
        if action == "rebuild":
            report = await parts.jobs.rebuild(periods or PERIODS)
            if report is None:
                raise typer.BadParameter("another rebuild is running (Redis lock {lb}:rebuilding); try later")
            return report
        granter = None if dry_run else await _granter(settings, db, rds, breaker, cache)
        return await parts.jobs.reset(granter)
    finally:
        await parts.close()
        await rds.aclose()
        await close_firestore(db)


async def _granter(settings: Any, db: Any, rds: Any, breaker: Any, cache: Any) -> Granter:
    """The economy's grant service (one ledger transaction per grant, deduplicated on ``source_id``)."""
    try:
        from app.repositories.ledger_wiring import build_economy
    except ImportError as exc:  # pragma: no cover - the economy is not in this tree
        raise typer.BadParameter(f"the grant service is not available ({exc}); use --dry-run") from None
    economy = await build_economy(settings, db, rds, breaker, cache)
    granter: Granter = economy.grants
    return granter


def _print(report: dict[str, Any]) -> None:
    typer.echo(json.dumps(report, indent=2, sort_keys=True, default=str))


@leaderboards_app.command()
def rebuild(
    period: Annotated[
        list[str] | None, typer.Option("--period", help="daily, weekly, monthly or all_time (repeatable)")
    ] = None,
) -> None:
    """Rebuild the boards from Firestore's finished games (and checkpoints) into Redis."""
    from app.services.leaderboards import Period

    try:
        periods = [Period(p) for p in period or []]
    except ValueError:
        raise typer.BadParameter(f"--period must be one of {', '.join(p.value for p in Period)}") from None
    _print(asyncio.run(_with_jobs("rebuild", periods, dry_run=False)))


@leaderboards_app.command()
def rewards(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="archive and checkpoint, grant nothing")] = False,
) -> None:
    """Archive finished periods, grant their rewards exactly once, checkpoint monthly and all-time."""
    _print(asyncio.run(_with_jobs("rewards", None, dry_run)))
