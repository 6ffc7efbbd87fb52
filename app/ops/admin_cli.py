"""``pog admin grant-role UID ROLE --reason TEXT`` and ``pog admin revoke-role UID ROLE --reason TEXT``.

The ``role`` custom claim of a Firebase Auth user (app/ops/admin_roles.py), the only way to make an admin
(runbooks/procedures/first-admin.md). One change, in this order:

1. checks: ROLE is one the API knows, ``--reason`` says why, the user exists, and a user getting ``admin``
   has a second factor enrolled. A refusal changes nothing and writes nothing.
2. the audit entry, in the audit log's admin chain of the actor (``GrantService.admin_action``:
   ``/transactions/admin:{actor}:{seq}``, kind ``role_grant`` or ``role_revoke``, ``source_id``
   ``role:{ROLE}:{UID}``, ``reason``), written BEFORE the claim changes: a change is never unaudited. If
   the change then fails, a ``role_grant_failed`` / ``role_revoke_failed`` entry follows it.
3. the claim, the user's other custom claims kept as they are;
4. the user's refresh tokens revoked: their ID tokens stop working (the API checks revocation in prod), and
   the next sign-in yields a token with the new claim, instead of up to an hour later.

The actor is who made the change: ``--actor`` (or ``POG_OPS_ACTOR``), the operator's e-mail address; when
neither is given, the service account e-mail of the Application Default Credentials (a Cloud Run job, CI).
Personal user credentials do not name their account offline, so a person passes ``--actor``. The Google
identity that actually called Firebase Auth is in Cloud Audit Logs as well.

Settings are the app's (``POG_FIREBASE_PROJECT_ID``, ``FIRESTORE_EMULATOR_HOST``,
``FIREBASE_AUTH_EMULATOR_HOST``, the audit key settings); ``--project`` overrides the project. Every
failure prints one ``error:`` line on stderr and exits 1.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from app.ops.admin_roles import NEEDS_SECOND_FACTOR, ROLES, RoleChange, RoleError, plan_change

if TYPE_CHECKING:
    from app.core.config import Settings
    from app.ops.admin_firebase import FirebaseUsers

admin_app = typer.Typer(
    name="admin", help="Roles of Firebase Auth users (the admin role), audited.", no_args_is_help=True
)

_ACTOR = re.compile(r"^[^\s/]{3,128}$")
MAX_REASON = 500


@admin_app.callback()
def admin() -> None:
    """Roles of Firebase Auth users: the custom claim ``role`` that admin routes need."""


Uid = Annotated[str, typer.Argument(help="The user's Firebase Auth uid.", show_default=False)]
Role = Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.", show_default=False)]
Reason = Annotated[
    str | None, typer.Option(help="Why (required): written to the audit log.", show_default=False)
]
Actor = Annotated[
    str | None,
    typer.Option(
        envvar="POG_OPS_ACTOR",
        help="Who makes the change, e.g. your e-mail (default: the credentials' service account).",
        show_default=False,
    ),
]
Project = Annotated[str | None, typer.Option(help="Firebase project (default: the settings').")]


@admin_app.command("grant-role")
def grant_role(
    uid: Uid, role: Role, reason: Reason = None, actor: Actor = None, project: Project = None
) -> None:
    """Give UID the role ROLE (admin: only with a second factor enrolled); audited, then the user's
    refresh tokens are revoked so that the role reaches their next sign-in."""
    _run(uid, role, reason, actor, project, grant=True)


@admin_app.command("revoke-role")
def revoke_role(
    uid: Uid, role: Role, reason: Reason = None, actor: Actor = None, project: Project = None
) -> None:
    """Take ROLE away from UID (other custom claims stay); audited, then the user's refresh tokens are
    revoked so that their tokens with the role stop working."""
    _run(uid, role, reason, actor, project, grant=False)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def _run(
    uid: str, role: str, reason: str | None, actor: str | None, project: str | None, *, grant: bool
) -> None:
    # Imported here: `pog` starts without loading the Google clients unless this command runs.
    from firebase_admin.exceptions import FirebaseError
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError
    from pydantic import ValidationError
    from requests import RequestException

    from app.core.crypto import CryptoError
    from app.repositories.errors import StoreError
    from app.services.errors import ServiceError

    try:
        for line in _change(uid, role, reason, actor, project, grant=grant):
            typer.echo(line)
    except RoleError as exc:
        _fail(str(exc))
    except ValidationError as exc:
        _fail(f"invalid settings: {exc.errors()[0].get('msg', exc)}")
    except (ServiceError, StoreError) as exc:
        _fail(f"the audit log could not be written: {exc.message}")
    except (FirebaseError, GoogleAPIError, GoogleAuthError, RequestException, CryptoError, OSError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")


def _checked(role: str, reason: str | None, actor: str | None) -> tuple[str, str | None]:
    if role not in ROLES:
        raise RoleError(f"unknown role {role!r}: the API knows {', '.join(ROLES)}")
    text = (reason or "").strip()
    if not text:
        raise RoleError("--reason is required: say why (it is written to the audit log)")
    if len(text) > MAX_REASON:
        raise RoleError(f"--reason is too long: at most {MAX_REASON} characters")
    if actor is not None and not _ACTOR.match(actor):
        raise RoleError("--actor must be 3 to 128 characters without spaces or '/', e.g. your e-mail")
    return text, actor


def _settings(project: str | None) -> Settings:
    from app.core.config import read_settings

    settings = read_settings()
    return settings.model_copy(update={"firebase_project_id": project}) if project else settings


def _credentials_actor() -> str:
    """The service account e-mail of the Application Default Credentials, or a ``RoleError``."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    ask = "pass --actor (your e-mail) or set POG_OPS_ACTOR"
    try:
        cred, _project = google.auth.default()
    except DefaultCredentialsError:
        raise RoleError(f"who is making this change? {ask}") from None
    email = getattr(cred, "service_account_email", None)
    if isinstance(email, str) and "@" in email and _ACTOR.match(email):
        return email
    raise RoleError(f"who is making this change? the credentials name no service account: {ask}")


