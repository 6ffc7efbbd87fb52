"""Compute layer: Cloud Run per region behind one global load balancer that only Cloudflare reaches."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest

from app.core.config import Settings
from infra.phases import profile_for
from infra.plan.engine import Plan, PlannedResource
from infra.plan.mocks import PROJECT_NUMBER
from infra.stacks import compute
from infra.stacks.cloudflare_ranges import CLOUDFLARE_IPV4, CLOUDFLARE_IPV6
from infra.stacks.foundation import APP_SECRETS, secret_id
from tests.infra.conftest import plan_for
from tests.infra.stacks.layers import stack_config

RUN = "gcp:cloudrunv2/service:Service"
NEG = "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup"
BACKEND = "gcp:compute/backendService:BackendService"
BACKEND_BUCKET = "gcp:compute/backendBucket:BackendBucket"
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
SSL_POLICY = "gcp:compute/sSLPolicy:SSLPolicy"
URL_MAP = "gcp:compute/uRLMap:URLMap"
PROXY = "gcp:compute/targetHttpsProxy:TargetHttpsProxy"
FORWARDING_RULE = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
DNS_AUTH = "gcp:certificatemanager/dnsAuthorization:DnsAuthorization"
CERT = "gcp:certificatemanager/certificate:Certificate"
CERT_MAP_ENTRY = "gcp:certificatemanager/certificateMapEntry:CertificateMapEntry"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"

PHASE3_REGIONS = ("us-central1", "us-east4", "europe-west4")
HOSTS = {"dev": "api.potofgold-dev.games", "prod": "api.potofgold.games"}
ADMIN_ALLOWLIST = {"dev": ("198.51.100.0/28",), "prod": ("198.51.100.0/28", "203.0.113.40/32")}
SECRET_LOOKING = re.compile(r"(SECRET|API_KEY|PASSWORD|TOKEN|AUTH|DSN|_URL)$")


# Loading pulumi_gcp.compute imports its deprecated aliases (MangedSslCertificate, RouterStatus), which warn.


def _mine(plan: Plan, type_: str) -> list[PlannedResource]:
    """This layer's resources of a type, by name (the engine records them in completion order)."""
    parent = f"potgold:compute:Compute::pog-{plan.stack}-compute"
    return sorted((r for r in plan.of_type(type_) if r.parent == parent), key=lambda r: r.name)


def _services(plan: Plan) -> list[PlannedResource]:
    """The API's Cloud Run services: one per API region, never none (the loops over them must run)."""
    services = _mine(plan, RUN)
    assert len(services) == (len(PHASE3_REGIONS) if plan.outputs["phase"] == 3 else 1)
    return services


def _one(plan: Plan, type_: str, name: str) -> PlannedResource:
    resource = plan.get(type_, name)
    assert resource.parent == f"potgold:compute:Compute::pog-{plan.stack}-compute"
    return resource


def _container(service: PlannedResource, name: str = "api") -> dict[str, Any]:
    containers = service.inputs["template"]["containers"]
    assert [c["name"] for c in containers] == ["api", "metrics"]
    [container] = [c for c in containers if c["name"] == name]
    return container  # type: ignore[no-any-return]


def test_the_metrics_sidecar_scrapes_the_api(plan: Plan) -> None:
    for service in _services(plan):
        sidecar = _container(service, "metrics")
        assert "/cloud-run-gmp-sidecar:" in sidecar["image"]
        assert sidecar["dependsOns"] == ["api"], "the sidecar starts once the API is up"
        assert "ports" not in sidecar, "only the API container takes requests"
        # No RunMonitoring config is mounted, so the sidecar scrapes its default :8080/metrics.
        assert "volumeMounts" not in sidecar
        assert _container(service)["ports"]["containerPort"] == 8080
        # Above one CPU an instance's total must be whole: the API's whole CPUs plus the sidecar's one.
        assert sidecar["resources"]["limits"] == {"cpu": "1", "memory": "256Mi"}


