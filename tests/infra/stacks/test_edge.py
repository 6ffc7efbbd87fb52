"""Edge layer: Cloudflare DNS, TLS settings, WAF, admin allowlist, rate limits, asset caching (phase 2+).

The live boards' cache rules, in the same ruleset in every phase: test_edge_cache.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.core.security_headers import API_HEADERS
from infra.plan.engine import Plan, PlannedResource
from infra.plan.stackfile import load_stack
from infra.stacks.edge import (
    CLOUDFLARE_MANAGED_RULESET_ID,
    HTTP_DDOS_RULESET_ID,
    OWASP_CORE_RULESET_ID,
    SECURITY_HEADERS,
    admin_block_expression,
)
from tests.infra.conftest import plan_for
from tests.infra.stacks.layers import Layer, prefix

DNS = "cloudflare:index/dnsRecord:DnsRecord"
SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
RULESET = "cloudflare:index/ruleset:Ruleset"
TIERED = "cloudflare:index/tieredCache:TieredCache"
ARGO_TIERED = "cloudflare:index/argoTieredCaching:ArgoTieredCaching"
DNS_AUTHORIZATION = "gcp:certificatemanager/dnsAuthorization:DnsAuthorization"
CERT_MAP_ENTRY = "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry"

LAYER = Layer("potgold:edge:Edge", "edge")
children = LAYER.children
mine = LAYER.mine


def config(plan: Plan, key: str) -> str:
    return load_stack(plan.stack).config[f"pot-of-gold:{key}"]


def ruleset(plan: Plan, phase: str) -> PlannedResource:
    found = [r for r in mine(plan, RULESET) if r.inputs["phase"] == phase]
    assert len(found) == 1, f"expected one {phase} ruleset, got {[r.name for r in found]}"
    return found[0]


def test_children_use_the_cloudflare_provider_of_the_stack(plan: Plan) -> None:
    assert children(plan)
    for r in children(plan):
        assert r.name.startswith(f"{prefix(plan)}-"), r.name
        assert r.provider == f"pulumi:providers:cloudflare::{prefix(plan)}-cloudflare", r.name
        assert r.inputs["zoneId"] == config(plan, "cloudflareZoneId")


def test_tls_is_strict_with_tls_1_2_minimum(plan: Plan, stack_phase: tuple[str, int]) -> None:
    settings = {r.inputs["settingId"]: r.inputs["value"] for r in mine(plan, SETTING)}
    # Phase 2+ serves assets: Polish converts their images to WebP for clients that accept it.
    webp = {"webp": "on"} if stack_phase[1] >= 2 else {}
    assert settings == {
        "ssl": "strict",
        "min_tls_version": "1.2",
        "tls_1_3": "on",
        "always_use_https": "on",
        "automatic_https_rewrites": "on",
        "brotli": "on",
        **webp,
    }


def test_api_hostname_is_proxied_to_the_load_balancer(plan: Plan) -> None:
    api = [r for r in mine(plan, DNS) if r.inputs["name"] == config(plan, "apiHostname")]
    assert len(api) == 1
    assert api[0].inputs["type"] == "A"
    assert api[0].inputs["proxied"] is True
    assert api[0].inputs["content"] == plan.outputs["loadBalancerAddress"]


def test_every_dns_authorization_is_published_unproxied(plan: Plan) -> None:
    authorizations = plan.of_type(DNS_AUTHORIZATION)
    assert authorizations
    cnames = [r for r in mine(plan, DNS) if r.inputs["type"] == "CNAME"]
    assert len(cnames) == len(authorizations)
    domains = {a.inputs["domain"] for a in authorizations}
    for record in cnames:
        assert record.inputs["proxied"] is False
        assert record.inputs["name"].removeprefix("_acme-challenge.") in domains
        assert not record.inputs["name"].endswith(".")
        assert record.inputs["content"].endswith(".authorize.certificatemanager.goog")


def test_managed_waf_runs_cloudflare_and_owasp_rulesets(plan: Plan) -> None:
    managed = ruleset(plan, "http_request_firewall_managed")
    assert managed.inputs["kind"] == "zone"
    executed = {
        rule["actionParameters"]["id"]
        for rule in managed.inputs["rules"]
        if rule["action"] == "execute" and rule["expression"] == "true" and rule["enabled"]
    }
    assert executed == {CLOUDFLARE_MANAGED_RULESET_ID, OWASP_CORE_RULESET_ID}


def test_admin_paths_are_blocked_outside_the_allowlist(plan: Plan) -> None:
    custom = ruleset(plan, "http_request_firewall_custom")
    rules = [r for r in custom.inputs["rules"] if "/v1/admin" in r["expression"]]
    assert len(rules) == 1
    rule = rules[0]
    assert rule["action"] == "block"
    assert "not ip.src in {" in rule["expression"]
    allowlist = json.loads(config(plan, "adminIpAllowlist"))
    assert allowlist
    for cidr in allowlist:
        assert cidr in rule["expression"]


def test_admin_block_expression_without_allowlist_blocks_everyone() -> None:
    assert "ip.src" not in admin_block_expression(())
    expression = admin_block_expression(("198.51.100.0/28", "2001:db8::/48"))
    assert expression.endswith("not ip.src in {198.51.100.0/28 2001:db8::/48}")
    assert "lower(http.request.uri.path)" in expression


def test_rate_limits_on_webhooks_admin_and_auth_failures(plan: Plan) -> None:
    rules = ruleset(plan, "http_ratelimit").inputs["rules"]
    assert len(rules) == 3
    for rule in rules:
        limit = rule["ratelimit"]
        assert "cf.colo.id" in limit["characteristics"]
        assert "ip.src" in limit["characteristics"]
        assert limit["period"] > 0
        assert limit["requestsPerPeriod"] > 0
        assert rule["action"] == "block"
        assert rule["actionParameters"]["response"]["statusCode"] == 429
    by_path = {path: [r for r in rules if path in r["expression"]] for path in ("/v1/webhooks/", "/v1/admin")}
    assert all(len(found) == 1 for found in by_path.values()), by_path
    counting = [r for r in rules if r["ratelimit"].get("countingExpression")]
    assert len(counting) == 1
    assert "http.response.code in {401 403}" in counting[0]["ratelimit"]["countingExpression"]


def assets_rule(plan: Plan) -> dict[str, Any]:
    """The assets hostname's rule: last in the zone's cache-settings ruleset, after the live boards'."""
    rules = ruleset(plan, "http_request_cache_settings").inputs["rules"]
    assert rules[-1]["ref"] == "assets", [r["ref"] for r in rules]
    return rules[-1]  # type: ignore[no-any-return]


