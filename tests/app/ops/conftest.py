"""``pog admin`` against the Firebase Auth emulator and the Firestore emulator (the audit log).

The Auth emulator fixture is the one of tests/app/auth_revocation/ (installed on first use, started once per
test process for the tests that ask for it), imported as it is with its marker.
"""

from __future__ import annotations

from tests.app.auth_revocation.conftest import auth_emulator, pytest_configure

__all__ = ["auth_emulator", "pytest_configure"]
