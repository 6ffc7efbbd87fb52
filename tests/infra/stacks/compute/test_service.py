"""The API's Cloud Run service holds a live leaderboard stream for its intended lifetime (issue 20)."""

from __future__ import annotations

from infra.plan.engine import Plan
from infra.policy.rules_gcp_serving import STREAM_LIFETIME_S
from infra.stacks.compute.service import STREAM_REQUEST_TIMEOUT_S
from tests.infra.stacks.layers import Layer

RUN = "gcp:cloudrunv2/service:Service"
LAYER = Layer("potgold:compute:Compute", "compute")
#: Cloud Run's maximum request timeout for services.
CLOUD_RUN_MAX_TIMEOUT_S = 3600


def test_every_api_service_lets_a_stream_live_an_hour(plan: Plan) -> None:
    """Failed before issue 20: no timeout was declared, so Cloud Run's 300 s default ended every stream."""
    services = LAYER.mine(plan, RUN)
    assert services, "no API service"
    timeouts = {service.name: service.inputs["template"]["timeout"] for service in services}
    assert timeouts == {service.name: f"{STREAM_REQUEST_TIMEOUT_S}s" for service in services}


def test_the_declared_timeout_is_what_the_policy_asks_and_cloud_run_allows() -> None:
    assert STREAM_LIFETIME_S <= STREAM_REQUEST_TIMEOUT_S <= CLOUD_RUN_MAX_TIMEOUT_S
