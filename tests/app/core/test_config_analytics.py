"""The analytics settings: dev and prod need their own pseudonym key and their own topic."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from app.core.config import BUILT_IN_ANALYTICS_KEY, Settings
from tests.app.core.settings_env import DEV, PROD, use_prod_env

pytestmark = pytest.mark.unit


def test_local_and_test_use_the_built_in_key_and_may_leave_analytics_off() -> None:
    settings = Settings(environment="test")
    assert settings.analytics_key == base64.b64decode(BUILT_IN_ANALYTICS_KEY)
    assert settings.analytics_topic == ""
    assert settings.analytics_outbox_max == 100_000


def test_a_deployed_stack_uses_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_prod_env(monkeypatch)
    assert Settings().analytics_key == base64.b64decode(PROD["POG_ANALYTICS_PSEUDONYM_KEY"])


@pytest.mark.parametrize("key", [None, BUILT_IN_ANALYTICS_KEY])
def test_dev_and_prod_refuse_the_built_in_key(monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    use_prod_env(monkeypatch, leave_out=["POG_ANALYTICS_PSEUDONYM_KEY"])
    if key is not None:
        monkeypatch.setenv("POG_ANALYTICS_PSEUDONYM_KEY", key)
    with pytest.raises(ValidationError, match="POG_ANALYTICS_PSEUDONYM_KEY is required in prod"):
        Settings()
    values = {**DEV, "analytics_pseudonym_key": key}
    with pytest.raises(ValidationError, match="POG_ANALYTICS_PSEUDONYM_KEY is required in dev"):
        Settings(environment="dev", realtime_database_urls="https://x-default-rtdb.firebaseio.com", **values)


@pytest.mark.parametrize(
    "topic",
    ["", "projects/pot-of-gold-prod/topics/pog-dev-analytics", "projects/pot-of-gold-prod/topics/events"],
)
def test_prod_needs_its_own_topic(monkeypatch: pytest.MonkeyPatch, topic: str) -> None:
    use_prod_env(monkeypatch)
    monkeypatch.setenv("POG_ANALYTICS_TOPIC", topic)
    with pytest.raises(
        ValidationError, match="POG_ANALYTICS_TOPIC must be projects/<project id>/topics/pog-prod"
    ):
        Settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("analytics_pseudonym_key", "not base64!", "POG_ANALYTICS_PSEUDONYM_KEY is not valid base64"),
        ("analytics_pseudonym_key", base64.b64encode(b"short").decode(), "must decode to 32 bytes, got 5"),
        ("analytics_topic", "pog-test-analytics", "is not a Pub/Sub topic path"),
        ("analytics_outbox_max", "10", "analytics_outbox_max"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(environment="test", **{name: value})  # type: ignore[arg-type]
