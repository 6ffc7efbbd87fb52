"""DDoS protection and security headers: Cloudflare's HTTP DDoS managed ruleset configured explicitly, the
security headers set at the edge on the API hostname, Cloud Armor Adaptive Protection where the phase
profile asks for it (docs/stacks.md#ddos-protection-and-security-headers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from . import tokens as t
from .model import Finding, Resource, RuleContext, RuleSet, Severity, StackView
from .rules_cloudflare import _enabled_rules, _in_zone, _rulesets, _zones
from .values import enabled, get, is_known

rules = RuleSet()

# developers.cloudflare.com/ddos-protection/managed-rulesets/http/
HTTP_DDOS_RULESET_ID = "4d21379b4f9f4bb088e0729962c8b3cf"
DDOS_SENSITIVITIES = frozenset({"default", "medium", "low", "eoff"})
DDOS_ACTIONS = frozenset({"block", "managed_challenge", "challenge", "js_challenge", "log"})
ADAPTIVE_RULE_VISIBILITIES = frozenset({"STANDARD", "PREMIUM"})
HSTS_MIN_AGE_S = 31_536_000  # a year
_MAX_AGE = re.compile(r"max-age=(\d+)")


def _header_problems(headers: dict[str, Any]) -> list[str]:
    """What the edge's header rule lacks: each required header, set, with a value that protects."""
    values = {
        str(name).lower(): spec.get("value")
        for name, spec in headers.items()
        if isinstance(spec, dict) and spec.get("operation") == "set"
    }
    problems = []
    csp = str(values.get("content-security-policy") or "")
    if "frame-ancestors 'none'" not in csp:
        problems.append("Content-Security-Policy with frame-ancestors 'none'")
    if values.get("x-content-type-options") != "nosniff":
        problems.append("X-Content-Type-Options: nosniff")
    if str(values.get("x-frame-options") or "").upper() != "DENY":
        problems.append("X-Frame-Options: DENY")
    age = _MAX_AGE.search(str(values.get("strict-transport-security") or ""))
    if age is None or int(age.group(1)) < HSTS_MIN_AGE_S:
        problems.append(f"Strict-Transport-Security with max-age >= {HSTS_MIN_AGE_S}")
    if not values.get("referrer-policy"):
        problems.append("Referrer-Policy")
    return problems


@rules.stack(
    "POG-DDOS-001",
    Severity.HIGH,
    "Every zone configures the HTTP DDoS managed ruleset explicitly, at the profile's sensitivity",
    "Declare a zone Ruleset in phase ddos_l7 executing the HTTP DDoS Attack Protection managed ruleset"
    f" ({HTTP_DDOS_RULESET_ID}) with expression 'true' and overrides action and sensitivity_level"
    " (edge.py _ddos_protection; the sensitivity comes from PhaseProfile.edge_ddos_sensitivity).",
)
def http_ddos(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    profile = ctx.profile
    for zone in _zones(stack):
        executed = [
            rule
            for ruleset in _rulesets(stack, zone, "ddos_l7")
            for rule in _enabled_rules(ruleset)
            if rule.get("action") == "execute" and get(rule, "actionParameters.id") == HTTP_DDOS_RULESET_ID
        ]
        if not executed:
            yield Finding(f"zone {zone} leaves the HTTP DDoS managed ruleset at settings no plan shows")
            continue
        for rule in executed:
            where = f"zone {zone} ddos_l7 rule {rule.get('ref', rule.get('description', '?'))!r}"
            if rule.get("expression") != "true":
                yield Finding(f"{where} applies its overrides to part of the traffic only")
            action = get(rule, "actionParameters.overrides.action")
            level = get(rule, "actionParameters.overrides.sensitivityLevel")
            if action not in DDOS_ACTIONS:
                yield Finding(f"{where} action {action!r}; expected one of {sorted(DDOS_ACTIONS)}")
            if level not in DDOS_SENSITIVITIES:
                yield Finding(f"{where} sensitivity {level!r}; expected one of {sorted(DDOS_SENSITIVITIES)}")
            elif profile is not None and level != profile.edge_ddos_sensitivity:
                yield Finding(
                    f"{where} sensitivity is {level!r}; {ctx.environment} phase {ctx.phase} asks for"
                    f" {profile.edge_ddos_sensitivity!r}"
                )


@rules.stack(
    "POG-DDOS-002",
    Severity.MEDIUM,
    "Every proxied hostname's responses get the security headers at the edge",
    "Declare a zone Ruleset in phase http_response_headers_transform with a rewrite rule on the API"
    " hostname setting Content-Security-Policy, X-Content-Type-Options, Strict-Transport-Security,"
    " Referrer-Policy and X-Frame-Options (edge.py SECURITY_HEADERS).",
)
def edge_security_headers(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    for zone in _zones(stack):
        hosts = [
            str(r.props.get("name"))
            for r in _in_zone(stack, zone, t.CF_DNS_RECORD)
            if r.props.get("type") in ("A", "AAAA") and enabled(r.props.get("proxied"))
        ]
        if not hosts:
            continue
        rewrites = [
            rule
            for ruleset in _rulesets(stack, zone, "http_response_headers_transform")
            for rule in _enabled_rules(ruleset)
            if rule.get("action") == "rewrite"
        ]
        covering = [
            rule
            for rule in rewrites
            if rule.get("expression") == "true"
            or any(f'http.host eq "{host}"' in str(rule.get("expression", "")) for host in hosts)
        ]
        if not covering:
            yield Finding(f"zone {zone}: no response-header rule covers {', '.join(sorted(hosts))}")
        for rule in covering:
            headers = get(rule, "actionParameters.headers")
            if not is_known(headers):
                continue
            missing = _header_problems(headers if isinstance(headers, dict) else {})
            if missing:
                yield Finding(f"zone {zone}: the response-header rule does not set {'; '.join(missing)}")


@rules.resource(
    "POG-DDOS-003",
    Severity.MEDIUM,
    "Cloud Armor Adaptive Protection guards the API backends where the phase profile asks for it",
    "Set adaptive_protection_config.layer7_ddos_defense_config(enable=True, rule_visibility='STANDARD')"
    " on the API's security policy (compute/armor.py; PhaseProfile.armor_adaptive_protection).",
    types=[t.SECURITY_POLICY],
)
def adaptive_protection(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.props.get("type") == "CLOUD_ARMOR_EDGE":
        return  # edge policies (backend buckets) have no Adaptive Protection
    config = get(r.props, "adaptiveProtectionConfig.layer7DdosDefenseConfig")
    if not is_known(config):
        return
    visibility = get(r.props, "adaptiveProtectionConfig.layer7DdosDefenseConfig.ruleVisibility")
    if visibility is not None and visibility not in ADAPTIVE_RULE_VISIBILITIES:
        yield f"ruleVisibility {visibility!r}; expected one of {sorted(ADAPTIVE_RULE_VISIBILITIES)}"
    profile = ctx.profile
    wanted = profile.armor_adaptive_protection if profile is not None else ctx.is_prod
    if wanted and not (isinstance(config, dict) and enabled(config.get("enable"))):
        yield (
            f"Adaptive Protection is off, but {ctx.environment} phase {ctx.phase} asks for it: an L7 flood"
            " that passes Cloudflare reaches the API unnoticed"
        )