def test_one_ruleset_per_zone_phase(plan: Plan) -> None:
    phases = [r.inputs["phase"] for r in mine(plan, RULESET)]
    assert len(phases) == len(set(phases))


def test_asset_caching_only_from_phase_2(plan: Plan, stack_phase: tuple[str, int]) -> None:
    phase = stack_phase[1]
    cache_refs = [r["ref"] for r in ruleset(plan, "http_request_cache_settings").inputs["rules"]]
    tiered, argo = mine(plan, TIERED), mine(plan, ARGO_TIERED)
    assets_records = [r for r in mine(plan, DNS) if r.inputs["name"].startswith("assets.")]
    if phase == 1:
        assert "assets" not in cache_refs
        assert not tiered
        assert not argo
        assert not assets_records
        return
    assert len(assets_records) == 1
    assets_host = assets_records[0].inputs["name"]
    assert assets_records[0].inputs["proxied"] is True
    assert assets_records[0].inputs["content"] == plan.outputs["loadBalancerAddress"]
    rule = assets_rule(plan)
    assert rule["expression"] == f'http.host eq "{assets_host}"'
    assert rule["action"] == "set_cache_settings"
    parameters = rule["actionParameters"]
    assert parameters["cache"] is True
    assert parameters["edgeTtl"]["mode"] == "override_origin"
    assert parameters["edgeTtl"]["default"] > 0
    assert parameters["browserTtl"]["mode"] == "override_origin"
    assert parameters["browserTtl"]["default"] > 0
    assert [r.inputs["value"] for r in argo] == ["on"]
    assert [r.inputs["value"] for r in tiered] == ["on"]
    assert argo[0].key in tiered[0].depends_on


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_images_on_the_assets_hostname_are_polished_to_webp(stack: str) -> None:
    """The architecture serves WebP: Polish recompresses images at the edge, only on the assets host."""
    plan = plan_for(stack, 2)
    [rule] = ruleset(plan, "http_config_settings").inputs["rules"]
    assert rule["expression"] == assets_rule(plan)["expression"]
    assert rule["action"] == "set_config"
    assert rule["actionParameters"] == {"polish": "lossy"}
    assert {r.inputs["settingId"]: r.inputs["value"] for r in mine(plan, SETTING)}["webp"] == "on"
    assert not [r for r in mine(plan_for(stack, 1), RULESET) if r.inputs["phase"] == "http_config_settings"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cache_rules_target_the_assets_hostname_the_load_balancer_serves(stack: str) -> None:
    plan = plan_for(stack, 2)
    served = {r.inputs["hostname"] for r in plan.of_type(CERT_MAP_ENTRY)}
    expression = assets_rule(plan)["expression"]
    assert expression.removeprefix("http.host eq ").strip('"') in served - {config(plan, "apiHostname")}


def test_the_http_ddos_ruleset_runs_on_everything_at_the_profile_sensitivity(
    plan: Plan, stack_phase: tuple[str, int]
) -> None:
    """Failed before issue 18: no ddos_l7 ruleset, so its sensitivity and action were whatever the
    dashboard said."""
    ddos = ruleset(plan, "ddos_l7")
    assert [
        (r["expression"], r["action"], r["actionParameters"]["id"], r["actionParameters"]["overrides"])
        for r in ddos.inputs["rules"]
    ] == [
        (
            "true",
            "execute",
            HTTP_DDOS_RULESET_ID,
            {"action": "block", "sensitivityLevel": "default" if stack_phase[0] == "prod" else "medium"},
        )
    ]


def test_the_api_hostname_gets_the_apps_security_headers_at_the_edge(plan: Plan) -> None:
    """Failed before issue 18: neither the app nor the edge set them."""
    rules = ruleset(plan, "http_response_headers_transform").inputs["rules"]
    assert len(rules) == 1
    host = config(plan, "apiHostname")
    docs_excluded = ' and not starts_with(http.request.uri.path, "/docs")' if plan.stack != "prod" else ""
    assert rules[0]["expression"] == f'http.host eq "{host}"{docs_excluded}'
    assert rules[0]["action"] == "rewrite"
    set_headers = {name: h["value"] for name, h in rules[0]["actionParameters"]["headers"].items()}
    assert {h["operation"] for h in rules[0]["actionParameters"]["headers"].values()} == {"set"}
    # The edge and the app set the same headers with the same values.
    assert set_headers == SECURITY_HEADERS == API_HEADERS
