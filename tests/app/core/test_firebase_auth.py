"""Which credentials the firebase_admin App of the token checks uses (app/core/firebase_auth.py)."""

from __future__ import annotations

import base64

import pytest
from firebase_admin import credentials

from app.core.config import Settings
from app.core.firebase_auth import HTTP_TIMEOUT_S, AnonymousCredential, TokenVerifier
from tests.app.core.settings_env import DEV

pytestmark = pytest.mark.unit

LOCAL_KEY = base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize(
    ("environment", "expected"),
    [("dev", credentials.ApplicationDefault), ("local", AnonymousCredential), ("test", AnonymousCredential)],
)
def test_a_deployed_stack_asks_google_as_its_runtime_account(
    environment: str, expected: type[credentials.Base]
) -> None:
    """Failed before issue 18: deployed dev used anonymous credentials, so its revocation checks (and App
    Check's token consumption) could not authenticate to Google."""
    # Deployed dev also needs its Realtime Database shards named (unused here).
    urls = ["https://demo-default-rtdb.firebaseio.com"] if environment == "dev" else []
    # And its analytics key and topic.
    analytics = {k: v for k, v in DEV.items() if k.startswith("analytics_")} if environment == "dev" else {}
    settings = Settings(
        environment=environment,  # type: ignore[arg-type]
        audit_local_key=LOCAL_KEY,
        realtime_database_urls=urls,
        **analytics,
    )
    verifier = TokenVerifier(settings)
    try:
        assert isinstance(verifier.app.credential, expected)
        assert verifier.app.options.get("httpTimeout") == HTTP_TIMEOUT_S
    finally:
        verifier.close()
