"""What the compute component is given, and what each of its resource builders shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile
from infra.stacks.common import labels

LAYER = "compute"


@dataclass
class ComputeArgs:
    prefix: str
    project: str
    api_regions: tuple[str, ...]
    image: str
    api_hostname: str
    admin_ip_allowlist: tuple[str, ...]
    service_account: gcp.serviceaccount.Account
    #: environment variable -> API region -> the secret that region reads (Foundation.regional_secrets)
    secrets: Mapping[str, Mapping[str, gcp.secretmanager.Secret]]
    plain_env: dict[str, pulumi.Input[str]]
    #: API region -> the Firestore database that holds that region's game sessions (POG_GAMES_DATABASE).
    games_databases: dict[str, str]
    network: gcp.compute.Network
    subnets: dict[str, gcp.compute.Subnetwork]
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = ()
    #: Every database that may hold finished games: the regions' and those an earlier phase wrote to,
    #: whose games live out their TTL (POG_ALL_GAMES_DATABASES: leaderboard rebuilds, event progress).
    all_games_databases: Sequence[str] = ()
    #: The Realtime Database shards' URLs in shard order (Data.realtime_database_urls).
    realtime_database_urls: Sequence[str] = ()


@dataclass(frozen=True)
class Scope:
    """The component every resource is parented to, its args, labels and the resources it waits for."""

    parent: pulumi.Resource
    args: ComputeArgs

    @property
    def labels(self) -> dict[str, str]:
        return labels(self.args.prefix, LAYER)

    @property
    def deps(self) -> list[pulumi.Resource]:
        return list(self.args.depends_on)
