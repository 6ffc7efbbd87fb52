"""Edge: Cloudflare DNS, TLS, WAF, rate limits, admin allowlist, the live boards' cache rules, asset caching
(phase 2+)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_gcp as gcp

from infra.phases import PhaseProfile
from infra.stacks.common import child
from infra.stacks.edge_cache import NOT_CACHED_STATUS_RANGES, OVERRIDE_ORIGIN, LiveCacheRule, live_cache_rules

# Ruleset ids of Cloudflare's WAF managed rulesets (developers.cloudflare.com/waf/managed-rules/).
CLOUDFLARE_MANAGED_RULESET_ID = "efb7b8c949ac4650a09736fc376e9aee"
OWASP_CORE_RULESET_ID = "4814384a9e5d4991b9815dcfc25d2f1f"

ZONE_SETTINGS: dict[str, str] = {
    "ssl": "strict",  # Full (strict): the origin certificate is validated
    "min_tls_version": "1.2",
    "tls_1_3": "on",
    "always_use_https": "on",
    "automatic_https_rewrites": "on",
    "brotli": "on",
}

# Cloudflare's HTTP DDoS Attack Protection managed ruleset (developers.cloudflare.com/ddos-protection/
# managed-rulesets/http/): always on; executing it in the zone's ddos_l7 phase makes its overrides explicit.
HTTP_DDOS_RULESET_ID = "4d21379b4f9f4bb088e0729962c8b3cf"
# Game clients are apps, not browsers: a challenge is a block they cannot solve, so block outright.
DDOS_ACTION = "block"
# The API's security headers (the app's app/core/security_headers.py sets the same; a test compares), set
# at the edge too so what Cloudflare answers itself (cached responses, its own errors) carries them.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Served outside prod only, with the looser policy Swagger UI needs, which the app sets itself.
DOCS_PATH = "/docs"

ADMIN_PATH = "/v1/admin"
WEBHOOK_PATH = "/v1/webhooks/"
API_PATH = "/v1/"
# Counters are kept per Cloudflare data centre (cf.colo.id is mandatory) and per client IP.
RATE_LIMIT_CHARACTERISTICS: tuple[str, ...] = ("cf.colo.id", "ip.src")
#: Polish mode of the assets hostname (Cloudflare Configuration Rules: off, lossless or lossy).
ASSETS_POLISH = "lossy"
ASSETS_EDGE_TTL_SECONDS = 7 * 86_400
ASSETS_BROWSER_TTL_SECONDS = 86_400


@dataclass(frozen=True)
class RateLimit:
    ref: str
    description: str
    expression: str
    requests_per_period: int
    period: int
    mitigation_timeout: int
    counting_expression: str | None = None


RATE_LIMITS: tuple[RateLimit, ...] = (
    RateLimit(
        ref="webhooks",
        description="Payment webhooks: RevenueCat and Stripe retry, so a burst beyond this is abuse",
        expression=f'starts_with(http.request.uri.path, "{WEBHOOK_PATH}")',
        requests_per_period=600,
        period=60,
        mitigation_timeout=60,
    ),
    RateLimit(
        ref="admin",
        description="Admin API: a handful of operators",
        expression=f'starts_with(http.request.uri.path, "{ADMIN_PATH}")',
        requests_per_period=60,
        period=60,
        mitigation_timeout=600,
    ),
    RateLimit(
        ref="auth-failures",
        description="Credential stuffing: too many 401/403 answers to one client",
        expression=f'starts_with(http.request.uri.path, "{API_PATH}")',
        counting_expression=(
            f'starts_with(http.request.uri.path, "{API_PATH}") and http.response.code in {{401 403}}'
        ),
        requests_per_period=20,
        period=60,
        mitigation_timeout=600,
    ),
)

# The app's error shape, so clients handle an edge rejection like an API one.
_RATE_LIMITED_BODY = json.dumps(
    {"error": {"code": "rate_limited", "message": "Too many requests; retry later"}}
)
_FORBIDDEN_BODY = json.dumps({"error": {"code": "forbidden", "message": "Admin access is restricted"}})


@dataclass
class EdgeArgs:
    prefix: str
    zone_id: str
    account_id: str
    domain: str
    api_hostname: str
    origin_address: pulumi.Input[str]
    admin_ip_allowlist: tuple[str, ...]
    dns_authorizations: list[gcp.certificatemanager.DnsAuthorization]
    assets_hostname: str | None
    profile: PhaseProfile


def admin_block_expression(allowlist: tuple[str, ...]) -> str:
    """Requests to the admin API from anywhere but the allowlisted CIDRs."""
    # Lower-cased so /V1/Admin cannot slip past; Cloud Armor at the origin checks the same paths.
    admin = f'starts_with(lower(http.request.uri.path), "{ADMIN_PATH}")'
    if not allowlist:
        return admin
    return f"{admin} and not ip.src in {{{' '.join(allowlist)}}}"


class Edge(pulumi.ComponentResource):
    """Public attributes:

    api_record: cloudflare.DnsRecord
    validation_records: list[cloudflare.DnsRecord]     Certificate Manager DNS authorizations
    assets_record: cloudflare.DnsRecord | None         phase 2+
    zone_settings: dict[str, cloudflare.ZoneSetting]   keyed by setting id
    waf_managed, waf_custom, rate_limits: cloudflare.Ruleset
    ddos: cloudflare.Ruleset                           the HTTP DDoS managed ruleset's overrides
    response_headers: cloudflare.Ruleset               security headers on the API hostname
    cache_rules: cloudflare.Ruleset                    live boards on the API hostname; assets (phase 2+)
    image_rules: cloudflare.Ruleset | None             phase 2+: Polish (and WebP) on the assets hostname
    tiered_cache: cloudflare.TieredCache | None        phase 2+ (smart topology)
    """

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:edge:Edge", name, None, opts)
        prefix, zone_id = args.prefix, args.zone_id

        self.api_record = cloudflare.DnsRecord(
            f"{prefix}-dns-api",
            zone_id=zone_id,
            name=args.api_hostname,
            type="A",
            content=args.origin_address,
            proxied=True,
            ttl=1,  # automatic: required for proxied records
            comment=f"{prefix}: API, proxied to the GCP load balancer",
            opts=child(self),
        )
        self.validation_records = [
            self._validation_record(f"{prefix}-dns-cert-validation-{i}", zone_id, authorization)
            for i, authorization in enumerate(args.dns_authorizations)
        ]

        self.zone_settings = {
            setting_id: cloudflare.ZoneSetting(
                f"{prefix}-zone-{setting_id.replace('_', '-')}",
                zone_id=zone_id,
                setting_id=setting_id,
                value=value,
                opts=child(self),
            )
            for setting_id, value in ZONE_SETTINGS.items()
        }

        self._firewall(args)
        self._ddos_protection(args)
        self._response_headers(args)

        self.assets_record: cloudflare.DnsRecord | None = None
        self.image_rules: cloudflare.Ruleset | None = None
        self.argo_tiered_caching: cloudflare.ArgoTieredCaching | None = None
        self.tiered_cache: cloudflare.TieredCache | None = None
        assets_hostname = args.assets_hostname if args.profile.edge_asset_caching else None
        if args.profile.edge_asset_caching:
            self._asset_caching(args)
        self._cache_rules(args, assets_hostname)

        self.register_outputs(
            {
                "apiRecord": self.api_record.id,
                "wafManagedRuleset": self.waf_managed.id,
                "rateLimitRuleset": self.rate_limits.id,
            }
        )

    def _firewall(self, args: EdgeArgs) -> None:
        """Managed WAF rulesets, the admin allowlist and the rate limits, on every request."""
        prefix, zone_id = args.prefix, args.zone_id
        self.waf_managed = cloudflare.Ruleset(
            f"{prefix}-waf-managed",
            zone_id=zone_id,
            kind="zone",
            phase="http_request_firewall_managed",
            name=f"{prefix} managed WAF",
            description="Cloudflare Managed Ruleset and OWASP Core Ruleset on every request",
            rules=[
                cloudflare.RulesetRuleArgs(
                    ref=ref,
                    description=description,
                    expression="true",
                    action="execute",
                    action_parameters=cloudflare.RulesetRuleActionParametersArgs(id=ruleset_id),
                    enabled=True,
                )
                for ref, description, ruleset_id in (
                    ("cloudflare-managed", "Cloudflare Managed Ruleset", CLOUDFLARE_MANAGED_RULESET_ID),
                    ("owasp-core", "Cloudflare OWASP Core Ruleset", OWASP_CORE_RULESET_ID),
                )
            ],
            opts=child(self),
        )

        self.waf_custom = cloudflare.Ruleset(
            f"{prefix}-waf-custom",
            zone_id=zone_id,
            kind="zone",
            phase="http_request_firewall_custom",
            name=f"{prefix} custom firewall rules",
            description="Admin API only from the allowlisted networks",
            rules=[
                cloudflare.RulesetRuleArgs(
                    ref="admin-allowlist",
                    description=f"Block {ADMIN_PATH} unless the client IP is allowlisted",
                    expression=admin_block_expression(args.admin_ip_allowlist),
                    action="block",
                    action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                        response=cloudflare.RulesetRuleActionParametersResponseArgs(
                            status_code=403, content_type="application/json", content=_FORBIDDEN_BODY
                        )
                    ),
                    enabled=True,
                )
            ],
            opts=child(self),
        )

        self.rate_limits = cloudflare.Ruleset(
            f"{prefix}-rate-limits",
            zone_id=zone_id,
            kind="zone",
            phase="http_ratelimit",
            name=f"{prefix} rate limits",
            description="Per client IP and data centre: webhooks, admin API, authentication failures",
            rules=[_rate_limit_rule(limit) for limit in RATE_LIMITS],
            opts=child(self),
        )

    def _ddos_protection(self, args: EdgeArgs) -> None:
        """The HTTP DDoS managed ruleset on every request, at the profile's sensitivity."""
        self.ddos = cloudflare.Ruleset(
            f"{args.prefix}-ddos-l7",
            zone_id=args.zone_id,
            kind="zone",
            phase="ddos_l7",
            name=f"{args.prefix} HTTP DDoS protection",
            description="Cloudflare HTTP DDoS Attack Protection with explicit sensitivity and action",
            rules=[
                cloudflare.RulesetRuleArgs(
                    ref="http-ddos",
                    description="HTTP DDoS Attack Protection managed ruleset",
                    expression="true",
                    action="execute",
                    action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                        id=HTTP_DDOS_RULESET_ID,
                        overrides=cloudflare.RulesetRuleActionParametersOverridesArgs(
                            action=DDOS_ACTION, sensitivity_level=args.profile.edge_ddos_sensitivity
                        ),
                    ),
                    enabled=True,
                )
            ],
            opts=child(self),
        )

    def _response_headers(self, args: EdgeArgs) -> None:
        """The security headers on every response of the API hostname."""
        expression = f'http.host eq "{args.api_hostname}"'
        if not args.profile.is_prod:
            expression += f' and not starts_with(http.request.uri.path, "{DOCS_PATH}")'
        self.response_headers = cloudflare.Ruleset(
            f"{args.prefix}-response-headers",
            zone_id=args.zone_id,
            kind="zone",
            phase="http_response_headers_transform",
            name=f"{args.prefix} response headers",
            description="Security headers on every API response, edge-cached ones included",
            rules=[
                cloudflare.RulesetRuleArgs(
                    ref="security-headers",
                    description=f"Security headers on {args.api_hostname}",
                    expression=expression,
                    action="rewrite",
                    action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                        headers={name: _set(value) for name, value in SECURITY_HEADERS.items()}
                    ),
                    enabled=True,
                )
            ],
            opts=child(self),
        )

    def _validation_record(
        self, name: str, zone_id: str, authorization: gcp.certificatemanager.DnsAuthorization
    ) -> cloudflare.DnsRecord:
        record = authorization.dns_resource_records[0]
        return cloudflare.DnsRecord(
            name,
            zone_id=zone_id,
            # Cloudflare stores names without the trailing dot; keeping it would show a diff forever.
            name=record.name.apply(lambda n: (n or "").rstrip(".")),
            type=record.type.apply(lambda t: t or "CNAME"),
            content=record.data.apply(lambda d: (d or "").rstrip(".")),
            proxied=False,  # Certificate Manager must see its own CNAME target
            ttl=300,
            comment="Certificate Manager DNS authorization for the origin certificate",
            opts=child(self),
        )

    def _cache_rules(self, args: EdgeArgs, assets_hostname: str | None) -> None:
        """The zone's one http_request_cache_settings ruleset (Cloudflare allows one entry point per phase):
        the live boards on the API hostname in every phase, then the assets hostname's rule where it has one.
        The name stays ``{prefix}-cache-rules`` so the phase 2+ stacks that had the assets rule alone update
        it in place."""
        rules = [_live_cache_rule(rule, args.api_hostname) for rule in live_cache_rules()]
        description = "Cache the live leaderboards' latest documents, full pages and segments at the edge"
        if assets_hostname is not None:
            rules.append(_assets_cache_rule(assets_hostname))
            description += ", and the game assets at the edge and in browsers"
        self.cache_rules = cloudflare.Ruleset(
            f"{args.prefix}-cache-rules",
            zone_id=args.zone_id,
            kind="zone",
            phase="http_request_cache_settings",
            name=f"{args.prefix} cache rules",
            description=description,
            rules=rules,
            opts=child(self),
        )

    def _asset_caching(self, args: EdgeArgs) -> None:
        prefix, zone_id = args.prefix, args.zone_id
        if args.assets_hostname is None:
            pulumi.log.warn(
                "phase 2+ caches the assets hostname, but the compute layer gave none: no assets record"
                " and no assets cache rule",
                resource=self,
            )
        else:
            self._assets_hostname(args, args.assets_hostname)
        # Smart topology needs tiered caching switched on first.
        self.argo_tiered_caching = cloudflare.ArgoTieredCaching(
            f"{prefix}-tiered-caching", zone_id=zone_id, value="on", opts=child(self)
        )
        self.tiered_cache = cloudflare.TieredCache(
            f"{prefix}-smart-tiered-cache",
            zone_id=zone_id,
            value="on",
            opts=child(self, depends_on=[self.argo_tiered_caching]),
        )

    def _assets_hostname(self, args: EdgeArgs, hostname: str) -> None:
        """The assets hostname's record, its images polished (its cache rule: ``_cache_rules``)."""
        prefix, zone_id = args.prefix, args.zone_id
        self.assets_record = cloudflare.DnsRecord(
            f"{prefix}-dns-assets",
            zone_id=zone_id,
            name=hostname,
            type="A",
            content=args.origin_address,
            proxied=True,
            ttl=1,
            comment=f"{prefix}: game assets bucket behind the GCP load balancer",
            opts=child(self),
        )
        self._image_polish(args, hostname)

    def _image_polish(self, args: EdgeArgs, hostname: str) -> None:
        prefix, zone_id = args.prefix, args.zone_id
        # Images are uploaded as PNG/JPEG; Polish recompresses them at the edge and, with the zone's
        # WebP setting, serves WebP to clients that accept it (the architecture's image format). Polish
        # acts on images only, and this rule scopes it to the assets hostname.
        self.image_rules = cloudflare.Ruleset(
            f"{prefix}-config-rules",
            zone_id=zone_id,
            kind="zone",
            phase="http_config_settings",
            name=f"{prefix} configuration rules",
            description="Polish (lossy, WebP) on the game assets",
            rules=[
                cloudflare.RulesetRuleArgs(
                    ref="assets-polish",
                    description=f"Polish images on {hostname}",
                    expression=f'http.host eq "{hostname}"',
                    action="set_config",
                    action_parameters=cloudflare.RulesetRuleActionParametersArgs(polish=ASSETS_POLISH),
                    enabled=True,
                )
            ],
            opts=child(self),
        )
        self.webp = cloudflare.ZoneSetting(
            f"{prefix}-zone-webp", zone_id=zone_id, setting_id="webp", value="on", opts=child(self)
        )