def test_every_service_is_reachable_only_through_the_load_balancer(plan: Plan) -> None:
    services = _mine(plan, RUN)
    assert services
    for service in services:
        assert service.inputs["ingress"] == "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", service.name
        assert service.inputs["defaultUriDisabled"] is True, service.name
        assert service.inputs["invokerIamDisabled"] is True, service.name
    run_grants = [r for r in plan.resources if r.type.startswith("gcp:cloudrun") and "Iam" in r.type]
    assert [
        g.key for g in run_grants if g.inputs.get("member") in {"allUsers", "allAuthenticatedUsers"}
    ] == []


def test_services_follow_the_phase_profile(plan: Plan, stack_phase: tuple[str, int]) -> None:
    stack, phase = stack_phase
    profile = profile_for("prod" if stack == "prod" else "dev", phase)
    services = _mine(plan, RUN)
    expected_regions = PHASE3_REGIONS if phase == 3 else PHASE3_REGIONS[:1]
    assert sorted(s.inputs["location"] for s in services) == sorted(expected_regions)
    for service in services:
        region = service.inputs["location"]
        assert service.name == f"pog-{stack}-api-{region}"
        template = service.inputs["template"]
        assert template["scaling"] == {
            "minInstanceCount": profile.run.min_instances,
            "maxInstanceCount": profile.run.max_instances,
        }
        assert template["maxInstanceRequestConcurrency"] == profile.run.concurrency
        assert template["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"
        assert template["serviceAccount"] == f"pog-{stack}-api@pot-of-gold-{stack}.iam.gserviceaccount.com"
        assert service.inputs["deletionProtection"] is profile.is_prod
        container = _container(service)
        assert re.search(r"@sha256:[0-9a-f]{64}$", container["image"])
        assert container["ports"]["containerPort"] == 8080
        assert container["resources"]["limits"] == {"cpu": profile.run.cpu, "memory": profile.run.memory}


@pytest.mark.parametrize(
    ("stack", "phase", "min_instances", "max_instances"),
    [("dev", 1, 0, 5), ("prod", 1, 1, 20), ("prod", 2, 2, 60), ("dev", 3, 1, 10), ("prod", 3, 2, 120)],
)
def test_pinned_scaling(stack: str, phase: int, min_instances: int, max_instances: int) -> None:
    for service in _services(plan_for(stack, phase)):
        scaling = service.inputs["template"]["scaling"]
        assert (scaling["minInstanceCount"], scaling["maxInstanceCount"]) == (min_instances, max_instances)


def test_secrets_reach_the_container_only_as_secret_manager_references(plan: Plan) -> None:
    for service in _services(plan):
        envs = _container(service)["envs"]
        names = [e["name"] for e in envs]
        assert len(names) == len(set(names)), service.name
        plain = {e["name"]: e["value"] for e in envs if "valueSource" not in e}
        secret = {e["name"]: e["valueSource"]["secretKeyRef"] for e in envs if "valueSource" in e}
        assert all("value" not in e for e in envs if "valueSource" in e)
        assert set(secret) == set(APP_SECRETS)
        region = service.inputs["location"]
        # Phase 3's Active-Active Redis: a region other than the primary reads its own endpoint's secret.
        regional = plan.outputs["phase"] == 3 and region != stack_config(plan, "region")
        for env_var, ref in secret.items():
            own = region if regional and env_var == "POG_REDIS_URL" else None
            assert ref == {"secret": secret_id(f"pog-{plan.stack}", env_var, own), "version": "latest"}
        # POG_AUDIT_KMS_KEY names a key (a resource id); it holds no key material. The checkout URLs are
        # the game site's public pages Stripe sends a player back to.
        looking = [name for name in plain if SECRET_LOOKING.search(name)]
        assert looking == ["POG_STRIPE_CHECKOUT_CANCEL_URL", "POG_STRIPE_CHECKOUT_SUCCESS_URL"]
        holding_games = json.loads(plain.get("POG_ALL_GAMES_DATABASES", '["(default)"]'))
        assert plain["POG_GAMES_DATABASE"] in holding_games
        assert plain["POG_ENVIRONMENT"] == plan.stack
        assert plain["POG_AUTH_REVOCATION_CHECK_INTERVAL_S"] == "30"


def test_the_app_knows_which_connections_came_through_cloudflare(plan: Plan) -> None:
    """The client IP settings (app/core/net.py): Cloudflare's ranges are the trusted proxies, and the
    connecting address is the load balancer's X-Forwarded-For entry, not Cloud Run's socket peer."""
    for service in _services(plan):
        plain = {e["name"]: e["value"] for e in _container(service)["envs"] if "valueSource" not in e}
        trusted = json.loads(plain["POG_TRUSTED_PROXIES"])
        assert trusted == [*CLOUDFLARE_IPV4, *CLOUDFLARE_IPV6]
        assert plain["POG_FORWARDED_FOR_HOPS"] == "1"
        # What the app's settings parse: the same networks, and the hop count in range.
        settings = Settings(
            trusted_proxies=plain["POG_TRUSTED_PROXIES"], forwarded_for_hops=plain["POG_FORWARDED_FOR_HOPS"]
        )
        assert [str(net) for net in settings.trusted_proxies] == trusted
        assert settings.forwarded_for_hops == compute.LB_FORWARDED_FOR_HOPS


#: What a rebuild reads per phase: every database a game may be in (a promotion leaves the earlier phase's
#: games in their database until their 7-day TTL).
REBUILD_READS = {
    1: ["(default)"],
    2: ["(default)", "game-sessions"],
    3: ["(default)", "game-sessions", *(f"games-{region}" for region in sorted(PHASE3_REGIONS))],
}


@pytest.mark.parametrize("phase", [1, 2, 3])
def test_a_leaderboard_rebuild_in_any_region_reads_every_database_holding_games(phase: int) -> None:
    services = _mine(plan_for("prod", phase), RUN)
    assert len(services) == (3 if phase == 3 else 1)
    for service in services:
        plain = {e["name"]: e["value"] for e in _container(service)["envs"] if "valueSource" not in e}
        settings = Settings(
            games_database=plain["POG_GAMES_DATABASE"],
            all_games_databases=plain.get("POG_ALL_GAMES_DATABASES", ""),
        )
        assert sorted(settings.databases_with_games) == REBUILD_READS[phase]
        assert ("POG_ALL_GAMES_DATABASES" in plain) == (phase > 1)


PHASE2 = {"us-central1": "game-sessions"}, ("(default)", "game-sessions")


def test_a_restored_games_database_replaces_the_damaged_one_in_both_settings() -> None:
    restored = {"POG_GAMES_DATABASE": "games-restored", "POG_ALL_GAMES_DATABASES": "(default),games-restored"}
    env = compute.plain_env_for("us-central1", (), restored, *PHASE2)
    assert (env["POG_GAMES_DATABASE"], env["POG_ALL_GAMES_DATABASES"]) == (
        "games-restored",
        "(default),games-restored",
    )
    # One database in phase 1: overriding it alone is enough.
    alone = compute.plain_env_for(
        "us-central1", (), {"POG_GAMES_DATABASE": "games-restored"}, {"us-central1": "(default)"}, ()
    )
    assert alone["POG_GAMES_DATABASE"] == "games-restored"
    assert "POG_ALL_GAMES_DATABASES" not in alone


def test_a_games_database_missing_from_the_list_is_refused_at_plan_time() -> None:
    with pytest.raises(
        ValueError, match=r"'games-restored' is not in POG_ALL_GAMES_DATABASES .*restore-from-export"
    ):
        compute.plain_env_for("us-central1", (), {"POG_GAMES_DATABASE": "games-restored"}, *PHASE2)


def test_health_probes(plan: Plan) -> None:
    for service in _services(plan):
        container = _container(service)
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}


