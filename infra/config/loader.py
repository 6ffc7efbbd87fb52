"""Read and validate a stack's config: every problem at once, each naming the key, the value and the fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from infra.config.rules import SECRET_KEYS, conflicts, secret_problems
from infra.config.settings import StackSettings, set_hint
from infra.config.stack import NAMESPACE, StackConfig, key

# Where the keys are described, for the "not a known key" message.
CONFIG_REFERENCE = "the config reference in docs/stacks.md"


class ConfigError(pulumi.RunError):
    """Raised before any resource is declared; ``pulumi`` prints it without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"stack configuration has {len(problems)} problem(s):\n{lines}")


def _problem(error: ErrorDetails) -> str:
    """One pydantic error as the user reads it: the key as in Pulumi.<stack>.yaml first."""
    name = str(error["loc"][0])
    if field := StackSettings.model_fields.get(name):  # a default's error is located by field name
        name = field.alias or name
    if error["type"] == "missing":
        return f"{key(name)} is required: `pulumi config set {key(name)} {set_hint(name)}`"
    if error["type"] == "extra_forbidden":
        return f"{key(name)} is not a known key (typo?); see {CONFIG_REFERENCE}"
    if error["type"] == "stack_config":  # our own checks (values.py): the text reads after the key
        text = error["msg"]
        return f"{key(name)}{text}" if text.startswith(":") else f"{key(name)} {text}"
    return f"{key(name)}: {error['msg']}; got {error['input']!r}"


def parse(values: Mapping[str, str], secrets: Mapping[str, pulumi.Input[str]]) -> StackConfig:
    """Validate raw config strings (as ``pulumi config`` stores them) into a StackConfig.

    ``values`` holds the plain keys without namespace; ``secrets`` the secure ones that are set.
    Empty strings are unset (the project schema's defaults arrive as ""). Each key is checked on
    its own first; the rules between keys (rules.py) run once every key holds a valid value.
    """
    plain: dict[str, Any] = {k: v for k, v in values.items() if v != "" and k not in SECRET_KEYS}
    problems = secret_problems(values, secrets)
    try:
        settings = StackSettings.model_validate(plain)
    except ValidationError as exc:
        raise ConfigError([*map(_problem, exc.errors()), *problems]) from None
    problems = [*conflicts(settings, secrets), *problems]
    if problems:
        raise ConfigError(problems)
    return StackConfig(
        environment=settings.environment,
        phase=settings.phase,
        gcp_project=settings.gcp_project,
        region=settings.region,
        failover_regions=settings.failover_regions[:2] if settings.phase == 3 else (),
        firestore_location=settings.firestore_location,
        backup_region=settings.backup_region or settings.region,
        domain=settings.domain,
        api_hostname=settings.api_hostname,
        cloudflare_zone_id=settings.cloudflare_zone_id,
        cloudflare_account_id=settings.cloudflare_account_id,
        alert_emails=settings.alert_emails,
        admin_ip_allowlist=settings.admin_ip_allowlist,
        app_image=settings.app_image,
        redis_payment_method_id=settings.redis_cloud_payment_method_id,
        billing_account=settings.billing_account,
        cloudflare_api_token=secrets["cloudflareApiToken"],
        redis_cloud_api_key=secrets["redisCloudApiKey"],
        redis_cloud_secret_key=secrets["redisCloudSecretKey"],
        pagerduty_service_key=secrets.get("pagerdutyServiceKey"),
        ci_workload_identity_pool=settings.ci_workload_identity_pool,
        ci_repository=settings.ci_repository,
    )


def load() -> StackConfig:
    """Read this stack's config through the Pulumi runtime and validate it."""
    from pulumi.runtime.config import CONFIG, get_config_env, is_config_secret

    config = pulumi.Config(NAMESPACE)
    prefix = NAMESPACE + ":"
    present = {k[len(prefix) :] for k in [*CONFIG.get(), *get_config_env()] if k.startswith(prefix)}
    secret_names = set(SECRET_KEYS)
    # Unknown keys and secrets stored in plain text reach parse() as plain values so it can name them.
    # Empty strings are schema defaults (backupRegion, pagerdutyServiceKey): parse() treats them as unset.
    values = {
        name: config.get(name) or ""
        for name in present
        if name not in secret_names or not is_config_secret(prefix + name)
    }
    secrets: dict[str, pulumi.Input[str]] = {
        name: secret
        for name in SECRET_KEYS
        if is_config_secret(prefix + name) and (secret := config.get_secret(name)) is not None
    }
    return parse(values, secrets)
