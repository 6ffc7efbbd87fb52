"""Fixtures of the live boards' cache rules (POG-CF-009): a zone whose cache-settings ruleset holds the two
live rules as edge.py declares them, each failing case that one with a piece changed or taken away.

Written out by hand, not built from infra/stacks/edge_cache.py, so a wrong key there cannot agree with the
rule by construction (tests/infra/policy/test_real_inventory.py runs the rule on the program's own plan).
"""

from __future__ import annotations

import copy
from typing import Any

from .cases import DNS, Case, bad, ok, ruleset

API = "api.potofgold.games"
LATEST = f'http.host eq "{API}" and http.request.uri.path strict wildcard "/v1/leaderboards/*/*/live"'
IMMUTABLE = f'http.host eq "{API}" and http.request.uri.path strict wildcard "/v1/leaderboards/*/*/live/*/*"'
NO_STORE_ERRORS = [
    {"statusCodeRange": {"from": 400, "to": 499}, "value": -1},
    {"statusCodeRange": {"from": 500, "to": 599}, "value": -1},
]
CACHE_KEY = {"customKey": {"queryString": {"include": {"lists": ["page", "country"]}}}}


def live_rule(ref: str, expression: str, edge_ttl: dict[str, Any]) -> dict[str, Any]:
    return {
        "ref": ref,
        "action": "set_cache_settings",
        "enabled": True,
        "expression": expression,
        "actionParameters": {
            "cache": True,
            "edgeTtl": {**edge_ttl, "statusCodeTtls": copy.deepcopy(NO_STORE_ERRORS)},
            "browserTtl": {"mode": "respect_origin"},
            "cacheKey": copy.deepcopy(CACHE_KEY),
        },
    }


def latest(**edge_ttl: Any) -> dict[str, Any]:
    return live_rule("live-latest", LATEST, edge_ttl or {"mode": "override_origin", "default": 30})


def immutable() -> dict[str, Any]:
    return live_rule("live-immutable", IMMUTABLE, {"mode": "respect_origin"})


def cache_rules(*rules: dict[str, Any]) -> Any:
    return ruleset("http_request_cache_settings", *rules)


def changed(rule: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``rule`` with the value at ``path`` (dotted) set; None deletes it."""
    out = copy.deepcopy(rule)
    *parents, last = path.split(".")
    target = out
    for step in parents:
        target = target[step]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return out


ASSETS = {
    "ref": "assets",
    "action": "set_cache_settings",
    "enabled": True,
    "expression": 'http.host eq "assets.potofgold.games"',
    "actionParameters": {"cache": True, "edgeTtl": {"mode": "override_origin", "default": 604800}},
}

EDGE_CACHE_CASES: list[Case] = [
    ok("POG-CF-009", "live-rules", DNS, cache_rules(latest(), immutable())),
    ok("POG-CF-009", "with-assets", DNS, cache_rules(latest(), immutable(), ASSETS)),
    ok("POG-CF-009", "shorter-ttl", DNS, cache_rules(latest(mode="override_origin", default=5), immutable())),
    ok(
        "POG-CF-009",
        "whole-query-string",
        DNS,
        cache_rules(changed(latest(), "actionParameters.cacheKey", None), immutable()),
    ),
    bad("POG-CF-009", "none", DNS, violations=2, expect="no cache rule for /v1/leaderboards/*/*/live "),
    bad(
        "POG-CF-009",
        "latest-disabled",
        DNS,
        cache_rules(changed(latest(), "enabled", False), immutable()),
        expect="no cache rule for /v1/leaderboards/*/*/live (live-latest)",
    ),
    bad(
        "POG-CF-009",
        "latest-an-hour",
        DNS,
        cache_rules(latest(mode="override_origin", default=3600), immutable()),
        expect="edge TTL is 3600 s, not 1 to 30",
    ),
    bad(
        "POG-CF-009",
        "latest-respects-origin",
        DNS,
        cache_rules(latest(mode="respect_origin"), immutable()),
        expect="edge TTL mode is 'respect_origin'",
    ),
    bad(
        "POG-CF-009",
        "errors-cached",
        DNS,
        cache_rules(latest(), changed(immutable(), "actionParameters.edgeTtl.statusCodeTtls", None)),
        expect="may cache error answers (400-499, 500-599)",
    ),
    bad(
        "POG-CF-009",
        "404-kept-a-minute",
        DNS,
        cache_rules(
            changed(
                latest(),
                "actionParameters.edgeTtl.statusCodeTtls",
                [{"statusCode": 404, "value": 60}, NO_STORE_ERRORS[1]],
            ),
            immutable(),
        ),
        expect="may cache error answers (400-499)",
    ),
    bad(
        "POG-CF-009",
        "page-not-in-key",
        DNS,
        cache_rules(
            changed(
                latest(),
                "actionParameters.cacheKey.customKey.queryString",
                {"include": {"lists": ["country"]}},
            ),
            immutable(),
        ),
        expect="leaves page out of the cache key",
    ),
    bad(
        "POG-CF-009",
        "query-string-excluded",
        DNS,
        cache_rules(
            latest(),
            changed(
                immutable(), "actionParameters.cacheKey.customKey.queryString", {"exclude": {"all": True}}
            ),
        ),
        expect="leaves page, country out of the cache key",
    ),
    bad(
        "POG-CF-009",
        "whole-api-cached",
        DNS,
        cache_rules(latest(), immutable(), {**ASSETS, "ref": "api", "expression": f'http.host eq "{API}"'}),
        expect="cache rule 'api' makes more than the live boards cacheable on api.potofgold.games",
    ),
    bad(
        "POG-CF-009",
        "everything-cached",
        DNS,
        cache_rules(latest(), immutable(), {**ASSETS, "ref": "all", "expression": "true"}),
        expect="cacheable on every hostname",
    ),
]
