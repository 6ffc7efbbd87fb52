"""Firebase App Check: enforced where the phase profile asks for it (prod), on every Firebase service
game clients call directly that the stack declares, and by the game API itself (POG_APP_CHECK).

The provider does not check ``enforcementMode`` values; a typo would leave a service unprotected.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import tokens as t
from .model import Finding, Resource, RuleContext, RuleSet, Severity, StackView
from .values import is_known, values_at

rules = RuleSet()

APP_CHECK_SERVICE_CONFIG = "gcp:firebase/appCheckServiceConfig:AppCheckServiceConfig"
ENFORCEMENT_MODES = frozenset({"OFF", "UNENFORCED", "ENFORCED"})
#: The service App Check enforces for each declared resource type clients reach.
SERVICE_OF_TYPE = {
    t.FIRESTORE_DATABASE: "firestore.googleapis.com",
    t.RTDB_INSTANCE: "firebasedatabase.googleapis.com",
    t.IDENTITY_PLATFORM: "identitytoolkit.googleapis.com",
}
API_SETTING = "POG_APP_CHECK"


def _wanted(ctx: RuleContext) -> bool:
    profile = ctx.profile
    return profile.app_check_enforced if profile is not None else ctx.is_prod


@rules.resource(
    "POG-APPCHECK-001",
    Severity.HIGH,
    "An App Check service config names a known enforcement mode",
    "Set enforcement_mode to ENFORCED (prod) or UNENFORCED (infra/stacks/app_check.py).",
    types=[APP_CHECK_SERVICE_CONFIG],
)
def enforcement_mode_known(r: Resource, ctx: RuleContext) -> Iterator[str]:
    mode = r.props.get("enforcementMode")
    if is_known(mode) and mode not in ENFORCEMENT_MODES:
        yield f"enforcementMode {mode!r}; expected one of {sorted(ENFORCEMENT_MODES)}"


@rules.stack(
    "POG-APPCHECK-002",
    Severity.HIGH,
    "Where the profile enforces App Check (prod), every Firebase service clients call enforces it",
    "Declare gcp.firebase.AppCheckServiceConfig(service_id=..., enforcement_mode='ENFORCED') for"
    " Firestore, the Realtime Database and Identity Platform (infra/stacks/app_check.py;"
    " PhaseProfile.app_check_enforced).",
)
def services_enforced(stack: StackView, ctx: RuleContext) -> Iterator[Finding]:
    if not _wanted(ctx):
        return
    modes: dict[str, object] = {
        str(c.props.get("serviceId")): c.props.get("enforcementMode")
        for c in stack.of_type(APP_CHECK_SERVICE_CONFIG)
    }
    for type_, service in SERVICE_OF_TYPE.items():
        declared = stack.of_type(type_)
        if not declared or service not in modes:
            if declared:
                yield Finding(
                    f"{service} has no App Check service config: clients without a genuine app reach it",
                    declared[0].key,
                )
            continue
        mode = modes[service]
        if is_known(mode) and mode != "ENFORCED":
            yield Finding(
                f"App Check on {service} is {mode}, but {ctx.environment} phase {ctx.phase} enforces it",
                declared[0].key,
            )


@rules.resource(
    "POG-APPCHECK-003",
    Severity.HIGH,
    "Where the profile enforces App Check (prod), the API runs with POG_APP_CHECK=enforce",
    "Pass POG_APP_CHECK=enforce to the API (infra/__main__.py plain_env; the app refuses to start in prod"
    " otherwise).",
    types=[t.RUN_SERVICE],
)
def api_enforces(r: Resource, ctx: RuleContext) -> Iterator[str]:
    containers = [c for _path, c in values_at(r.props, "template.containers[]")]
    known = all(isinstance(c, dict) and is_known(c.get("envs")) for c in containers)
    if not _wanted(ctx) or not containers or not known:
        return  # nothing to judge (yet: a preview's unknown template)
    envs = [env for _path, env in values_at(r.props, "template.containers[].envs[]") if isinstance(env, dict)]
    values = [env.get("value") for env in envs if env.get("name") == API_SETTING]
    if not values:
        yield f"{API_SETTING} is not set: the app refuses to start in prod without enforce"
    for value in values:
        if is_known(value) and value != "enforce":
            yield f"{API_SETTING}={value!r}; {ctx.environment} enforces App Check"
