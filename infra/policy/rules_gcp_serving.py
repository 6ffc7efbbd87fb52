"""Resource rules for how Google Cloud serves the API: Cloud Run, the load balancer, Cloud Armor, TLS."""

from __future__ import annotations

import re
from collections.abc import Iterator

from . import tokens as t
from .model import Resource, RuleContext, RuleSet, Severity
from .values import (
    as_list,
    enabled,
    get,
    is_known,
    public_members,
    values_at,
)

rules = RuleSet()

# --- Cloud Run -----------------------------------------------------------------------------------

INTERNAL_INGRESS = frozenset({"INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "INGRESS_TRAFFIC_INTERNAL_ONLY"})
# Cloud Run services that may be invoked by anyone (none: the API is reached through the load balancer).
PUBLIC_SERVICES: frozenset[str] = frozenset()


@rules.resource(
    "POG-RUN-001",
    Severity.CRITICAL,
    "Cloud Run is not invokable by allUsers unless listed",
    "Remove the public invoker grant; reach the service through the load balancer (ingress internal and"
    " LB), or list it in PUBLIC_SERVICES (infra/policy/rules_gcp_serving.py) with the reason.",
    types=[t.RUN_SERVICE, *t.RUN_IAM_TYPES],
)
def run_invoker_not_public(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.type == t.RUN_SERVICE:
        ingress = r.props.get("ingress", "INGRESS_TRAFFIC_ALL")
        public = enabled(r.props.get("invokerIamDisabled")) and is_known(ingress)
        if public and ingress not in INTERNAL_INGRESS and r.props.get("name", r.name) not in PUBLIC_SERVICES:
            yield f"invokerIamDisabled with ingress {ingress}: anyone on the internet can invoke it"
        return
    service = r.props.get("name", r.props.get("service"))
    if service in PUBLIC_SERVICES:
        return
    for member in public_members(r.props):
        yield f"grants {r.props.get('role', 'a role')} on Cloud Run service {service!r} to {member}"


@rules.resource(
    "POG-RUN-002",
    Severity.HIGH,
    "Cloud Run ingress is internal and load balancer only",
    "Set ingress='INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER' so the origin is not reachable around"
    " Cloudflare and Cloud Armor.",
    types=[t.RUN_SERVICE],
)
def run_ingress(r: Resource, ctx: RuleContext) -> Iterator[str]:
    ingress = r.props.get("ingress", "INGRESS_TRAFFIC_ALL")
    if is_known(ingress) and ingress not in INTERNAL_INGRESS:
        yield f"ingress is {ingress}: the service's own URL bypasses Cloudflare, the WAF and Cloud Armor"


_DEFAULT_SERVICE_ACCOUNT = re.compile(r"(-compute@developer|@appspot)\.gserviceaccount\.com$")


@rules.resource(
    "POG-RUN-003",
    Severity.HIGH,
    "Cloud Run runs as a dedicated service account",
    "Set template.service_account to the workload's own account (Foundation's 'api' account),"
    " never the default compute account (project Editor).",
    types=[t.RUN_SERVICE],
)
def run_dedicated_service_account(r: Resource, ctx: RuleContext) -> Iterator[str]:
    account = get(r.props, "template.serviceAccount")
    if account is None:
        yield "no template.serviceAccount: the revision runs as the default compute service account"
    elif is_known(account) and _DEFAULT_SERVICE_ACCOUNT.search(str(account)):
        yield f"runs as the default service account {account}"


_SECRET_ENV = re.compile(r"^POG_\w*(KEY|SECRET|TOKEN|DSN|PASSWORD|AUTH)$")
# Variables named like secrets that hold identifiers, each with the reason.
NOT_SECRET_ENV: dict[str, str] = {
    "POG_AUDIT_KMS_KEY": "the KMS key's resource name; the key material never leaves Cloud KMS",
    "POG_AUDIT_SIGNING_KEY": "the KMS signing key version's resource name; the private key stays in KMS",
}
# Other variables that carry credentials (a password inside a URL).
SECRET_ENV_EXTRA = frozenset({"POG_REDIS_URL"})
_CREDENTIAL_VALUE = re.compile(r"^(sk|rk)_(live|test)_|^whsec_|^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]+@")


@rules.resource(
    "POG-RUN-004",
    Severity.CRITICAL,
    "Secrets reach Cloud Run as Secret Manager references, never as plain values",
    "Map the variable with value_source.secret_key_ref to a Secret Manager secret"
    " (Foundation.secrets; add it to APP_SECRETS).",
    types=[t.RUN_SERVICE],
)
def run_secrets_from_secret_manager(r: Resource, ctx: RuleContext) -> Iterator[str]:
    for where, env in values_at(r.props, "template.containers[].envs[]"):
        if not isinstance(env, dict) or "value" not in env:
            continue
        name, value = str(env.get("name", "")), env["value"]
        by_name = (_SECRET_ENV.match(name) or name in SECRET_ENV_EXTRA) and name not in NOT_SECRET_ENV
        by_value = isinstance(value, str) and bool(_CREDENTIAL_VALUE.search(value))
        if by_name or by_value:
            # Never print the value: it may be the secret itself.
            yield f"{where} sets {name} as a plain value, visible to anyone who can read the service"


@rules.resource(
    "POG-RUN-005",
    Severity.HIGH,
    "Prod keeps at least one warm instance per Cloud Run service",
    "Set template.scaling.min_instance_count >= 1 in prod (infra/phases.py _RUN_SCALING).",
    types=[t.RUN_SERVICE],
)
def run_min_instances_in_prod(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if not ctx.is_prod:
        return
    value = get(r.props, "template.scaling.minInstanceCount", 0)
    if is_known(value) and (not isinstance(value, int | float) or value < 1):
        yield f"minInstanceCount is {value}: a cold start on every scale-up, and no warm failover target"


#: How long a live leaderboard stream (server-sent events) stays open before the client reconnects: Cloud
#: Run ends a request at its timeout (300 s by default). Cloud Run's maximum for services; the service
#: declares it in infra/stacks/compute/service.py (STREAM_REQUEST_TIMEOUT_S).
STREAM_LIFETIME_S = 3600
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")
#: The services that hold the streams: the API's, one per region (``pog-{env}-api-{region}``).
_API_SERVICE = re.compile(r"^pog-[a-z0-9]+-api-")


@rules.resource(
    "POG-RUN-006",
    Severity.MEDIUM,
    "The API's Cloud Run request timeout lets a live stream live its intended lifetime",
    f"Set template.timeout to at least '{STREAM_LIFETIME_S}s' on the API service"
    " (infra/stacks/compute/service.py STREAM_REQUEST_TIMEOUT_S).",
    types=[t.RUN_SERVICE],
)
def run_timeout_fits_streams(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if not _API_SERVICE.match(str(r.props.get("name", r.name))):
        return
    timeout = get(r.props, "template.timeout", "300s")
    if not is_known(timeout):
        return
    found = _DURATION.match(str(timeout))
    if found is None or float(found.group(1)) < STREAM_LIFETIME_S:
        yield (
            f"template.timeout is {timeout}: every leaderboard stream is cut before {STREAM_LIFETIME_S} s"
            " and all its viewers reconnect at once"
        )


# --- Load balancing --------------------------------------------------------------------------------

DEFAULT_RULE_PRIORITY = 2147483647


@rules.resource(
    "POG-LB-001",
    Severity.HIGH,
    "Public backends are guarded by Cloud Armor",
    "Attach the Cloud Armor policy that admits Cloudflare's ranges only (security_policy on backend"
    " services, edge_security_policy on backend buckets).",
    types=[t.BACKEND_SERVICE, t.BACKEND_BUCKET],
)
def backend_cloud_armor(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.type == t.BACKEND_BUCKET:
        if not r.props.get("edgeSecurityPolicy"):
            yield "no edgeSecurityPolicy: the bucket is served to anyone, around Cloudflare"
        return
    if str(r.props.get("loadBalancingScheme", "EXTERNAL")).startswith("EXTERNAL") and not r.props.get(
        "securityPolicy"
    ):
        yield "no securityPolicy: the origin answers requests that did not come through Cloudflare"


@rules.resource(
    "POG-LB-002",
    Severity.HIGH,
    "Cloud Armor policies deny by default",
    f"Give the policy a rule at priority {DEFAULT_RULE_PRIORITY} with action deny(403) matching '*'.",
    types=[t.SECURITY_POLICY],
)
def armor_default_deny(r: Resource, ctx: RuleContext) -> Iterator[str]:
    rules_ = as_list(r.props.get("rules"))
    if not is_known(r.props.get("rules")):
        return
    default = [x for x in rules_ if isinstance(x, dict) and x.get("priority") == DEFAULT_RULE_PRIORITY]
    if not default:
        yield "no default rule: Cloud Armor's implicit default allows every request"
    elif not str(default[0].get("action", "")).startswith("deny"):
        yield f"the default rule's action is {default[0].get('action')!r}, not deny"


TLS_VERSIONS = ("TLS_1_0", "TLS_1_1", "TLS_1_2", "TLS_1_3")


@rules.resource(
    "POG-LB-003",
    Severity.HIGH,
    "The load balancer accepts TLS 1.2 or newer only",
    "Attach an SSLPolicy with min_tls_version='TLS_1_2' (profile RESTRICTED or MODERN) to the HTTPS proxy.",
    types=[t.SSL_POLICY, t.HTTPS_PROXY],
)
def lb_min_tls(r: Resource, ctx: RuleContext) -> Iterator[str]:
    if r.type == t.HTTPS_PROXY:
        if not r.props.get("sslPolicy"):
            yield "no sslPolicy: Google's default policy accepts TLS 1.0"
        return
    version = r.props.get("minTlsVersion", "TLS_1_0")
    if is_known(version) and version in TLS_VERSIONS and TLS_VERSIONS.index(version) < 2:
        yield f"minTlsVersion is {version}"


@rules.resource(
    "POG-LB-004",
    Severity.LOW,
    "Backend services log requests",
    "Set log_config=BackendServiceLogConfigArgs(enable=True, sample_rate=...).",
    types=[t.BACKEND_SERVICE],
)
def backend_logging(r: Resource, ctx: RuleContext) -> Iterator[str]:
    value = get(r.props, "logConfig.enable")
    if is_known(value) and not enabled(value):
        yield "request logging is off: no record of Cloud Armor verdicts or of who called the API"