def test_egress_leaves_through_the_regional_subnet_and_nat(plan: Plan) -> None:
    for service in _services(plan):
        region = service.inputs["location"]
        vpc = service.inputs["template"]["vpcAccess"]
        assert vpc["egress"] == "ALL_TRAFFIC"
        assert [i["subnetwork"] for i in vpc["networkInterfaces"]] == [f"pog-{plan.stack}-subnet-{region}-id"]


def test_services_start_after_the_redis_url_is_written(plan: Plan) -> None:
    version = f"{SECRET_VERSION}::pog-{plan.stack}-redis-url-version"
    for service in _services(plan):
        assert version in service.depends_on, service.name


def test_load_balancer_chain(plan: Plan) -> None:
    p = f"pog-{plan.stack}"
    services = _mine(plan, RUN)
    negs = _mine(plan, NEG)
    assert len(negs) == len(services)
    for neg, service in zip(negs, services, strict=True):
        assert neg.inputs["networkEndpointType"] == "SERVERLESS"
        assert neg.inputs["region"] == service.inputs["location"]
        assert neg.inputs["cloudRun"] == {"service": service.name}

    backend = _one(plan, BACKEND, f"{p}-api-backend")
    assert backend.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert backend.inputs["protocol"] == "HTTPS"
    assert sorted(b["group"] for b in backend.inputs["backends"]) == [f"{n.name}-id" for n in negs]
    assert backend.inputs["securityPolicy"] == f"{p}-api-armor-id"
    assert backend.inputs["logConfig"]["enable"] is True
    assert 0 < backend.inputs["logConfig"]["sampleRate"] <= 1

    rule = _one(plan, FORWARDING_RULE, f"{p}-api-https")
    assert rule.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED"
    assert rule.inputs["portRange"] == "443"
    assert rule.inputs["target"] == f"{p}-api-https-proxy-id"
    assert rule.inputs["ipAddress"] == f"{p}-api-ip-id"
    assert _one(plan, ADDRESS, f"{p}-api-ip").inputs["addressType"] == "EXTERNAL"
    assert len(_mine(plan, FORWARDING_RULE)) == 1

    proxy = _one(plan, PROXY, f"{p}-api-https-proxy")
    assert proxy.inputs["urlMap"] == f"{p}-api-urlmap-id"
    assert proxy.inputs["sslPolicy"] == f"{p}-api-tls-id"
    assert proxy.inputs["certificateMap"] == f"//certificatemanager.googleapis.com/{p}-api-certmap-id"
    assert "sslCertificates" not in proxy.inputs
    assert plan.outputs["loadBalancerAddress"].startswith("203.0.113.")


