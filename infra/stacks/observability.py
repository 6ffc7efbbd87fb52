"""Observability: notification channels, uptime checks and alert policies read from monitoring/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi

from infra.phases import PhaseProfile


@dataclass
class ObservabilityArgs:
    prefix: str
    project: str
    api_hostname: str
    api_regions: tuple[str, ...]
    alert_emails: tuple[str, ...]
    pagerduty_service_key: pulumi.Input[str] | None
    monitoring_dir: Path
    probe_header: str
    profile: PhaseProfile
    depends_on: Sequence[pulumi.Resource] = ()


class Observability(pulumi.ComponentResource):
    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("potgold:observability:Observability", name, None, opts)
        self.register_outputs({})
