"""Settings from the environment (prefix ``POG_``), validated once at start-up.

In ``prod`` the app refuses to start when an emulator variable is set or a required secret is missing;
the error names the variable.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated, Any, Literal

from limits import parse as parse_limit
from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Network = IPv4Network | IPv6Network

#: Secrets the API needs in prod (Secret Manager injects them on Cloud Run: infra/stacks/foundation.py).
PROD_REQUIRED_SECRETS = (
    "POG_REDIS_URL",
    "POG_SENTRY_DSN",
    "POG_STRIPE_API_KEY",
    "POG_STRIPE_WEBHOOK_SECRET",
    "POG_REVENUECAT_API_KEY",
    "POG_REVENUECAT_WEBHOOK_AUTH",
    "POG_AUDIT_KMS_KEY",
    "POG_AUDIT_WRAPPED_KEY",
)
#: Environments the stacks deploy; the others (local, test) run on a developer's machine or in CI.
DEPLOYED_ENVIRONMENTS = ("dev", "prod")
EMULATOR_VARIABLES = ("FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST")
#: Share of requests traced (Cloud Trace and Sentry's transactions) unless set: none on a developer's
#: machine or in CI (no tracer, no cost); every request in dev (little traffic, and whole paths to debug);
#: 1 in 20 in prod, which still gives thousands of traces per route per hour at the expected load while
#: keeping Cloud Trace's span bill and the recording cost per request small (docs/operations.md#traces).
DEFAULT_TRACE_SAMPLING: dict[str, float] = {"local": 0.0, "test": 0.0, "dev": 1.0, "prod": 0.05}


class SettingsError(ValueError):
    """A configuration the app must not start with."""


#: A Firestore database id (Google's rule) or the default database.
DATABASE_ID = re.compile(r"^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$")
#: The analytics topic's full path (Pub/Sub's own rules for the project and the topic id).
ANALYTICS_TOPIC = re.compile(
    r"^projects/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/topics/(?P<topic>[A-Za-z][\w.~+%-]{2,254})$"
)
#: The pseudonym key of local runs and tests: public, so the pseudonyms it makes are not secret (dev and prod
#: refuse it). Base64 of 32 bytes, like the key a stack's secret holds.
BUILT_IN_ANALYTICS_KEY = base64.b64encode(b"pot-of-gold-local-analytics-key!").decode()
ANALYTICS_KEY_BYTES = 32
#: A Realtime Database instance's URL (no path: the app addresses every node from the root).
REALTIME_URL = re.compile(
    r"^https://[a-z0-9][a-z0-9-]{4,61}[a-z0-9](\.[a-z0-9-]+)?\.(firebasedatabase\.app|firebaseio\.com)/?$"
)
#: firebase_admin's emulator form (local runs and tests): requests go to that host with ``?ns=NAME``.
FAKE_REALTIME_URL = re.compile(r"^http://(127\.0\.0\.1|localhost):\d{1,5}/\?ns=[a-z0-9][a-z0-9-]*$")


def _string_list(value: Any) -> Any:
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

    #: No default: a lost ``POG_ENVIRONMENT`` must not turn prod into anything else (start-up fails instead).
    #: ``local`` is a developer's own run (scripts/run_local.py) and ``test`` the test suite: only they may
    #: use the built-in audit key; ``dev`` and ``prod`` are the deployed stacks.
    environment: Literal["local", "test", "dev", "prod"]
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    #: ``redis_url`` names a node of a Redis Cluster (phase 2's OSS Cluster API): use the cluster client.
    redis_cluster: bool = False
    firebase_project_id: str = Field(default="demo-pot-of-gold", min_length=1)
    sentry_dsn: SecretStr | None = None
    admin_ip_allowlist: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    #: X-Forwarded-For entries our own load balancer appends after the address it was connected from
    #: (Google's external Application Load Balancer: 1, its own address). 0: use the socket's peer.
    forwarded_for_hops: int = Field(default=0, ge=0, le=8)
    #: ``limits`` notation, e.g. "120/minute" or "10/second;600/hour".
    rate_limit_user: str = "120/minute"
    rate_limit_ip: str = "600/minute"
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    #: Ask Firebase whether the token was revoked (an Identity Toolkit call per check).
    auth_check_revoked: bool = True
    #: With ``auth_check_revoked``: how long this process trusts a token it has checked before asking
    #: again. 0 asks on every request; N lets a revocation or a disabled account take up to N seconds to
    #: reach a token this instance has already seen (a new token or instance always asks first).
    auth_revocation_check_interval_s: int = Field(default=0, ge=0, le=300)
    #: Firebase App Check on the sensitive routes (app/api/app_check.py): ``monitor`` verifies, counts and
    #: logs but lets every request through; ``enforce`` refuses a missing, invalid or replayed token (prod
    #: allows nothing else); ``off`` skips the check.
    app_check: Literal["off", "monitor", "enforce"] = "monitor"
    profile_cache_ttl_s: int = Field(default=24 * 3600, ge=1)
    inventory_cache_ttl_s: int = Field(default=5 * 60, ge=1)
    stats_cache_ttl_s: int = Field(default=3600, ge=1)
    #: Firestore database holding /games (phase 2+ moves games to their own database).
    games_database: str = "(default)"
    #: Every database a finished game may be in (``games_database`` among them): in phase 3 every API
    #: region's (a player's games follow the region that served them), and after a promotion the earlier
    #: phase's, until its games' TTL. Leaderboard rebuilds and live event progress read them all.
    #: Empty: ``games_database`` alone.
    all_games_databases: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Redis socket (connect and read) timeout: a slow Redis costs a request at most this per call.
    redis_timeout_ms: int = Field(default=200, ge=10, le=5000)
    #: Consecutive Redis failures that open the breaker; seconds it stays open before a trial call.
    redis_breaker_threshold: int = Field(default=5, ge=1)
    redis_breaker_recovery_s: float = Field(default=10.0, gt=0)
    #: Seconds between two sweeps of the cache invalidations Redis refused (app/repositories/cache.py): the
    #: longest an instance that never saw Redis fail serves a copy cached before a write, once Redis is
    #: back. One Firestore query per instance per sweep (one document read when nothing is pending).
    cache_invalidation_sweep_s: float = Field(default=5.0, ge=0.2, le=300)
    #: Direct peers allowed to read /metrics (a sidecar collector on the instance's loopback).
    metrics_allowlist: Annotated[list[Network], NoDecode] = Field(
        default_factory=lambda: [ip_network("127.0.0.0/8"), ip_network("::1/128")]
    )
    #: After startup, collect once and freeze what is left (``gc.freeze``): full collections under load
    #: then skip the SDKs' and the app's long-lived objects (a 40-70 ms pause each, about every few
    #: thousand requests). Off in the test suite, which starts hundreds of apps in one process.
    gc_freeze_after_startup: bool = True
    #: One JSON object per log line on stdout (Cloud Logging's structured format); off: stdlib default.
    log_json: bool = True
    #: Share of requests traced to Cloud Trace (app/core/tracing.py, docs/operations.md#traces) when the
    #: caller did not decide (a sampled traceparent or X-Cloud-Trace-Context is followed). Unset: the
    #: environment's default, ``DEFAULT_TRACE_SAMPLING``. 0 starts no tracer at all.
    trace_sample_ratio: float | None = Field(default=None, ge=0, le=1)
    #: Share of requests Sentry records as transactions (its performance view), sampled by Sentry itself,
    #: independently of ``trace_sample_ratio``. Unset: the environment's default, as above.
    sentry_traces_sample_rate: float | None = Field(default=None, ge=0, le=1)
    #: Leaderboards (app/domain/leaderboards.py): score rules per board, e.g. "daily:global=incr"
    #: (default: every board keeps each player's best); the live stream's push interval.
    leaderboard_rules: str = ""
    leaderboard_stream_interval_s: float = Field(default=30.0, gt=0, le=300)
    #: Live boards through the CDN (docs/game-api.md#live-boards-through-the-cdn): the published versions
    #: kept per page, one per interval at most (20 x 30 s: a client up to 10 minutes behind catches up by
    #: segments). At least 2: a segment joins two of them.
    leaderboard_live_keep: int = Field(default=20, ge=2, le=200)
    #: The Realtime Database shards (docs/realtime.md), shard 0 first: comma-separated or a JSON list.
    #: Required in dev and prod (https); local runs and tests may name a fake with the SDK's emulator form
    #: ``http://127.0.0.1:PORT/?ns=NAME``, or leave it empty: presence and messages are then off.
    realtime_database_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Payments (app/services/payments.py). The Stripe webhook secret may list several (comma-separated)
    #: while a secret is rotated; a delivery signed with any of them is accepted.
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    #: Stripe Checkout (POST /v1/purchases/stripe/checkout): where Stripe sends the player after paying and
    #: after cancelling (Stripe fills in ``{CHECKOUT_SESSION_ID}``). Unset: web checkout answers 503.
    stripe_checkout_success_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    stripe_checkout_cancel_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    revenuecat_api_key: SecretStr | None = None
    #: The exact Authorization header value configured on RevenueCat's webhook.
    revenuecat_webhook_auth: SecretStr | None = None
    revenuecat_api_url: str = "https://api.revenuecat.com"
    #: Audit log encryption (app/core/crypto.py): a KMS-wrapped data key in prod, a local key otherwise.
    audit_kms_key: str | None = Field(
        default=None, pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$"
    )
    audit_wrapped_key: SecretStr | None = None
    #: Base64 of 32 bytes; dev and test only.
    audit_local_key: SecretStr | None = None
    #: Older data keys, still opening the entries they sealed after a rotation: wrapped by
    #: ``audit_kms_key`` when it is set, else base64 keys (runbooks/procedures/audit-key-rotation.md).
    audit_previous_wrapped_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    #: Signs the audit chains' heads (app/core/signing.py): a Cloud KMS EC_SIGN_P256_SHA256 key *version*.
    audit_signing_key: str | None = Field(
        default=None,
        pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+/cryptoKeyVersions/\d+$",
    )
    #: A PEM P-256 private key that signs the heads in local runs and tests (a built-in one when unset).
    audit_local_signing_key: SecretStr | None = None
    #: The Cloud Storage bucket of the audit anchors (``pog audit anchor``, ``pog audit verify``).
    audit_anchor_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
    #: Fraud checks (app/domain/fraud.py): velocity windows in ``limits`` notation, then patterns.
    fraud_purchase_limit_user: str = "5/hour;20/day"
    fraud_purchase_limit_ip: str = "20/hour"
    fraud_refund_limit_user: str = "2/day"
    fraud_claim_limit_user: str = "30/hour"
    fraud_claim_limit_ip: str = "200/hour"
    #: Hold a purchase whose list price is more than this many times the player's average purchase.
    fraud_amount_factor: float = Field(default=10.0, gt=1)
    #: Hold purchases of a player whose refunds / purchases exceed this (after ``fraud_min_history``).
    fraud_refund_ratio: float = Field(default=0.3, gt=0, le=1)
    fraud_min_history: int = Field(default=3, ge=1)
    #: Hold a purchase whose country differs from the profile's country.
    fraud_country_check: bool = True
    #: Base URL that FCM calls go to instead of Google (a local fake); dev and test only. Unset outside prod:
    #: push notifications are off (device tokens are still kept).
    fcm_endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    #: Analytics (docs/analytics-events.md): the HMAC key of the players' pseudonyms (base64 of 32 bytes;
    #: local and test fall back to a built-in one), the Pub/Sub topic the events go to (empty: analytics
    #: off, local and test only) and the most events the outbox keeps while Pub/Sub is unreachable.
    analytics_pseudonym_key: SecretStr | None = None
    analytics_topic: str = ""
    analytics_outbox_max: int = Field(default=100_000, ge=100, le=10_000_000)
    #: Google's own variables, read without the prefix.
    firestore_emulator_host: str | None = Field(
        default=None, validation_alias=AliasChoices("FIRESTORE_EMULATOR_HOST")
    )
    firebase_auth_emulator_host: str | None = Field(
        default=None, validation_alias=AliasChoices("FIREBASE_AUTH_EMULATOR_HOST")
    )

    @field_validator(
        "admin_ip_allowlist",
        "trusted_proxies",
        "metrics_allowlist",
        "all_games_databases",
        "audit_previous_wrapped_keys",
        "realtime_database_urls",
        mode="before",
    )
    @classmethod
    def _parse_lists(cls, value: Any) -> Any:
        return _string_list(value)

    @field_validator("games_database", "all_games_databases")
    @classmethod
    def _database_ids(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        bad = [name for name in names if not DATABASE_ID.match(name)]
        if bad:
            raise ValueError(
                f"{bad} are not Firestore database ids: 4-63 lowercase letters, digits and '-', starting "
                "with a letter and ending with a letter or digit, or (default)"
            )
        return value if isinstance(value, str) else list(dict.fromkeys(value))

    @field_validator("admin_ip_allowlist", "trusted_proxies", "metrics_allowlist")
    @classmethod
    def _strict_networks(cls, value: list[Network]) -> list[Network]:
        return [ip_network(str(net), strict=False) for net in value]

    @field_validator(
        "rate_limit_user",
        "rate_limit_ip",
        "fraud_purchase_limit_user",
        "fraud_purchase_limit_ip",
        "fraud_refund_limit_user",
        "fraud_claim_limit_user",
        "fraud_claim_limit_ip",
    )
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        parse_limit(value)  # raises ValueError naming the bad notation
        return value

    @field_validator("realtime_database_urls")
    @classmethod
    def _realtime_urls(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # ``environment`` is declared first, so it is validated (or missing) by now.
        deployed = info.data.get("environment") in DEPLOYED_ENVIRONMENTS
        fake_ok = not deployed
        bad = [u for u in value if not (REALTIME_URL.match(u) or (fake_ok and FAKE_REALTIME_URL.match(u)))]
        if bad:
            allowed = "https://<instance>.<region>.firebasedatabase.app or https://<instance>.firebaseio.com"
            if fake_ok:
                allowed += ", or a fake at http://127.0.0.1:PORT/?ns=NAME"
            raise ValueError(f"{bad} are not Realtime Database URLs: use {allowed}")
        # The same database with or without the trailing slash is one shard, and clients get one spelling.
        urls = [url.rstrip("/") if url.startswith("https://") else url for url in value]
        if len(set(urls)) != len(urls):
            raise ValueError(f"a database is listed twice: {urls}")
        return urls

    @model_validator(mode="after")
    def _own_games_database_listed(self) -> Settings:
        listed = self.all_games_databases
        if listed and self.games_database not in listed:
            raise SettingsError(
                f"POG_ALL_GAMES_DATABASES {listed} leaves out POG_GAMES_DATABASE "
                f"{self.games_database!r}: list every database a game may be in, this one included"
            )
        return self

    @property
    def deployed(self) -> bool:
        """Running in a stack (dev or prod): Google's clients use the runtime's credentials."""
        return self.environment in DEPLOYED_ENVIRONMENTS

    @property
    def trace_sampling(self) -> float:
        """``trace_sample_ratio``, or the environment's default."""
        if self.trace_sample_ratio is not None:
            return self.trace_sample_ratio
        return DEFAULT_TRACE_SAMPLING[self.environment]

    @property
    def sentry_traces_sampling(self) -> float:
        """``sentry_traces_sample_rate``, or the environment's default."""
        if self.sentry_traces_sample_rate is not None:
            return self.sentry_traces_sample_rate
        return DEFAULT_TRACE_SAMPLING[self.environment]

    @property
    def databases_with_games(self) -> list[str]:
        """Every database to read a player's or a period's finished games from."""
        return self.all_games_databases or [self.games_database]

    @model_validator(mode="after")
    def _deployed_audit_key(self) -> Settings:
        if self.environment not in DEPLOYED_ENVIRONMENTS:
            return self
        if self.audit_kms_key and self.audit_wrapped_key is not None:
            return self
        if self.environment == "dev" and self.audit_local_key is not None:
            return self
        raise SettingsError(
            f"POG_AUDIT_KMS_KEY and POG_AUDIT_WRAPPED_KEY are required in {self.environment}: the built-in "
            "audit key is for POG_ENVIRONMENT=local and test only (set both, or POG_AUDIT_LOCAL_KEY in dev)"
        )

    @model_validator(mode="after")
    def _prod_guard(self) -> Settings:
        if self.environment != "prod":
            return self
        for name in EMULATOR_VARIABLES:
            if getattr(self, name.lower()):
                raise SettingsError(f"{name} is set: emulators are for dev and test; unset it in prod")
        if self.fcm_endpoint is not None:
            raise SettingsError("POG_FCM_ENDPOINT is set: a fake FCM endpoint is for dev and test only")
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
        if self.app_check != "enforce":
            raise SettingsError(f"POG_APP_CHECK must be enforce in prod, not {self.app_check!r}")
        if self.audit_signing_key is None or self.audit_local_signing_key is not None:
            raise SettingsError(
                "POG_AUDIT_SIGNING_KEY (a Cloud KMS key version) signs the audit chain heads in prod, and "
                "POG_AUDIT_LOCAL_SIGNING_KEY must be unset"
            )
        return self

    @field_validator("analytics_pseudonym_key")
    @classmethod
    def _analytics_key_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _analytics_key(value.get_secret_value())  # raises naming the variable
        return value

    @field_validator("analytics_topic")
    @classmethod
    def _analytics_topic_path(cls, value: str) -> str:
        if value and not ANALYTICS_TOPIC.match(value):
            raise ValueError(
                f"{value!r} is not a Pub/Sub topic path: use "
                "projects/<project id>/topics/pog-<environment>-analytics"
            )
        return value

    @model_validator(mode="after")
    def _deployed_analytics(self) -> Settings:
        if self.environment not in DEPLOYED_ENVIRONMENTS:
            return self
        key = self.analytics_pseudonym_key
        if key is None or key.get_secret_value() == BUILT_IN_ANALYTICS_KEY:
            raise SettingsError(
                f"POG_ANALYTICS_PSEUDONYM_KEY is required in {self.environment}: the built-in pseudonym key "
                "is for POG_ENVIRONMENT=local and test only (set the stack's secret: 32 random bytes, base64)"
            )
        expected = f"pog-{self.environment}-analytics"
        found = ANALYTICS_TOPIC.match(self.analytics_topic)
        if found is None or found["topic"] != expected:
            raise SettingsError(
                f"POG_ANALYTICS_TOPIC must be projects/<project id>/topics/{expected} in {self.environment}, "
                f"not {self.analytics_topic!r} (empty turns analytics off: local and test only)"
            )
        return self

    @property
    def analytics_key(self) -> bytes:
        """The pseudonyms' HMAC key: the configured one, or the built-in one (local and test only)."""
        key = self.analytics_pseudonym_key
        return _analytics_key(key.get_secret_value() if key is not None else BUILT_IN_ANALYTICS_KEY)

    @model_validator(mode="after")
    def _realtime_required(self) -> Settings:
        if self.environment in DEPLOYED_ENVIRONMENTS and not self.realtime_database_urls:
            raise SettingsError(
                f"POG_REALTIME_DATABASE_URLS is required in {self.environment}: the stack's Realtime "
                "Database URLs, shard 0 first (presence and messages run on them; only local and test may "
                "leave it empty)"
            )
        return self


def _analytics_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("POG_ANALYTICS_PSEUDONYM_KEY is not valid base64") from exc
    if len(key) != ANALYTICS_KEY_BYTES:
        raise ValueError(
            f"POG_ANALYTICS_PSEUDONYM_KEY must decode to {ANALYTICS_KEY_BYTES} bytes, got {len(key)} "
            "(make one with: head -c 32 /dev/urandom | base64)"
        )
    return key


def read_settings() -> Settings:
    """The settings from the ``POG_*`` environment variables, validated."""
    # The variables fill the required fields; mypy's pydantic plugin sees only the missing arguments.
    return Settings()  # type: ignore[call-arg]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return read_settings()
