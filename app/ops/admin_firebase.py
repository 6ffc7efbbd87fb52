"""Firebase Auth of one project for ``pog admin`` (app/ops/admin_cli.py): custom claims through
``firebase_admin.auth`` (``get_user``, ``set_custom_user_claims``, ``revoke_refresh_tokens``).

The enrolled second factors are not in the SDK: the Python Admin SDK's ``UserRecord`` has no multi-factor
property (firebase/firebase-admin-python#611, open), so ``second_factors`` reads them from the Identity
Toolkit API's ``projects/{project}/accounts:lookup`` (each user's ``mfaInfo``), the endpoint the SDK's
``get_user`` calls, with the same credential (the emulator's ``owner`` token under
``FIREBASE_AUTH_EMULATOR_HOST``, as the SDK sends it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import firebase_admin
import google.oauth2.credentials
from firebase_admin import auth, credentials
from google.auth.transport.requests import AuthorizedSession

from app.core.firebase_auth import AnonymousCredential
from app.ops.admin_roles import RoleError

IDENTITY_TOOLKIT = "https://identitytoolkit.googleapis.com/v1"
#: The emulator's admin token (firebase_admin sends the same under FIREBASE_AUTH_EMULATOR_HOST).
EMULATOR_TOKEN = "owner"
LOOKUP_TIMEOUT_S = 30


class FirebaseUsers:
    """Firebase Auth of one project, through its own firebase_admin app (deleted by ``close``)."""

    def __init__(self, project: str, emulator_host: str | None) -> None:
        cred: credentials.Base = AnonymousCredential() if emulator_host else credentials.ApplicationDefault()
        self._project = project
        self._emulator_host = emulator_host
        self._app = firebase_admin.initialize_app(
            cred, {"projectId": project}, name=f"pog-ops-admin-{uuid.uuid4().hex}"
        )

    def close(self) -> None:
        firebase_admin.delete_app(self._app)

    def claims(self, uid: str) -> dict[str, Any]:
        """The user's custom claims; ``RoleError`` for a uid with no user."""
        try:
            user = auth.get_user(uid, app=self._app)
        except auth.UserNotFoundError:
            raise RoleError(f"no Firebase Auth user with uid {uid!r} in project {self._project}") from None
        except ValueError as exc:  # the SDK's own uid check (1 to 128 characters)
            raise RoleError(f"{uid!r} is not a Firebase Auth uid: {exc}") from None
        found = user.custom_claims
        return dict(found) if isinstance(found, dict) else {}

    def second_factors(self, uid: str) -> list[dict[str, Any]]:
        """The second factors the user has enrolled (``mfaInfo`` entries: phone or TOTP)."""
        if self._emulator_host:
            base = f"http://{self._emulator_host}/identitytoolkit.googleapis.com/v1"
            cred: Any = google.oauth2.credentials.Credentials(token=EMULATOR_TOKEN)  # type: ignore[no-untyped-call]
        else:
            base = IDENTITY_TOOLKIT
            cred = self._app.credential.get_credential()
        with AuthorizedSession(cred) as session:  # type: ignore[no-untyped-call]
            response = session.post(
                f"{base}/projects/{self._project}/accounts:lookup",
                json={"localId": [uid]},
                timeout=LOOKUP_TIMEOUT_S,
            )
        if response.status_code != 200:
            raise RoleError(
                f"cannot read the second factors of {uid!r}: Identity Toolkit answered "
                f"{response.status_code} {response.text[:200]!r}"
            )
        users = response.json().get("users") or []
        return [dict(factor) for user in users for factor in user.get("mfaInfo") or []]

    def set_claims(self, uid: str, claims: Mapping[str, Any]) -> None:
        auth.set_custom_user_claims(uid, dict(claims) or None, app=self._app)

    def revoke_refresh_tokens(self, uid: str) -> None:
        auth.revoke_refresh_tokens(uid, app=self._app)