def test_tls_policy_refuses_anything_below_tls_1_2(plan: Plan) -> None:
    policy = _one(plan, SSL_POLICY, f"pog-{plan.stack}-api-tls")
    assert policy.inputs["minTlsVersion"] == "TLS_1_2"
    assert policy.inputs["profile"] in {"MODERN", "RESTRICTED"}


def test_phase_3_fails_over_across_three_regions() -> None:
    for stack in ("dev", "prod"):
        plan, p = plan_for(stack, 3), f"pog-{stack}"
        assert sorted(s.inputs["location"] for s in _mine(plan, RUN)) == sorted(PHASE3_REGIONS)
        assert len(_mine(plan, NEG)) == 3
        backend = _one(plan, BACKEND, f"{p}-api-backend")
        assert [b["group"] for b in backend.inputs["backends"]] == [
            f"{p}-api-neg-{r}-id" for r in PHASE3_REGIONS
        ]
        outlier = backend.inputs["outlierDetection"]
        assert outlier["consecutiveErrors"] == 5
        assert outlier["interval"] == {"seconds": 10}
        assert outlier["baseEjectionTime"] == {"seconds": 30}
        assert outlier["maxEjectionPercent"] == 50
        for service in _services(plan):
            assert service.inputs["template"]["scaling"]["minInstanceCount"] >= 1, (
                "failover needs warm regions"
            )


