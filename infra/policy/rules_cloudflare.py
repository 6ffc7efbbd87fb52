"""Cloudflare rules: TLS mode and version, WAF managed rules, rate limits, admin allowlist, proxying,
the live boards' cache rules, and the zone-setting and rate-limit values the provider passes through
unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from infra.stacks.edge_cache import (
    LIVE_INTERVAL_S,
    NOT_CACHED_STATUS_RANGES,
    OVERRIDE_ORIGIN,
    LiveCacheRule,
    live_cache_rules,
)

from . import tokens as t
from .model import Finding, Resource, RuleContext, RuleSet, Severity, StackView
from .values import as_list, enabled, get, is_known

rules = RuleSet()

# developers.cloudflare.com/waf/managed-rules/reference/cloudflare-managed-ruleset/
CLOUDFLARE_MANAGED_RULESET_ID = "efb7b8c949ac4650a09736fc376e9aee"
# The app's paths that must be rate limited at the edge (docs/architecture.md#the-http-contract).
RATE_LIMITED_PATHS: dict[str, str] = {"webhooks": "/v1/webhooks", "admin": "/v1/admin"}
ADMIN_PATH = "/v1/admin"
MIN_TLS = "1.2"

_ON_OFF = frozenset({"on", "off"})
# Zone setting id -> accepted values (None: a positive whole number of seconds or bytes).
ZONE_SETTING_VALUES: dict[str, frozenset[str] | None] = {
    "ssl": frozenset({"off", "flexible", "full", "strict", "origin_pull"}),
    "min_tls_version": frozenset({"1.0", "1.1", "1.2", "1.3"}),
    "tls_1_3": frozenset({"on", "off", "zrt"}),
    "security_level": frozenset({"off", "essentially_off", "low", "medium", "high", "under_attack"}),
    "cache_level": frozenset({"aggressive", "basic", "simplified"}),
    "polish": frozenset({"off", "lossless", "lossy"}),
    "browser_cache_ttl": None,
    "challenge_ttl": None,
    "max_upload": None,
    **dict.fromkeys(
        (
            "always_use_https", "automatic_https_rewrites", "brotli", "opportunistic_encryption", "http3",
            "0rtt", "ipv6", "websockets", "browser_check", "development_mode", "early_hints",
            "email_obfuscation", "hotlink_protection", "ip_geolocation", "rocket_loader",
            "server_side_exclude", "tls_client_auth", "always_online", "opportunistic_onion", "webp",
        ),
        _ON_OFF,
    ),
}  # fmt: skip

RATELIMIT_PERIODS = frozenset({10, 60, 120, 300, 600, 3600})
MITIGATION_TIMEOUTS = frozenset({0, 10, 60, 120, 300, 600, 3600, 86400})
COLO_CHARACTERISTIC = "cf.colo.id"


@rules.resource(
    "POG-CF-005",
    Severity.HIGH,
    "Zone settings name a known setting and one of its values",
    "Use a setting id and value from Cloudflare's zone settings reference (values listed in the message).",
    types=[t.CF_ZONE_SETTING],
)
def zone_setting_values(r: Resource, ctx: RuleContext) -> Iterator[str]:
    setting, value = r.props.get("settingId"), r.props.get("value")
    if not is_known(setting) or not is_known(value):
        return
    if setting not in ZONE_SETTING_VALUES:
        yield f"settingId {setting!r} is not a zone setting this pack knows (typo?)"
        return
    allowed = ZONE_SETTING_VALUES[str(setting)]
    if allowed is None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            yield f"{setting} takes a positive number; got {value!r}"
    elif value not in allowed:
        yield f"{setting} is {value!r}; expected one of {', '.join(sorted(allowed))}"


@rules.resource(
    "POG-CF-006",
    Severity.HIGH,
    "Rate-limit rules use periods and timeouts Cloudflare accepts, counted per data centre",
    "Use a period of 10, 60, 120, 300, 600 or 3600 s, a mitigation timeout Cloudflare lists, and"
    " characteristics that include cf.colo.id.",
    types=[t.CF_RULESET],
)
def ratelimit_values(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.props.get("phase") != "http_ratelimit":
        return
    for index, rule in enumerate(as_list(r.props.get("rules"))):
        if not isinstance(rule, dict):
            continue
        where = f"rules[{index}] ({rule.get('ref', rule.get('description', '?'))})"
        limit = rule.get("ratelimit")
        if not isinstance(limit, dict):
            yield f"{where} has no ratelimit block"
            continue
        period, timeout = limit.get("period"), limit.get("mitigationTimeout")
        if is_known(period) and period not in RATELIMIT_PERIODS:
            yield f"{where} period {period!r}; expected one of {sorted(RATELIMIT_PERIODS)}"
        if timeout is not None and is_known(timeout) and timeout not in MITIGATION_TIMEOUTS:
            yield f"{where} mitigationTimeout {timeout!r}; expected one of {sorted(MITIGATION_TIMEOUTS)}"
        requests = limit.get("requestsPerPeriod")
        if is_known(requests) and (
            not isinstance(requests, int) or isinstance(requests, bool) or requests < 1
        ):
            yield f"{where} requestsPerPeriod {requests!r} is not a positive whole number"
        characteristics = limit.get("characteristics")
        if is_known(characteristics) and COLO_CHARACTERISTIC not in as_list(characteristics):
            yield f"{where} characteristics lack {COLO_CHARACTERISTIC} (mandatory: counted per data centre)"


@rules.resource(
    "POG-CF-008",
    Severity.HIGH,
    "Address records are proxied through Cloudflare",
    "Set proxied=True (ttl=1) so the origin address is hidden and the WAF and rate limits apply.",
    types=[t.CF_DNS_RECORD],
)
def dns_proxied(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.props.get("type") in ("A", "AAAA") and not enabled(r.props.get("proxied")):
        record = f"{r.props.get('type')} record {r.props.get('name')!r}"
        yield f"{record} is not proxied: it publishes the origin address"


# --- stack rules: what each zone must have --------------------------------------------------------


def _zones(stack: StackView) -> list[str]:
    zones = {
        str(r.props["zoneId"])
        for r in stack.resources
        if r.type.startswith("cloudflare:") and is_known(r.props.get("zoneId")) and r.props.get("zoneId")
    }
    return sorted(zones)


def _in_zone(stack: StackView, zone: str, type_: str) -> list[Resource]:
    return [r for r in stack.of_type(type_) if r.props.get("zoneId") == zone]


def _setting(stack: StackView, zone: str, setting: str) -> Resource | None:
    for r in _in_zone(stack, zone, t.CF_ZONE_SETTING):
        if r.props.get("settingId") == setting:
            return r
    return None


def _enabled_rules(ruleset: Resource) -> list[dict[str, Any]]:
    return [
        rule
        for rule in as_list(ruleset.props.get("rules"))
        if isinstance(rule, dict) and rule.get("enabled", True) is not False
    ]


def _rulesets(stack: StackView, zone: str, phase: str) -> list[Resource]:
    return [r for r in _in_zone(stack, zone, t.CF_RULESET) if r.props.get("phase") == phase]


@rules.stack(
    "POG-CF-001",
    Severity.HIGH,
    "Every zone uses SSL mode Full (strict)",
    "Declare ZoneSetting(setting_id='ssl', value='strict') for the zone (edge.py ZONE_SETTINGS).",
)
def ssl_strict(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    for zone in _zones(stack):
        setting = _setting(stack, zone, "ssl")
        if setting is None:
            yield Finding(
                f"zone {zone} declares no ssl setting: the dashboard's mode may not validate the origin"
            )
        elif is_known(setting.props.get("value")) and setting.props.get("value") != "strict":
            yield Finding(
                f"ssl is {setting.props.get('value')!r}: Cloudflare does not validate the origin certificate",
                setting.key,
            )


def _version(value: Any) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return (0,)


@rules.stack(
    "POG-CF-002",
    Severity.HIGH,
    f"Every zone accepts TLS {MIN_TLS} or newer only",
    f"Declare ZoneSetting(setting_id='min_tls_version', value='{MIN_TLS}') for the zone.",
)
def min_tls(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    for zone in _zones(stack):
        setting = _setting(stack, zone, "min_tls_version")
        if setting is None:
            yield Finding(f"zone {zone} declares no min_tls_version: Cloudflare's default accepts TLS 1.0")
        elif is_known(setting.props.get("value")) and _version(setting.props.get("value")) < _version(
            MIN_TLS
        ):
            yield Finding(f"min_tls_version is {setting.props.get('value')!r}, below {MIN_TLS}", setting.key)


@rules.stack(
    "POG-CF-003",
    Severity.HIGH,
    "Every zone runs the Cloudflare Managed Ruleset on all traffic",
    "Declare a zone Ruleset in phase http_request_firewall_managed that executes the Cloudflare Managed"
    f" Ruleset ({CLOUDFLARE_MANAGED_RULESET_ID}) with expression 'true'.",
)
def waf_managed(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    for zone in _zones(stack):
        executed = [
            rule
            for ruleset in _rulesets(stack, zone, "http_request_firewall_managed")
            for rule in _enabled_rules(ruleset)
            if rule.get("action") == "execute"
            and get(rule, "actionParameters.id") == CLOUDFLARE_MANAGED_RULESET_ID
        ]
        if not executed:
            yield Finding(f"zone {zone} does not execute the Cloudflare Managed Ruleset")
        elif not any(rule.get("expression") == "true" for rule in executed):
            yield Finding(f"zone {zone} runs the Cloudflare Managed Ruleset on part of the traffic only")


_AUTH_FAILURE = re.compile(r"http\.response\.code\b.*\b401\b")


@rules.stack(
    "POG-CF-004",
    Severity.HIGH,
    "Webhook and admin paths, and authentication failures, are rate limited at the edge",
    "Add rules to the zone's http_ratelimit Ruleset for "
    + ", ".join(RATE_LIMITED_PATHS.values())
    + " and one counting 401/403 answers (edge.py RATE_LIMITS).",
)
def rate_limits(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    for zone in _zones(stack):
        limits = [rule for r in _rulesets(stack, zone, "http_ratelimit") for rule in _enabled_rules(r)]
        expressions = [str(rule.get("expression", "")) for rule in limits]
        for what, path in RATE_LIMITED_PATHS.items():
            if not any(path in expression for expression in expressions):
                yield Finding(f"zone {zone} has no rate limit on {path} ({what})")
        counted = [str(get(rule, "ratelimit.countingExpression") or "") for rule in limits]
        if not any(_AUTH_FAILURE.search(text) for text in counted + expressions):
            yield Finding(f"zone {zone} has no rate limit on authentication failures (401/403 answers)")


@rules.stack(
    "POG-CF-007",
    Severity.HIGH,
    f"{ADMIN_PATH} is blocked at the edge except from the admin IP allowlist",
    "Add a block rule to the zone's http_request_firewall_custom Ruleset:"
    f' starts_with(lower(http.request.uri.path), "{ADMIN_PATH}") and not ip.src in {{<allowlist>}}.',
)
def admin_allowlist(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    for zone in _zones(stack):
        blocks = [
            str(rule.get("expression", ""))
            for r in _rulesets(stack, zone, "http_request_firewall_custom")
            for rule in _enabled_rules(r)
            if rule.get("action") == "block" and ADMIN_PATH in str(rule.get("expression", ""))
        ]
        allowlisted = [b for b in blocks if "not ip.src in" in b]
        if not allowlisted:
            yield Finding(f"zone {zone} does not restrict {ADMIN_PATH} to an IP allowlist")
        for expression in allowlisted:
            if re.search(r"(^|[\s{])(0\.0\.0\.0/0|::/0)([\s}]|$)", expression):
                yield Finding(f"zone {zone}: the {ADMIN_PATH} allowlist includes every address")


# --- the live boards' cache rules (infra/stacks/edge_cache.py) -------------------------------------

_HOST = re.compile(r'http\.host eq "([^"]+)"')


def _wildcard(live: LiveCacheRule) -> str:
    return f'strict wildcard "{live.path}"'


def _cached_errors(rule: dict[str, Any]) -> list[str]:
    """The error ranges (of NOT_CACHED_STATUS_RANGES) the rule's status code TTLs do not keep out of the
    cache: each code needs a TTL of -1 (no-store) or 0 (revalidated every time)."""
    ttls = get(rule, "actionParameters.edgeTtl.statusCodeTtls")
    if not is_known(ttls):
        return []
    uncached: set[int] = set()
    for ttl in as_list(ttls):
        if not isinstance(ttl, dict) or not isinstance(ttl.get("value"), int) or ttl["value"] > 0:
            continue
        if isinstance(ttl.get("statusCode"), int):
            uncached.add(ttl["statusCode"])
        if isinstance(span := ttl.get("statusCodeRange"), dict):
            uncached.update(range(int(span.get("from", 100)), int(span.get("to", 599)) + 1))
    return [
        f"{low}-{high}" for low, high in NOT_CACHED_STATUS_RANGES if not set(range(low, high + 1)) <= uncached
    ]


def _live_rule_problems(live: LiveCacheRule, rule: dict[str, Any]) -> Iterator[str]:
    where = f"cache rule {rule.get('ref', live.ref)!r} ({live.path})"
    mode, ttl = get(rule, "actionParameters.edgeTtl.mode"), get(rule, "actionParameters.edgeTtl.default")
    if live.edge_ttl_mode == OVERRIDE_ORIGIN and is_known(mode):
        if mode != OVERRIDE_ORIGIN:
            yield (
                f"{where} edge TTL mode is {mode!r}: the edge keeps the latest document as long as the"
                f" origin says; override it to at most the publish interval ({LIVE_INTERVAL_S} s)"
            )
        elif is_known(ttl) and (
            not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= LIVE_INTERVAL_S
        ):
            yield (
                f"{where} edge TTL is {ttl!r} s, not 1 to {LIVE_INTERVAL_S} (the publish interval):"
                " viewers would see a publish late by that much"
            )
    if errors := _cached_errors(rule):
        yield (
            f"{where} may cache error answers ({', '.join(errors)}): a 404 for a version not published"
            " yet would outlive the publish; give them a status code TTL of -1 (no-store)"
        )
    if dropped := _dropped_query_keys(live, get(rule, "actionParameters.cacheKey.customKey.queryString")):
        yield (
            f"{where} leaves {', '.join(dropped)} out of the cache key: different pages or countries would"
            " share one cached answer"
        )


def _dropped_query_keys(live: LiveCacheRule, query: Any) -> list[str]:
    """The live routes' query parameters a cache key's query-string settings leave out (none set: the
    whole query string is in the key)."""
    if not isinstance(query, dict):
        return []
    included, excluded = query.get("include") or {}, query.get("exclude") or {}
    if excluded.get("all") is True:
        return list(live.query_keys)
    dropped = [key for key in live.query_keys if key in as_list(excluded.get("lists"))]
    if included and included.get("all") is not True:
        dropped += [key for key in live.query_keys if key not in as_list(included.get("lists"))]
    return sorted(set(dropped), key=live.query_keys.index)


@rules.stack(
    "POG-CF-009",
    Severity.HIGH,
    "The live boards are cached at the edge: latest for at most one publish interval, errors never, nothing"
    " else on the API hostname",
    "Declare infra/stacks/edge_cache.py's live_cache_rules() first in the zone's http_request_cache_settings"
    " Ruleset (edge.py _cache_rules): cache=True, the latest document's edge TTL override_origin at most the"
    f" interval ({LIVE_INTERVAL_S} s), status code TTLs -1 for 400-599, page and country in the cache key;"
    " and no other cacheable rule on the API hostname.",
)
def live_board_caching(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    for zone in _zones(stack):
        cacheable = [
            rule
            for ruleset in _rulesets(stack, zone, "http_request_cache_settings")
            for rule in _enabled_rules(ruleset)
            if rule.get("action") == "set_cache_settings" and enabled(get(rule, "actionParameters.cache"))
        ]
        live_hosts: set[str] = set()
        for live in live_cache_rules():
            found = [rule for rule in cacheable if _wildcard(live) in str(rule.get("expression", ""))]
            if not found:
                yield Finding(
                    f"zone {zone} has no cache rule for {live.path} ({live.ref}): every viewer's request"
                    " reaches the origin"
                )
            for rule in found:
                live_hosts.update(_HOST.findall(str(rule.get("expression", ""))))
                for problem in _live_rule_problems(live, rule):
                    yield Finding(f"zone {zone}: {problem}")
        live_markers = [_wildcard(live) for live in live_cache_rules()]
        for rule in cacheable:
            expression = str(rule.get("expression", ""))
            if any(marker in expression for marker in live_markers):
                continue
            hosts = set(_HOST.findall(expression)) & live_hosts
            if hosts or expression == "true":
                yield Finding(
                    f"zone {zone}: cache rule {rule.get('ref', rule.get('description', '?'))!r} makes more"
                    f" than the live boards cacheable on {', '.join(sorted(hosts)) or 'every hostname'}"
                )
