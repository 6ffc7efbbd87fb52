from __future__ import annotations

from ipaddress import ip_network

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from tests.app.core.settings_env import DEV, use_prod_env

pytestmark = pytest.mark.unit


@pytest.fixture
def prod_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return use_prod_env(monkeypatch)


def test_prod_starts_with_everything_set(prod_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.environment == "prod"
    assert settings.auth_check_revoked is True


@pytest.mark.parametrize("variable", ["FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST"])
def test_prod_refuses_emulator_variables(prod_env: pytest.MonkeyPatch, variable: str) -> None:
    prod_env.setenv(variable, "127.0.0.1:8080")
    with pytest.raises(ValidationError, match=variable):
        Settings()


@pytest.mark.parametrize("secret", ["POG_REDIS_URL", "POG_SENTRY_DSN"])
def test_prod_refuses_a_missing_secret(prod_env: pytest.MonkeyPatch, secret: str) -> None:
    prod_env.delenv(secret)
    with pytest.raises(ValidationError, match=secret):
        Settings()


def test_prod_refuses_a_demo_project(prod_env: pytest.MonkeyPatch) -> None:
    prod_env.setenv("POG_FIREBASE_PROJECT_ID", "demo-pot-of-gold")
    with pytest.raises(ValidationError, match="POG_FIREBASE_PROJECT_ID"):
        Settings()


def test_prod_refuses_skipping_the_revocation_check(prod_env: pytest.MonkeyPatch) -> None:
    prod_env.setenv("POG_AUTH_CHECK_REVOKED", "false")
    with pytest.raises(ValidationError, match="POG_AUTH_CHECK_REVOKED"):
        Settings()


def test_a_missing_environment_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed before issue 18: ``environment`` defaulted to dev, so a lost POG_ENVIRONMENT skipped every
    prod guard."""
    use_prod_env(monkeypatch, leave_out=["POG_ENVIRONMENT"])
    with pytest.raises(ValidationError, match="environment\n  Field required"):
        Settings()


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_a_deployed_environment_refuses_the_built_in_audit_key(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    """Failed before issue 18: dev (and prod, had the guard slipped) fell back to a key derived from a
    public string."""
    use_prod_env(monkeypatch, leave_out=["POG_AUDIT_WRAPPED_KEY"])
    monkeypatch.setenv("POG_ENVIRONMENT", environment)
    with pytest.raises(ValidationError, match="POG_AUDIT_KMS_KEY and POG_AUDIT_WRAPPED_KEY are required"):
        Settings()


def test_deployed_dev_may_use_its_own_local_audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POG_ENVIRONMENT", "dev")
    monkeypatch.setenv("POG_AUDIT_LOCAL_KEY", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
    monkeypatch.setenv("POG_REALTIME_DATABASE_URLS", "https://pot-of-gold-dev-default-rtdb.firebaseio.com")
    for name, value in DEV.items():
        if name.startswith("analytics_"):
            monkeypatch.setenv(f"POG_{name.upper()}", value)
    assert Settings().environment == "dev"


def test_local_accepts_emulators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POG_ENVIRONMENT", "local")
    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099")
    assert Settings().firebase_auth_emulator_host == "127.0.0.1:9099"


def test_unknown_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POG_ENVIRONMENT", "staging")
    with pytest.raises(ValidationError, match="environment"):
        Settings()


@pytest.mark.parametrize("raw", ['["203.0.113.0/24", "2001:db8::/32"]', "203.0.113.0/24, 2001:db8::/32"])
def test_ip_lists_from_json_or_commas(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("POG_ADMIN_IP_ALLOWLIST", raw)
    assert Settings().admin_ip_allowlist == [ip_network("203.0.113.0/24"), ip_network("2001:db8::/32")]


def test_bad_ip_list_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POG_TRUSTED_PROXIES", "not-an-ip")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings()


def test_bad_rate_limit_notation_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POG_RATE_LIMIT_USER", "lots")
    with pytest.raises(ValidationError, match="rate_limit_user"):
        Settings()


@pytest.mark.parametrize(
    "listed", ['["games-us-east4", "games-europe-west4"]', "games-us-east4, games-europe-west4"]
)
def test_every_regions_games_database_from_a_json_list_or_commas(
    monkeypatch: pytest.MonkeyPatch, listed: str
) -> None:
    monkeypatch.setenv("POG_GAMES_DATABASE", "games-europe-west4")
    monkeypatch.setenv("POG_ALL_GAMES_DATABASES", listed)
    assert Settings().databases_with_games == ["games-us-east4", "games-europe-west4"]


def test_the_rebuild_reads_the_own_games_database_when_no_list_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POG_GAMES_DATABASE", "games-europe-west4")
    monkeypatch.delenv("POG_ALL_GAMES_DATABASES", raising=False)
    assert Settings().databases_with_games == ["games-europe-west4"]


def test_a_games_database_list_without_the_own_database_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POG_GAMES_DATABASE", "games-europe-west4")
    monkeypatch.setenv("POG_ALL_GAMES_DATABASES", "games-us-east4")
    with pytest.raises(ValidationError, match=r"POG_ALL_GAMES_DATABASES .* leaves out POG_GAMES_DATABASE"):
        Settings()


@pytest.mark.parametrize("name", ["Games_EU", "g", "games-", "games/eu"])
def test_a_malformed_games_database_id_is_refused(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("POG_ALL_GAMES_DATABASES", f"(default),{name}")
    with pytest.raises(ValidationError, match="all_games_databases"):
        Settings()
    monkeypatch.delenv("POG_ALL_GAMES_DATABASES")
    monkeypatch.setenv("POG_GAMES_DATABASE", name)
    with pytest.raises(ValidationError, match="games_database"):
        Settings()
