"""Cloud Armor: only Cloudflare reaches the load balancer, and admin paths only from the allowlist."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi_gcp as gcp

from infra.config import MAX_ADMIN_RANGES
from infra.stacks.cloudflare_ranges import CLOUDFLARE_IPV4, CLOUDFLARE_IPV6
from infra.stacks.common import child
from infra.stacks.compute.args import Scope

# Cloudflare puts the visitor's address here; Cloud Armor reads it as origin.user_ip.
CLIENT_IP_HEADER = "CF-Connecting-IP"
MAX_RANGES_PER_RULE = 10  # Cloud Armor: src_ip_ranges per rule
# Decoded and lower-cased so /v1/%61dmin or /V1//admin cannot slip past the rule to the app's router.
ADMIN_PATH_TEST = "request.path.urlDecodeUni().lower().matches('^/+v1/+admin')"
ADMIN_RULE_PRIORITY = 1000
CLOUDFLARE_RULE_PRIORITY = 2000
DEFAULT_RULE_PRIORITY = 2147483647
DENY = "deny(403)"
# Adaptive Protection's rule visibility: STANDARD (PREMIUM needs Cloud Armor Enterprise).
ADAPTIVE_RULE_VISIBILITY = "STANDARD"


def range_chunks(ranges: Sequence[str], size: int = MAX_RANGES_PER_RULE) -> list[list[str]]:
    return [list(ranges[i : i + size]) for i in range(0, len(ranges), size)]


def admin_rule_expression(allowlist: Sequence[str]) -> str:
    """Matches admin requests whose visitor address is outside the allowlist (all of them if it is empty)."""
    if len(allowlist) > MAX_ADMIN_RANGES:
        raise ValueError(
            f"pot-of-gold:adminIpAllowlist may list at most {MAX_ADMIN_RANGES} ranges (one Cloud Armor"
            f" expression holds five subexpressions); got {len(allowlist)}: merge them into wider ranges"
        )
    if not allowlist:
        return ADMIN_PATH_TEST
    allowed = " || ".join(f"inIpRange(origin.user_ip, '{cidr}')" for cidr in allowlist)
    return f"{ADMIN_PATH_TEST} && !({allowed})"


def _src_ips_rule(
    action: str, priority: int, ranges: list[str], description: str
) -> gcp.compute.SecurityPolicyRuleArgs:
    return gcp.compute.SecurityPolicyRuleArgs(
        action=action,
        priority=priority,
        description=description,
        match=gcp.compute.SecurityPolicyRuleMatchArgs(
            versioned_expr="SRC_IPS_V1",
            config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=ranges),
        ),
    )


def cloudflare_only_rules() -> list[gcp.compute.SecurityPolicyRuleArgs]:
    """Allow Cloudflare's edge ranges (matched on the connecting address), deny everything else."""
    chunks = range_chunks(CLOUDFLARE_IPV4) + range_chunks(CLOUDFLARE_IPV6)
    rules = [
        _src_ips_rule(
            "allow", CLOUDFLARE_RULE_PRIORITY + i, chunk, f"Cloudflare edge ranges ({i + 1}/{len(chunks)})"
        )
        for i, chunk in enumerate(chunks)
    ]
    rules.append(
        _src_ips_rule(DENY, DEFAULT_RULE_PRIORITY, ["*"], "Default: deny what does not come from Cloudflare")
    )
    return rules


def api_armor(scope: Scope, admin_expression: str) -> gcp.compute.SecurityPolicy:
    """The API backends' policy; ``admin_expression`` from admin_rule_expression."""
    args, p = scope.args, scope.args.prefix
    return gcp.compute.SecurityPolicy(
        f"{p}-api-armor",
        name=f"{p}-api-armor",
        project=args.project,
        type="CLOUD_ARMOR",
        description="Only Cloudflare reaches the API; admin paths only from the allowlist",
        advanced_options_config=gcp.compute.SecurityPolicyAdvancedOptionsConfigArgs(
            user_ip_request_headers=[CLIENT_IP_HEADER],
        ),
        adaptive_protection_config=_adaptive_protection(args.profile.armor_adaptive_protection),
        rules=[
            gcp.compute.SecurityPolicyRuleArgs(
                action=DENY,
                priority=ADMIN_RULE_PRIORITY,
                description="Admin paths only from the admin IP allowlist",
                match=gcp.compute.SecurityPolicyRuleMatchArgs(
                    expr=gcp.compute.SecurityPolicyRuleMatchExprArgs(expression=admin_expression)
                ),
            ),
            *cloudflare_only_rules(),
        ],
        opts=child(scope.parent, depends_on=scope.deps),
    )


def _adaptive_protection(enabled: bool) -> gcp.compute.SecurityPolicyAdaptiveProtectionConfigArgs | None:
    """Layer 7 DDoS detection behind Cloudflare's: it alerts on anomalous traffic that got through."""
    if not enabled:
        return None
    return gcp.compute.SecurityPolicyAdaptiveProtectionConfigArgs(
        layer7_ddos_defense_config=gcp.compute.SecurityPolicyAdaptiveProtectionConfigLayer7DdosDefenseConfigArgs(
            enable=True, rule_visibility=ADAPTIVE_RULE_VISIBILITY
        )
    )
