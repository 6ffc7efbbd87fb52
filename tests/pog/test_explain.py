"""``app.ops.cli_errors.explain``: which client errors become which line (real exception objects)."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as api
from google.auth.exceptions import DefaultCredentialsError
from pydantic import ValidationError
from redis import exceptions as redis

from app.core.config import Settings
from app.ops.cli_errors import explain

pytestmark = pytest.mark.unit


def test_a_wrapped_credentials_error_is_found_through_its_cause() -> None:
    try:
        try:
            raise DefaultCredentialsError("not found")  # type: ignore[no-untyped-call]
        except DefaultCredentialsError as inner:
            raise RuntimeError("building the client failed") from inner
    except RuntimeError as outer:
        message = explain(outer)
    assert message is not None
    assert message.startswith("no Google credentials")


def _handled() -> None:
    try:
        raise DefaultCredentialsError("not found")  # type: ignore[no-untyped-call]
    except DefaultCredentialsError:
        raise KeyError("unrelated") from None


def test_a_handled_context_is_not_followed() -> None:
    with pytest.raises(KeyError) as caught:
        _handled()
    assert isinstance(caught.value.__context__, DefaultCredentialsError)
    assert explain(caught.value) is None


@pytest.mark.parametrize(
    ("exc", "start"),
    [
        (redis.ConnectionError("Error 111 connecting to 127.0.0.1:1"), "cannot reach Redis (Error 111"),
        (redis.AuthenticationError("invalid password"), "Redis refused the password"),
        (
            api.ServiceUnavailable("down"),  # type: ignore[no-untyped-call]
            "Firestore did not answer",
        ),
        (
            api.PermissionDenied("no"),  # type: ignore[no-untyped-call]
            "Google refused the request (no)",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
def test_client_errors(exc: Exception, start: str) -> None:
    message = explain(exc)
    assert message is not None
    assert message.startswith(start)


def test_a_bad_setting_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POG_REDIS_TIMEOUT_MS", "soon")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert explain(caught.value) == (
        "invalid setting POG_REDIS_TIMEOUT_MS: Input should be a valid integer, unable to parse string as"
        " an integer (fix the environment variable)"
    )


def test_a_bug_is_not_explained() -> None:
    assert explain(ValueError("a bug")) is None
