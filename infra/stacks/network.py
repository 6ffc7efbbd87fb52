"""The VPC the API and its jobs egress through: a subnet per API region, and Cloud NAT on a static
address there, so Redis Cloud can allowlist the API's addresses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.stacks.common import child, labels


def subnet_cidr(index: int) -> str:
    """A /20 per API region (10.10.0.0/20, 10.10.16.0/20, ...).

    Direct VPC egress holds about two addresses per Cloud Run instance (more during a rollout),
    so a region scaled to 200 instances needs far more than a /24.
    """
    return f"10.10.{16 * index}.0/20"


@dataclass(frozen=True)
class EgressNetwork:
    network: gcp.compute.Network
    subnets: dict[str, gcp.compute.Subnetwork]  # keyed by region
    addresses: list[gcp.compute.Address]  # the NAT's static egress IPs, in region order


def egress_network(
    parent: pulumi.Resource,
    prefix: str,
    project: str,
    api_regions: Sequence[str],
    compute_api: Sequence[pulumi.Resource],
) -> EgressNetwork:
    """Declared as children of ``parent`` (the foundation component)."""
    p = prefix
    network = gcp.compute.Network(
        f"{p}-vpc",
        name=f"{p}-vpc",
        project=project,
        auto_create_subnetworks=False,
        routing_mode="REGIONAL",
        description="Cloud Run direct VPC egress; internet egress through Cloud NAT",
        opts=child(parent, depends_on=compute_api),
    )
    subnets: dict[str, gcp.compute.Subnetwork] = {}
    addresses: list[gcp.compute.Address] = []
    for index, region in enumerate(api_regions):
        subnets[region] = gcp.compute.Subnetwork(
            f"{p}-subnet-{region}",
            name=f"{p}-subnet-{region}",
            project=project,
            region=region,
            network=network.id,
            ip_cidr_range=subnet_cidr(index),
            private_ip_google_access=True,
            opts=child(parent),
        )
        addresses.append(_nat(parent, p, project, region, network, subnets[region], compute_api))
    return EgressNetwork(network, subnets, addresses)


def _nat(
    parent: pulumi.Resource,
    p: str,
    project: str,
    region: str,
    network: gcp.compute.Network,
    subnet: gcp.compute.Subnetwork,
    compute_api: Sequence[pulumi.Resource],
) -> gcp.compute.Address:
    """Cloud NAT for the region's subnet on one static address, which it returns."""
    address = gcp.compute.Address(
        f"{p}-nat-ip-{region}",
        name=f"{p}-nat-ip-{region}",
        project=project,
        region=region,
        address_type="EXTERNAL",
        network_tier="PREMIUM",
        description="Static egress IP of the API (allowlisted by Redis Cloud)",
        labels=labels(p, "foundation"),
        opts=child(parent, depends_on=compute_api),
    )
    router = gcp.compute.Router(
        f"{p}-router-{region}",
        name=f"{p}-router-{region}",
        project=project,
        region=region,
        network=network.id,
        opts=child(parent),
    )
    gcp.compute.RouterNat(
        f"{p}-nat-{region}",
        name=f"{p}-nat-{region}",
        project=project,
        region=region,
        router=router.name,
        nat_ip_allocate_option="MANUAL_ONLY",
        nat_ips=[address.self_link],
        source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
        subnetworks=[
            gcp.compute.RouterNatSubnetworkArgs(name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])
        ],
        enable_dynamic_port_allocation=True,
        enable_endpoint_independent_mapping=False,
        min_ports_per_vm=64,
        max_ports_per_vm=1024,
        log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
        opts=child(parent),
    )
    return address