_StatusRange = cloudflare.RulesetRuleActionParametersEdgeTtlStatusCodeTtlStatusCodeRangeArgs


def _live_cache_rule(rule: LiveCacheRule, api_hostname: str) -> cloudflare.RulesetRuleArgs:
    """A live-board rule: cache eligible, its edge TTL, errors never cached, the browser TTL the origin's,
    the cache key's query string only the parameters the route reads."""
    query = cloudflare.RulesetRuleActionParametersCacheKeyCustomKeyQueryStringArgs(
        include=cloudflare.RulesetRuleActionParametersCacheKeyCustomKeyQueryStringIncludeArgs(
            lists=list(rule.query_keys)
        )
    )
    return cloudflare.RulesetRuleArgs(
        ref=rule.ref,
        description=rule.description,
        expression=rule.expression(api_hostname),
        action="set_cache_settings",
        action_parameters=cloudflare.RulesetRuleActionParametersArgs(
            cache=True,
            edge_ttl=cloudflare.RulesetRuleActionParametersEdgeTtlArgs(
                mode=rule.edge_ttl_mode,
                default=rule.edge_ttl_s if rule.edge_ttl_mode == OVERRIDE_ORIGIN else None,
                status_code_ttls=[
                    cloudflare.RulesetRuleActionParametersEdgeTtlStatusCodeTtlArgs(
                        status_code_range=_StatusRange(from_=low, to=high),
                        value=-1,  # -1: no-store
                    )
                    for low, high in NOT_CACHED_STATUS_RANGES
                ],
            ),
            browser_ttl=cloudflare.RulesetRuleActionParametersBrowserTtlArgs(mode=rule.browser_ttl_mode),
            cache_key=cloudflare.RulesetRuleActionParametersCacheKeyArgs(
                ignore_query_strings_order=True,
                custom_key=cloudflare.RulesetRuleActionParametersCacheKeyCustomKeyArgs(query_string=query),
            ),
        ),
        enabled=True,
    )


