"""Roles of Firebase Auth users: the ``role`` custom claim the API reads (app/core/auth.py ``Principal``).

The rules only (no SDK here): which roles exist, which need a second factor, what a grant or a revocation
does to the user's custom claims. ``pog admin`` (app/ops/admin_cli.py) applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The roles the API knows: ``Principal.is_admin`` opens the admin routes to ``admin``. No claim: player.
ROLES: tuple[str, ...] = ("admin",)
#: Roles that may only go to a user with a second factor enrolled (admin routes also need a sign-in with
#: it: app/api/deps.py ``admin_user``).
NEEDS_SECOND_FACTOR = frozenset({"admin"})
ROLE_CLAIM = "role"


class RoleError(Exception):
    """A refused or failed role change; the message is the one line the command prints."""


@dataclass(frozen=True, slots=True)
class RoleChange:
    """The user's custom claims before and after granting or revoking ``role`` (others kept as they are)."""

    uid: str
    role: str
    grant: bool
    before: Mapping[str, Any]
    after: Mapping[str, Any]

    @property
    def changes_anything(self) -> bool:
        return dict(self.before) != dict(self.after)

    @property
    def verb(self) -> str:
        return "grant" if self.grant else "revoke"


def plan_change(claims: Mapping[str, Any] | None, uid: str, role: str, *, grant: bool) -> RoleChange:
    """Granting sets ``role`` (a user has one role); revoking removes it only when it is ``role``."""
    before = dict(claims or {})
    after = dict(before)
    if grant:
        after[ROLE_CLAIM] = role
    elif before.get(ROLE_CLAIM) == role:
        del after[ROLE_CLAIM]
    return RoleChange(uid, role, grant, before, after)