def test_phase_3_probe_header_pins_one_region() -> None:
    for stack in ("dev", "prod"):
        plan, p = plan_for(stack, 3), f"pog-{stack}"
        for region in PHASE3_REGIONS:
            regional = _one(plan, BACKEND, f"{p}-api-backend-{region}")
            assert [b["group"] for b in regional.inputs["backends"]] == [f"{p}-api-neg-{region}-id"]
            assert regional.inputs["securityPolicy"] == f"{p}-api-armor-id"
        url_map = _one(plan, URL_MAP, f"{p}-api-urlmap")
        api = next(m for m in url_map.inputs["pathMatchers"] if m["name"] == "api")
        assert api["defaultService"] == f"{p}-api-backend-id"
        routes = {
            rule["matchRules"][0]["headerMatches"][0]["exactMatch"]: rule["service"]
            for rule in api["routeRules"]
        }
        assert routes == {r: f"{p}-api-backend-{r}-id" for r in PHASE3_REGIONS}
        headers = {rule["matchRules"][0]["headerMatches"][0]["headerName"] for rule in api["routeRules"]}
        assert headers == {compute.PROBE_HEADER}


@pytest.mark.parametrize("phase", [1, 2])
def test_single_region_phases_have_one_backend_and_no_probe_routes(phase: int) -> None:
    plan = plan_for("prod", phase)
    assert [b.name for b in _mine(plan, BACKEND)] == ["pog-prod-api-backend"]
    url_map = _one(plan, URL_MAP, "pog-prod-api-urlmap")
    assert all("routeRules" not in m for m in url_map.inputs["pathMatchers"])


def test_cloud_armor_admits_only_cloudflare_and_guards_admin_paths(plan: Plan) -> None:
    policy = _one(plan, ARMOR, f"pog-{plan.stack}-api-armor")
    assert policy.inputs["type"] == "CLOUD_ARMOR"
    assert policy.inputs["advancedOptionsConfig"]["userIpRequestHeaders"] == ["CF-Connecting-IP"]
    rules = sorted(policy.inputs["rules"], key=lambda r: r["priority"])
    priorities = [r["priority"] for r in rules]
    assert len(priorities) == len(set(priorities))

    default = rules[-1]
    assert default["priority"] == 2147483647
    assert default["action"] == "deny(403)"
    assert default["match"] == {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}}

    allows = [r for r in rules if r["action"] == "allow"]
    allowed = [cidr for r in allows for cidr in r["match"]["config"]["srcIpRanges"]]
    assert sorted(allowed) == sorted(CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6)
    assert all(len(r["match"]["config"]["srcIpRanges"]) <= 10 for r in allows)

    admin = rules[0]
    assert admin["action"] == "deny(403)"
    assert admin["priority"] < min(r["priority"] for r in allows)
    expression = admin["match"]["expr"]["expression"]
    assert expression.startswith(compute.ADMIN_PATH_TEST)
    for cidr in ADMIN_ALLOWLIST[plan.stack]:
        assert f"inIpRange(origin.user_ip, '{cidr}')" in expression
    # origin.ip is the Cloudflare edge; the visitor's address is origin.user_ip (from CF-Connecting-IP).
    assert "origin.ip," not in expression


def test_admin_rule_expression() -> None:
    assert compute.admin_rule_expression(()) == compute.ADMIN_PATH_TEST
    assert compute.admin_rule_expression(("198.51.100.0/28",)) == (
        "request.path.urlDecodeUni().lower().matches('^/+v1/+admin')"
        " && !(inIpRange(origin.user_ip, '198.51.100.0/28'))"
    )
    with pytest.raises(ValueError, match="adminIpAllowlist may list at most 4"):
        compute.admin_rule_expression(tuple(f"198.51.100.{i}/32" for i in range(5)))


