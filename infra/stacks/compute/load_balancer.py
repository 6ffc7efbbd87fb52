"""The global external Application Load Balancer in front of the regions' services: backends, routing,
certificates and the HTTPS front end."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_gcp as gcp

from infra.stacks.common import child
from infra.stacks.compute.args import Scope

PROBE_HEADER = "x-pog-probe-region"


def serverless_negs(
    scope: Scope, services: Mapping[str, gcp.cloudrunv2.Service]
) -> dict[str, gcp.compute.RegionNetworkEndpointGroup]:
    p = scope.args.prefix
    return {
        region: gcp.compute.RegionNetworkEndpointGroup(
            f"{p}-api-neg-{region}",
            name=f"{p}-api-neg-{region}",
            project=scope.args.project,
            region=region,
            network_endpoint_type="SERVERLESS",
            cloud_run=gcp.compute.RegionNetworkEndpointGroupCloudRunArgs(service=service.name),
            opts=child(scope.parent),
        )
        for region, service in services.items()
    }


def backend_service(
    scope: Scope,
    name: str,
    negs: list[gcp.compute.RegionNetworkEndpointGroup],
    armor: gcp.compute.SecurityPolicy,
    *,
    outlier_detection: bool,
) -> gcp.compute.BackendService:
    return gcp.compute.BackendService(
        name,
        name=name,
        project=scope.args.project,
        load_balancing_scheme="EXTERNAL_MANAGED",
        protocol="HTTPS",
        backends=[gcp.compute.BackendServiceBackendArgs(group=neg.id) for neg in negs],
        security_policy=armor.id,
        # Five 5xx in a row eject a region for 30 s (longer each time); 50 % never ejects the
        # last of three regions.
        outlier_detection=(
            gcp.compute.BackendServiceOutlierDetectionArgs(
                consecutive_errors=5,
                enforcing_consecutive_errors=100,
                interval=gcp.compute.BackendServiceOutlierDetectionIntervalArgs(seconds=10),
                base_ejection_time=gcp.compute.BackendServiceOutlierDetectionBaseEjectionTimeArgs(seconds=30),
                max_ejection_percent=50,
            )
            if outlier_detection
            else None
        ),
        # Cloud Run logs every request itself; the load balancer's log adds Cloud Armor verdicts.
        log_config=gcp.compute.BackendServiceLogConfigArgs(
            enable=True, sample_rate=0.1 if scope.args.profile.is_prod else 1.0
        ),
        opts=child(scope.parent),
    )


def api_path_matcher(
    backend: gcp.compute.BackendService, region_backends: Mapping[str, gcp.compute.BackendService]
) -> gcp.compute.URLMapPathMatcherArgs:
    """Everything to ``backend``; a request carrying PROBE_HEADER to that region's backend only."""
    return gcp.compute.URLMapPathMatcherArgs(
        name="api",
        default_service=backend.id,
        route_rules=[
            gcp.compute.URLMapPathMatcherRouteRuleArgs(
                priority=index + 1,
                service=region_backend.id,
                match_rules=[
                    gcp.compute.URLMapPathMatcherRouteRuleMatchRuleArgs(
                        prefix_match="/",
                        header_matches=[
                            gcp.compute.URLMapPathMatcherRouteRuleMatchRuleHeaderMatchArgs(
                                header_name=PROBE_HEADER, exact_match=region
                            )
                        ],
                    )
                ],
            )
            for index, (region, region_backend) in enumerate(region_backends.items())
        ]
        or None,
    )


def lb_address(scope: Scope) -> gcp.compute.GlobalAddress:
    p = scope.args.prefix
    return gcp.compute.GlobalAddress(
        f"{p}-api-ip",
        name=f"{p}-api-ip",
        project=scope.args.project,
        address_type="EXTERNAL",
        ip_version="IPV4",
        description="Load balancer address; Cloudflare proxies the API hostnames to it",
        labels=scope.labels,
        opts=child(scope.parent, depends_on=scope.deps),
    )


def certificate_map(scope: Scope) -> gcp.certificatemanager.CertificateMap:
    # Certificate Manager with DNS authorization: Google-managed LB certificates validate over
    # HTTP, which cannot succeed while Cloudflare proxies the hostname.
    p = scope.args.prefix
    return gcp.certificatemanager.CertificateMap(
        f"{p}-api-certmap",
        name=f"{p}-api-certmap",
        project=scope.args.project,
        description="Certificates served by the API load balancer",
        labels=scope.labels,
        opts=child(scope.parent, depends_on=scope.deps),
    )


def certificate(
    scope: Scope, key: str, hostname: str, cert_map: gcp.certificatemanager.CertificateMap
) -> tuple[gcp.certificatemanager.CertificateMapEntry, gcp.certificatemanager.DnsAuthorization]:
    """The hostname's map entry, and the DNS authorization whose CNAME Cloudflare must publish."""
    args, p = scope.args, scope.args.prefix
    authorization = gcp.certificatemanager.DnsAuthorization(
        f"{p}-{key}-dnsauth",
        name=f"{p}-{key}-dnsauth",
        project=args.project,
        domain=hostname,
        type="FIXED_RECORD",
        labels=scope.labels,
        opts=child(scope.parent, depends_on=scope.deps),
    )
    # One certificate per hostname: adding a hostname later must not replace a serving certificate.
    cert = gcp.certificatemanager.Certificate(
        f"{p}-{key}-cert",
        name=f"{p}-{key}-cert",
        project=args.project,
        scope="DEFAULT",
        managed=gcp.certificatemanager.CertificateManagedArgs(
            domains=[hostname], dns_authorizations=[authorization.id]
        ),
        labels=scope.labels,
        opts=child(scope.parent),
    )
    entry = gcp.certificatemanager.CertificateMapEntry(
        f"{p}-{key}-cert-entry",
        name=f"{p}-{key}-cert-entry",
        project=args.project,
        map=cert_map.name,
        hostname=hostname,
        certificates=[cert.id],
        labels=scope.labels,
        opts=child(scope.parent),
    )
    return entry, authorization


def https_frontend(
    scope: Scope,
    url_map: gcp.compute.URLMap,
    cert_map: gcp.certificatemanager.CertificateMap,
    cert_entries: list[gcp.certificatemanager.CertificateMapEntry],
    address: gcp.compute.GlobalAddress,
) -> gcp.compute.GlobalForwardingRule:
    """TLS policy, HTTPS proxy and the forwarding rule on ``address``:443."""
    args, p = scope.args, scope.args.prefix
    ssl_policy = gcp.compute.SSLPolicy(
        f"{p}-api-tls",
        name=f"{p}-api-tls",
        project=args.project,
        profile="RESTRICTED",
        min_tls_version="TLS_1_2",
        opts=child(scope.parent, depends_on=scope.deps),
    )
    proxy = gcp.compute.TargetHttpsProxy(
        f"{p}-api-https-proxy",
        name=f"{p}-api-https-proxy",
        project=args.project,
        url_map=url_map.id,
        certificate_map=pulumi.Output.concat("//certificatemanager.googleapis.com/", cert_map.id),
        ssl_policy=ssl_policy.id,
        # Entries first, or the proxy would briefly serve a map with no certificate.
        opts=child(scope.parent, depends_on=cert_entries),
    )
    return gcp.compute.GlobalForwardingRule(
        f"{p}-api-https",
        name=f"{p}-api-https",
        project=args.project,
        target=proxy.id,
        ip_address=address.id,
        ip_protocol="TCP",
        port_range="443",
        load_balancing_scheme="EXTERNAL_MANAGED",
        labels=scope.labels,
        opts=child(scope.parent),
    )
