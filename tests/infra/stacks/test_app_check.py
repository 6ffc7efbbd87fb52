"""App Check (infra/stacks/app_check.py, children of the data layer): enforced in prod, measured in dev, on
every Firebase service game clients call; the API's POG_APP_CHECK, API and role follow the same switch."""

from __future__ import annotations

from infra.plan.engine import Plan
from infra.stacks.app_check import ENFORCEABLE_SERVICES
from tests.infra.stacks.layers import Layer, api_member, prefix, project

SERVICE_CONFIG = "gcp:firebase/appCheckServiceConfig:AppCheckServiceConfig"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
API = "gcp:projects/service:Service"

DATA = Layer("potgold:data:Data", "data")


def test_every_client_facing_service_is_enforced_in_prod_and_measured_in_dev(plan: Plan) -> None:
    """Failed before issue 18: no App Check anywhere (a script with a stolen account reached Auth,
    Firestore and the Realtime Database as a genuine client would)."""
    configs = DATA.mine(plan, SERVICE_CONFIG)
    assert {c.inputs["serviceId"] for c in configs} == set(ENFORCEABLE_SERVICES.values())
    wanted = "ENFORCED" if plan.stack == "prod" else "UNENFORCED"
    assert {c.name: c.inputs["enforcementMode"] for c in configs} == {
        f"{prefix(plan)}-app-check-{short}": wanted for short in ENFORCEABLE_SERVICES
    }
    assert {c.inputs["project"] for c in configs} == {project(plan)}


def test_enforcement_waits_for_the_services_it_guards(plan: Plan) -> None:
    configs = DATA.mine(plan, SERVICE_CONFIG)
    guarded = {
        "gcp:firestore/database:Database",
        "gcp:firebase/databaseInstance:DatabaseInstance",
        "gcp:identityplatform/config:Config",
    }
    assert configs
    assert all(guarded <= {dep.split("::", 1)[0] for dep in c.depends_on} for c in configs), [
        c.depends_on for c in configs
    ]


def test_the_api_checks_tokens_the_same_way(plan: Plan) -> None:
    """Failed before issue 18: the API accepted sensitive requests with no App Check token."""
    services = plan.of_type(RUN_SERVICE)
    assert services
    wanted = "enforce" if plan.stack == "prod" else "monitor"
    settings = {
        service.name: {
            env["name"]: env.get("value") for env in service.inputs["template"]["containers"][0]["envs"]
        }.get("POG_APP_CHECK")
        for service in services
    }
    assert set(settings.values()) == {wanted}, settings


def test_the_api_may_consume_limited_use_tokens(plan: Plan) -> None:
    grants = {(r.inputs["role"], r.inputs["member"]) for r in plan.of_type(PROJECT_IAM)}
    assert ("roles/firebaseappcheck.tokenVerifier", api_member(plan)) in grants
    assert "firebaseappcheck.googleapis.com" in {r.inputs["service"] for r in plan.of_type(API)}
