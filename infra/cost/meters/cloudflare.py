"""Cloudflare meters: the zone's plan, chosen by what the declared rulesets need."""

from __future__ import annotations

from infra.cost.meters.base import Charge, Context, Resource

RULESET = "cloudflare:index/ruleset:Ruleset"
#: Rate limiting rules each plan allows (Free 1, Pro 2, Business 5).
RATE_LIMIT_RULES = {"pro": 2, "business": 5}


def zone_plan(ctx: Context) -> str:
    """The cheapest plan that holds the rulesets: the managed WAF ruleset needs Pro, more rate limiting
    rules than Pro's two need Business."""
    rulesets = list(ctx.of_type(RULESET))
    rate_rules = sum(
        len(r["inputs"].get("rules") or []) for r in rulesets if r["inputs"].get("phase") == "http_ratelimit"
    )
    if rate_rules > RATE_LIMIT_RULES["pro"]:
        return "business"
    return "pro"


def ruleset(resource: Resource, ctx: Context) -> list[Charge]:
    """Rulesets cost nothing per request; the zone's plan is charged once, on the rate limiting ruleset."""
    if resource["inputs"].get("phase") != "http_ratelimit":
        return []
    plan = zone_plan(ctx)
    return [Charge(f"cf.{plan}_zone", 1.0, f"{plan.title()} plan: what the rulesets need")]
