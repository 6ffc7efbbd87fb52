"""Observability: notification channels, uptime checks, alert policies, SLOs and dashboards read from
monitoring/ (loaded by infra.monitoring). ``component`` declares them; ``conditions`` builds alert
conditions, ``slos`` the SLOs and their burn-rate policies."""

from infra.stacks.observability.args import PAGED_SEVERITIES, ObservabilityArgs
from infra.stacks.observability.component import HEALTH_PATH, UPTIME_REGIONS, Observability

__all__ = ["HEALTH_PATH", "PAGED_SEVERITIES", "UPTIME_REGIONS", "Observability", "ObservabilityArgs"]