def _change(
    uid: str, role: str, reason: str | None, actor: str | None, project: str | None, *, grant: bool
) -> list[str]:
    from app.ops.admin_firebase import FirebaseUsers

    why, given = _checked(role, reason, actor)
    who = given or _credentials_actor()
    settings = _settings(project)
    users = FirebaseUsers(settings.firebase_project_id, settings.firebase_auth_emulator_host)
    try:
        change = plan_change(users.claims(uid), uid, role, grant=grant)
        if not change.changes_anything:
            state = "already has" if grant else "does not have"
            return [f"{uid} {state} role {role}: nothing changed"]
        if grant and role in NEEDS_SECOND_FACTOR and not users.second_factors(uid):
            raise RoleError(
                f"{uid} has no second factor enrolled: {role} needs one. Have the user enrol one (TOTP or "
                "SMS, Firebase Auth multi-factor) and run this again (runbooks/procedures/first-admin.md)"
            )
        _audit(settings, who, change, f"role_{change.verb}", why)
        return _apply(settings, users, who, change)
    finally:
        users.close()


def _apply(settings: Settings, users: FirebaseUsers, who: str, change: RoleChange) -> list[str]:
    from firebase_admin.exceptions import FirebaseError

    uid, role = change.uid, change.role
    try:
        users.set_claims(uid, change.after)
    except (FirebaseError, ValueError) as exc:  # ValueError: the SDK's own checks (1000-character payload)
        _audit(settings, who, change, f"role_{change.verb}_failed", f"not applied: {exc}")
        raise RoleError(
            f"the claim of {uid} did not change ({exc}); the audit log records the failure"
        ) from exc
    done = f"granted role {role} to {uid}" if change.grant else f"revoked role {role} from {uid}"
    lines = [f"{done} (audit log: chain admin:{who}, source role:{role}:{uid})"]
    try:
        users.revoke_refresh_tokens(uid)
    except FirebaseError as exc:
        raise RoleError(
            f"{done}, but revoking the refresh tokens of {uid} failed ({exc}): the change reaches "
            "their ID tokens only when those expire (within an hour)"
        ) from exc
    lines.append(
        f"refresh tokens of {uid} revoked: their current tokens stop working and the next sign-in "
        f"carries the change"
        + (" (admin routes also need that sign-in to use the second factor)" if change.grant else "")
    )
    return lines


def _audit(settings: Settings, who: str, change: RoleChange, kind: str, reason: str) -> None:
    asyncio.run(_append(settings, who, change, kind, reason))


async def _append(settings: Settings, who: str, change: RoleChange, kind: str, reason: str) -> None:
    """One entry in the actor's admin chain, through the grant service (the audit log's one writer)."""
    from app.composition import Parts
    from app.domain.audit import AuditRecord

    record = AuditRecord(
        kind=kind, source="admin", source_id=f"role:{change.role}:{change.uid}", reason=reason
    )
    async with Parts(settings) as parts:
        await parts.load_keys()

        async def nothing_else(_transaction: Any) -> None:
            return None  # the claim is changed after the entry has committed

        await parts.admin_audit.admin_action(who, nothing_else, lambda _: record)
