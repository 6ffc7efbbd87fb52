"""What the observability component is given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi

from infra.phases import PhaseProfile

# In prod these page on-call; everything else (and everything in dev) only sends mail.
PAGED_SEVERITIES: frozenset[str] = frozenset({"critical", "error"})


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