def _assets_cache_rule(hostname: str) -> cloudflare.RulesetRuleArgs:
    return cloudflare.RulesetRuleArgs(
        ref="assets",
        description=f"Cache everything on {hostname}",
        expression=f'http.host eq "{hostname}"',
        action="set_cache_settings",
        action_parameters=cloudflare.RulesetRuleActionParametersArgs(
            cache=True,
            edge_ttl=cloudflare.RulesetRuleActionParametersEdgeTtlArgs(
                mode="override_origin", default=ASSETS_EDGE_TTL_SECONDS
            ),
            browser_ttl=cloudflare.RulesetRuleActionParametersBrowserTtlArgs(
                mode="override_origin", default=ASSETS_BROWSER_TTL_SECONDS
            ),
        ),
        enabled=True,
    )


def _set(value: str) -> cloudflare.RulesetRuleActionParametersHeadersArgs:
    return cloudflare.RulesetRuleActionParametersHeadersArgs(operation="set", value=value)


def _rate_limit_rule(limit: RateLimit) -> cloudflare.RulesetRuleArgs:
    return cloudflare.RulesetRuleArgs(
        ref=limit.ref,
        description=limit.description,
        expression=limit.expression,
        action="block",
        action_parameters=cloudflare.RulesetRuleActionParametersArgs(
            response=cloudflare.RulesetRuleActionParametersResponseArgs(
                status_code=429, content_type="application/json", content=_RATE_LIMITED_BODY
            )
        ),
        ratelimit=cloudflare.RulesetRuleRatelimitArgs(
            characteristics=list(RATE_LIMIT_CHARACTERISTICS),
            period=limit.period,
            requests_per_period=limit.requests_per_period,
            mitigation_timeout=limit.mitigation_timeout,
            counting_expression=limit.counting_expression,
        ),
        enabled=True,
    )