def test_cloudflare_ranges_are_valid_and_chunked() -> None:
    assert (len(CLOUDFLARE_IPV4), len(CLOUDFLARE_IPV6)) == (15, 7)
    assert len(set(CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6)) == 22
    assert all(ipaddress.ip_network(c).version == 4 for c in CLOUDFLARE_IPV4)
    assert all(ipaddress.ip_network(c).version == 6 for c in CLOUDFLARE_IPV6)
    assert [len(c) for c in compute.range_chunks(CLOUDFLARE_IPV4)] == [10, 5]


def test_certificates_use_dns_authorization_per_hostname(plan: Plan, stack_phase: tuple[str, int]) -> None:
    stack, phase = stack_phase
    p, api = f"pog-{stack}", HOSTS[stack]
    hosts = [api] if phase == 1 else [api, "assets." + api.split(".", 1)[1]]
    assert sorted(a.inputs["domain"] for a in _mine(plan, DNS_AUTH)) == sorted(hosts)
    for key, host in zip(("api", "assets"), hosts, strict=False):
        certificate = _one(plan, CERT, f"{p}-{key}-cert")
        assert certificate.inputs["managed"] == {
            "domains": [host],
            "dnsAuthorizations": [f"{p}-{key}-dnsauth-id"],
        }
        entry = _one(plan, CERT_MAP_ENTRY, f"{p}-{key}-cert-entry")
        assert entry.inputs["hostname"] == host
        assert entry.inputs["certificates"] == [f"{p}-{key}-cert-id"]


def test_assets_bucket_only_from_phase_2_and_readable_only_by_the_cdn(
    plan: Plan, stack_phase: tuple[str, int]
) -> None:
    stack, phase = stack_phase
    p = f"pog-{stack}"
    buckets = _mine(plan, BUCKET)
    if phase == 1:
        assert buckets == []
        assert _mine(plan, BACKEND_BUCKET) == []
        return
    assert [b.name for b in buckets] == [f"{p}-assets"]
    assert buckets[0].inputs["publicAccessPrevention"] == "enforced"
    backend_bucket = _one(plan, BACKEND_BUCKET, f"{p}-assets-backend")
    assert backend_bucket.inputs["bucketName"] == f"{p}-assets"
    assert backend_bucket.inputs["enableCdn"] is True
    edge = _one(plan, ARMOR, f"{p}-assets-edge-armor")
    assert edge.inputs["type"] == "CLOUD_ARMOR_EDGE"
    assert backend_bucket.inputs["edgeSecurityPolicy"] == f"{p}-assets-edge-armor-id"
    assert edge.inputs["rules"][-1]["action"] == "deny(403)"

    grants = _mine(plan, BUCKET_IAM)
    assert [(g.inputs["bucket"], g.inputs["role"], g.inputs["member"]) for g in grants] == [
        (
            f"{p}-assets",
            "roles/storage.objectViewer",
            f"serviceAccount:service-{PROJECT_NUMBER}@cloud-cdn-fill.iam.gserviceaccount.com",
        )
    ]
    url_map = _one(plan, URL_MAP, f"{p}-api-urlmap")
    assets_host = "assets." + HOSTS[stack].split(".", 1)[1]
    assert {"hosts": [assets_host], "pathMatcher": "assets"} in url_map.inputs["hostRules"]
    assert {"name": "assets", "defaultService": f"{p}-assets-backend-id"} in url_map.inputs["pathMatchers"]


def test_assets_hostname() -> None:
    assert compute.assets_hostname_for("api.dev.potofgold.games") == "assets.dev.potofgold.games"
    assert compute.assets_hostname_for("api.potofgold.games") == "assets.potofgold.games"
