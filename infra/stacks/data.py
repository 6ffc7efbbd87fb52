"""Data: Firebase project, Firestore databases, TTL, indexes, rules, Realtime Database, Identity Platform."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.phases import PhaseProfile


@dataclass
class DataArgs:
    prefix: str
    project: str
    firestore_location: str
    primary_region: str
    api_regions: tuple[str, ...]
    api_service_account: gcp.serviceaccount.Account
    authorized_domains: tuple[str, ...]
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = ()


class Data(pulumi.ComponentResource):
    """Public attributes:

    databases: dict[str, gcp.firestore.Database]  keyed by database id: "(default)", and per phase
                "game-sessions" (phase 2+), "games-<region>" (phase 3)
    game_database_ids: dict[str, str]  API region -> database id holding that region's game sessions
    rtdb_instance: gcp.firebase.DatabaseInstance
    """

    def __init__(self, name: str, args: DataArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:data:Data", name, None, opts)
        self.databases: dict[str, gcp.firestore.Database] = {}
        self.game_database_ids: dict[str, str] = {}
        self.register_outputs({})
