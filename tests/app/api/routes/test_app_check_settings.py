"""``POG_APP_CHECK``: its values, and prod's guard (the setting of app/api/app_check.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from tests.app.core.settings_env import use_prod_env

pytestmark = pytest.mark.unit


@pytest.fixture
def prod_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return use_prod_env(monkeypatch)


def test_prod_starts_enforcing(prod_env: pytest.MonkeyPatch) -> None:
    assert Settings().app_check == "enforce"


@pytest.mark.parametrize("mode", ["monitor", "off"])
def test_prod_refuses_anything_but_enforce(prod_env: pytest.MonkeyPatch, mode: str) -> None:
    """Failed before issue 18: prod had no App Check setting at all (nothing was checked)."""
    prod_env.setenv("POG_APP_CHECK", mode)
    with pytest.raises(ValidationError, match="POG_APP_CHECK must be enforce in prod"):
        Settings()


def test_prod_refuses_a_missing_setting(prod_env: pytest.MonkeyPatch) -> None:
    """The default (monitor) is for dev and local runs: prod must say enforce."""
    prod_env.delenv("POG_APP_CHECK")
    with pytest.raises(ValidationError, match="POG_APP_CHECK"):
        Settings()


def test_monitor_by_default_and_unknown_modes_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POG_APP_CHECK", raising=False)
    assert Settings(environment="test").app_check == "monitor"
    with pytest.raises(ValidationError, match="app_check"):
        Settings(environment="test", app_check="strict")  # type: ignore[arg-type]
