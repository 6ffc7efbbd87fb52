"""The live boards' cache rules on the API hostname (issue 20): in every stack and phase, first in the zone's
one cache-settings ruleset; their paths match the live routes and nothing else of the API."""

from __future__ import annotations

import pytest

from app.core.config import Settings
from infra.plan.engine import Plan
from infra.stacks.edge_cache import LIVE_INTERVAL_S, LiveCacheRule, live_cache_rules
from tests.infra.conftest import ALL, plan_for
from tests.infra.stacks.layers import Layer, stack_config

RULESET = "cloudflare:index/ruleset:Ruleset"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
LAYER = Layer("potgold:edge:Edge", "edge")

NO_STORE_ERRORS = [
    {"statusCodeRange": {"from": 400, "to": 499}, "value": -1},
    {"statusCodeRange": {"from": 500, "to": 599}, "value": -1},
]
CACHE_KEY = {
    "customKey": {"queryString": {"include": {"lists": ["page", "country"]}}},
    "ignoreQueryStringsOrder": True,
}


def cache_rules(plan: Plan) -> list[dict[str, object]]:
    found = [r for r in LAYER.mine(plan, RULESET) if r.inputs["phase"] == "http_request_cache_settings"]
    assert len(found) == 1, [r.name for r in found]
    assert found[0].name == f"pog-{plan.stack}-cache-rules"  # the phase 2+ stacks' ruleset, updated in place
    return found[0].inputs["rules"]  # type: ignore[no-any-return]


def test_the_live_rules_come_first_on_the_api_hostname(plan: Plan) -> None:
    host = stack_config(plan, "apiHostname")
    live = cache_rules(plan)[:2]
    wildcard = f'http.host eq "{host}" and http.request.uri.path strict wildcard'

    assert [(r["ref"], r["expression"], r["action"], r["enabled"]) for r in live] == [
        ("live-latest", f'{wildcard} "/v1/leaderboards/*/*/live"', "set_cache_settings", True),
        ("live-immutable", f'{wildcard} "/v1/leaderboards/*/*/live/*/*"', "set_cache_settings", True),
    ]
    assert live[0]["actionParameters"] == {
        "cache": True,
        "edgeTtl": {"mode": "override_origin", "default": 30, "statusCodeTtls": NO_STORE_ERRORS},
        "browserTtl": {"mode": "respect_origin"},
        "cacheKey": CACHE_KEY,
    }
    assert live[1]["actionParameters"] == {
        "cache": True,
        "edgeTtl": {"mode": "respect_origin", "statusCodeTtls": NO_STORE_ERRORS},
        "browserTtl": {"mode": "respect_origin"},
        "cacheKey": CACHE_KEY,
    }


def test_nothing_else_on_the_api_hostname_is_cacheable(plan: Plan, stack_phase: tuple[str, int]) -> None:
    host = stack_config(plan, "apiHostname")
    rest = cache_rules(plan)[2:]

    assert [r["ref"] for r in rest] == (["assets"] if stack_phase[1] >= 2 else [])
    assert all(host not in str(r["expression"]) and r["expression"] != "true" for r in rest)


LATEST, IMMUTABLE = live_cache_rules()


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/v1/leaderboards/daily/global/live", LATEST),
        ("/v1/leaderboards/weekly/country/live", LATEST),
        ("/v1/leaderboards/daily/global/live/2025-06-01/17", IMMUTABLE),
        ("/v1/leaderboards/all_time/country/live/all/16-17", IMMUTABLE),
        ("/v1/leaderboards/daily/global", None),
        ("/v1/leaderboards/daily/global/changes", None),
        ("/v1/leaderboards/daily/global/stream", None),
        ("/v1/leaderboards/daily/global/me", None),
        ("/v1/leaderboards/daily/global/live/", None),
        ("/v1/leaderboards/daily/global/livestream", None),
        ("/V1/leaderboards/daily/global/live", None),  # case-sensitive, like the origin's routes
        ("/v1/leaderboards", None),
        ("/v1/me", None),
        ("/v1/admin/leaderboards/daily/global/live", None),
    ],
)
def test_the_paths_match_the_live_routes_only(path: str, rule: LiveCacheRule | None) -> None:
    assert [r.ref for r in live_cache_rules() if r.matches(path)] == ([rule.ref] if rule else [])


def test_the_wildcard_becomes_an_anchored_regex() -> None:
    assert LATEST.regex() == r"^/v1/leaderboards/.*/.*/live$"
    assert IMMUTABLE.regex() == r"^/v1/leaderboards/.*/.*/live/.*/.*$"
    assert LiveCacheRule("x", "x", "/a.b/*", "respect_origin", None).regex() == r"^/a\.b/.*$"


def test_the_bench_scales_the_latest_ttl_with_its_interval() -> None:
    latest, immutable = live_cache_rules(5)
    assert (latest.edge_ttl_mode, latest.edge_ttl_s) == ("override_origin", 5)
    assert (immutable.edge_ttl_mode, immutable.edge_ttl_s) == ("respect_origin", None)
    with pytest.raises(ValueError, match="interval_s must be a whole number of seconds >= 1, got 0"):
        live_cache_rules(0)


def test_the_edge_ttl_is_the_apps_publish_interval() -> None:
    """The latest document is held at the edge for the interval the origin publishes at: the app's default,
    which no stack overrides (a longer edge TTL delays every viewer; a shorter one costs origin requests)."""
    assert Settings.model_fields["leaderboard_stream_interval_s"].default == LIVE_INTERVAL_S
    overrides = {
        (stack, phase): env["value"]
        for stack, phase in ALL
        for service in plan_for(stack, phase).of_type(RUN_SERVICE)
        for container in service.inputs["template"]["containers"]
        for env in container.get("envs", [])
        if env["name"] == "POG_LEADERBOARD_STREAM_INTERVAL_S"
    }
    assert overrides == {}
