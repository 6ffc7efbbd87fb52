"""Settings from the environment (prefix ``POG_``), validated once at start-up.

In ``prod`` the app refuses to start when an emulator variable is set or a required secret is missing;
the error names the variable.
"""

from __future__ import annotations

import json
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any, Literal

from limits import parse as parse_limit
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Network = IPv4Network | IPv6Network

#: Secrets the API needs in prod (Secret Manager injects them on Cloud Run: infra/stacks/foundation.py).
PROD_REQUIRED_SECRETS = ("POG_REDIS_URL", "POG_SENTRY_DSN")
EMULATOR_VARIABLES = ("FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST")


class SettingsError(ValueError):
    """A configuration the app must not start with."""


def _networks(value: Any) -> Any:
    """Accept a JSON list (what the Cloud Run stack writes) or a comma-separated string."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POG_", extra="ignore", frozen=True)

    environment: Literal["dev", "test", "prod"] = "dev"
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    firebase_project_id: str = Field(default="demo-pot-of-gold", min_length=1)
    sentry_dsn: SecretStr | None = None
    admin_ip_allowlist: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    #: ``limits`` notation, e.g. "120/minute" or "10/second;600/hour".
    rate_limit_user: str = "120/minute"
    rate_limit_ip: str = "600/minute"
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    #: Ask Firebase whether the token was revoked (one Identity Toolkit call per request).
    auth_check_revoked: bool = True
    profile_cache_ttl_s: int = Field(default=24 * 3600, ge=1)
    inventory_cache_ttl_s: int = Field(default=5 * 60, ge=1)
    #: Firestore database holding /games (phase 2+ moves games to their own database).
    games_database: str = Field(default="(default)", min_length=1)
    #: Redis socket (connect and read) timeout: a slow Redis costs a request at most this per call.
    redis_timeout_ms: int = Field(default=200, ge=10, le=5000)
    #: Consecutive Redis failures that open the breaker; seconds it stays open before a trial call.
    redis_breaker_threshold: int = Field(default=5, ge=1)
    redis_breaker_recovery_s: float = Field(default=10.0, gt=0)
    #: Direct peers allowed to read /metrics (a sidecar collector on the instance's loopback).
    metrics_allowlist: Annotated[list[Network], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.0/8"), ip_network("::1/128")]
    )
    #: One JSON object per log line on stdout (Cloud Logging's structured format); off: stdlib default.
    log_json: bool = True
    #: Google's own variables, read without the prefix.
    firestore_emulator_host: str | None = Field(
        default=None, validation_alias=AliasChoices("FIRESTORE_EMULATOR_HOST")
    )
    firebase_auth_emulator_host: str | None = Field(
        default=None, validation_alias=AliasChoices("FIREBASE_AUTH_EMULATOR_HOST")
    )

    @field_validator("admin_ip_allowlist", "trusted_proxies", "metrics_allowlist", mode="before")
    @classmethod
    def _parse_networks(cls, value: Any) -> Any:
        return _networks(value)

    @field_validator("admin_ip_allowlist", "trusted_proxies", "metrics_allowlist")
    @classmethod
    def _strict_networks(cls, value: list[Network]) -> list[Network]:
        return [ip_network(str(net), strict=False) for net in value]

    @field_validator("rate_limit_user", "rate_limit_ip")
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        parse_limit(value)  # raises ValueError naming the bad notation
        return value

    @model_validator(mode="after")
    def _prod_guard(self) -> Settings:
        if self.environment != "prod":
            return self
        for name in EMULATOR_VARIABLES:
            if getattr(self, name.lower()):
                raise SettingsError(f"{name} is set: emulators are for dev and test; unset it in prod")
        missing = [
            name
            for name in PROD_REQUIRED_SECRETS
            if name.removeprefix("POG_").lower() not in self.model_fields_set
        ]
        if missing:
            raise SettingsError(f"required secret(s) missing in prod: {', '.join(missing)}")
        if self.firebase_project_id.startswith("demo-"):
            raise SettingsError("POG_FIREBASE_PROJECT_ID must name the real project in prod, not a demo- one")
        if not self.auth_check_revoked:
            raise SettingsError("POG_AUTH_CHECK_REVOKED must stay true in prod")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
